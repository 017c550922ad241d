import { isUtf8 } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { BODY_NOT_UTF8 } from '../lambdas/adapters/codecs/api-gateway';

/** API Gateway's own payload limit; the ingest handler enforces the smaller configured one. */
const API_GATEWAY_MAX_BODY = 10 * 1024 * 1024;

export interface Route {
  readonly method: string;
  /** `/views/{view}` style; one path parameter per `{name}` segment. */
  readonly resource: string;
  readonly invoke: (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>;
}

function match(resource: string, pathname: string): Record<string, string> | undefined {
  const want = resource.split('/');
  const got = pathname.split('/');
  if (want.length !== got.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const segment = want[i];
    if (segment.startsWith('{') && segment.endsWith('}')) {
      if (got[i] === '') return undefined;
      params[segment.slice(1, -1)] = got[i];
    } else if (segment !== got[i]) return undefined;
  }
  return params;
}

/** The first `name=value` pair of a query string that does not decode as UTF-8 percent-escapes. */
export function malformedQueryEscape(search: string): string | undefined {
  for (const pair of search.replace(/^\?/, '').split('&')) {
    try {
      decodeURIComponent(pair.replace(/\+/g, ' '));
    } catch {
      return pair.length > 100 ? `${pair.slice(0, 100)}...` : pair;
    }
  }
  return undefined;
}

/**
 * The local API Gateway: turns HTTP requests into REST API proxy events for the very handlers
 * that are deployed, and their results back into HTTP responses.
 */
export class HttpGateway {
  private server?: http.Server;

  constructor(private readonly routes: readonly Route[]) {}

  async listen(port: number, host = '127.0.0.1'): Promise<number> {
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((error: Error) => {
        if (!res.headersSent) {
          res.writeHead(502, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: `handler failed: ${error.message}` }));
        }
      });
    });
    // Node answers a request it cannot parse (request line and headers over 16 KB, a malformed
    // request line) itself, with an empty body: answer in the API's shape, saying what was wrong.
    this.server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
      if (!socket.writable) {
        socket.destroy();
        return;
      }
      const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
      const body = JSON.stringify({
        error: tooLarge
          ? 'the request line and headers exceed 16 KB; shorten the query string'
          : `malformed HTTP request (${error.code ?? error.message})`,
      });
      socket.end(
        `HTTP/1.1 ${tooLarge ? '431 Request Header Fields Too Large' : '400 Bad Request'}\r\n` +
          `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, host, () => resolve());
    });
    return (this.server.address() as AddressInfo).port;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const pathname = url.pathname.replace(/\/+$/, '') || '/';
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > API_GATEWAY_MAX_BODY) {
        res.writeHead(413, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: `request body exceeds ${API_GATEWAY_MAX_BODY} bytes` }));
        req.destroy();
        return;
      }
      chunks.push(chunk as Buffer);
    }
    const candidates = this.routes.filter((r) => match(r.resource, pathname) !== undefined);
    const route = candidates.find((r) => r.method === req.method);
    if (!route) {
      const status = candidates.length > 0 ? 405 : 404;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          error:
            status === 405
              ? `${req.method} is not allowed on ${pathname}`
              : `no route for ${req.method} ${pathname}`,
          routes: this.routes.map((r) => `${r.method} ${r.resource}`),
        }),
      );
      return;
    }
    // URLSearchParams keeps a malformed escape as text and turns bytes that are not UTF-8 into
    // U+FFFD, so `?page=%FF` would ask for the key "\uFFFD": refuse it, as README says.
    const malformed = malformedQueryEscape(url.search);
    if (malformed !== undefined) {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          error: `query parameter ${JSON.stringify(malformed)} holds a malformed %-escape (a % must start %XX, and the bytes must be UTF-8); send % as %25`,
        }),
      );
      return;
    }
    // No prototype: parameters named toString, constructor or __proto__ are plain names.
    const single = Object.create(null) as Record<string, string>;
    const multi = Object.create(null) as Record<string, string[]>;
    for (const [name, value] of url.searchParams) {
      single[name] ??= value;
      (multi[name] ??= []).push(value);
    }
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers))
      if (typeof value === 'string') headers[name] = value;
    const rawPath = match(route.resource, pathname)!;
    // Decoded once, as API Gateway does; a malformed escape is the client's error.
    const pathParameters: Record<string, string> = Object.create(null) as Record<string, string>;
    for (const [name, value] of Object.entries(rawPath)) {
      try {
        pathParameters[name] = decodeURIComponent(value);
      } catch {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({ error: `path segment ${JSON.stringify(value)} holds a malformed %-escape` }),
        );
        return;
      }
    }
    const bytes = Buffer.concat(chunks);
    // API Gateway hands a non-binary body to the function as text; Buffer's decoding would turn
    // bytes that are not UTF-8 into U+FFFD and merge distinct ids and keys: refuse them, as the
    // handlers refuse a base64 body that is not UTF-8.
    if (!isUtf8(bytes)) {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: BODY_NOT_UTF8 }));
      return;
    }
    const requestId = randomUUID();
    const event = {
      resource: route.resource,
      path: pathname,
      httpMethod: route.method,
      headers,
      multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])),
      queryStringParameters: Object.keys(single).length > 0 ? single : null,
      multiValueQueryStringParameters: Object.keys(multi).length > 0 ? multi : null,
      pathParameters: Object.keys(pathParameters).length > 0 ? pathParameters : null,
      stageVariables: null,
      body: chunks.length > 0 ? bytes.toString('utf8') : null,
      isBase64Encoded: false,
      requestContext: {
        accountId: '000000000000',
        apiId: 'local',
        httpMethod: route.method,
        path: `/local${pathname}`,
        stage: 'local',
        requestId,
        requestTimeEpoch: Date.now(),
        resourceId: 'local',
        resourcePath: route.resource,
        protocol: 'HTTP/1.1',
        identity: {
          sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
          userAgent: req.headers['user-agent'] ?? null,
        },
        authorizer: null,
      },
    } as unknown as APIGatewayProxyEvent; // the identity fields AWS fills are irrelevant locally
    const result = await route.invoke(event);
    res.writeHead(result.statusCode, {
      ...(result.headers as Record<string, string> | undefined),
      'x-amzn-requestid': requestId,
    });
    res.end(result.isBase64Encoded ? Buffer.from(result.body, 'base64') : result.body);
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
