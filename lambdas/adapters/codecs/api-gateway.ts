import { isUtf8 } from 'node:buffer';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';

/** `json`: `body` already serialized (a 1,440-bucket answer takes about 0.4 ms to write). */
export function jsonResponse(status: number, body: unknown, json?: string): APIGatewayProxyResult {
  return {
    statusCode: status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
    body: json ?? JSON.stringify(body),
  };
}

// Buffer's own UTF-8 decoding turns every invalid byte into U+FFFD, so ids `a\xE9` and `a\xE8` would
// both arrive as "a\uFFFD" and dedupe into one event: decode strictly and refuse instead.
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The 400 answer for a base64 body (a binary media type in the cloud) whose bytes are not UTF-8,
 * or undefined. Check it before `requestBody`, which throws on such a body.
 */
export function bodyNotUtf8Answer(event: APIGatewayProxyEvent): APIGatewayProxyResult | undefined {
  if (!event.isBase64Encoded || !event.body) return undefined;
  if (isUtf8(Buffer.from(event.body, 'base64'))) return undefined;
  return jsonResponse(400, { error: BODY_NOT_UTF8 });
}

/** The error every layer gives for a body that is not UTF-8 text. */
export const BODY_NOT_UTF8 =
  'the request body is not UTF-8 text (a byte sequence in it is not valid UTF-8); send JSON encoded as UTF-8';

/** The body as text: base64 bodies decoded strictly (see `bodyNotUtf8Answer`), a missing one as ''. */
export function requestBody(event: APIGatewayProxyEvent): string {
  if (event.body === null || event.body === undefined) return '';
  return event.isBase64Encoded ? strictUtf8.decode(Buffer.from(event.body, 'base64')) : event.body;
}

/**
 * Query-string parameters (single values; API Gateway already URL-decoded them), in a map with
 * no prototype: a parameter named `constructor` or `__proto__` is just a name.
 */
export function queryParams(event: APIGatewayProxyEvent): Record<string, string | undefined> {
  const params: Record<string, string | undefined> = Object.create(null) as Record<
    string,
    string | undefined
  >;
  for (const [name, value] of Object.entries(event.queryStringParameters ?? {})) params[name] = value;
  return params;
}

/**
 * The 400 answer for query parameters given more than once, or undefined. API Gateway keeps only
 * the last value of a repeated parameter in `queryStringParameters` (all of them in
 * `multiValueQueryStringParameters`:
 * https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html#apigateway-multivalue-headers-and-parameters),
 * so `?page=/a&page=/b` would be answered for one key as if the other had not been asked.
 */
export function repeatedQueryParamsAnswer(event: APIGatewayProxyEvent): APIGatewayProxyResult | undefined {
  const repeated = Object.entries(event.multiValueQueryStringParameters ?? {}).filter(
    ([, values]) => (values?.length ?? 0) > 1,
  );
  if (repeated.length === 0) return undefined;
  return jsonResponse(400, {
    error: 'invalid query',
    problems: repeated.map(([name, values]) => ({
      field: name,
      message: `query parameter ${name} is given ${values!.length} times; give it once (one key per request)`,
    })),
  });
}

/**
 * A path parameter as text. API Gateway passes it decoded; a `%` that is left (`/views/%25`) is
 * part of the name, not an escape to decode again.
 */
export function pathParam(event: APIGatewayProxyEvent, name: string): string | undefined {
  const params = event.pathParameters;
  if (!params || !Object.prototype.hasOwnProperty.call(params, name)) return undefined;
  return params[name];
}

/** The GET routes the query function serves (Lambda and Kappa alike). */
export type QueryRoute = 'health' | 'status' | 'views' | 'view' | 'parts';

/**
 * Which query route an event is for, read from its API Gateway resource (`/views/{view}`), never
 * from its path: `/views/health` is the view named `health` (view names are `[a-z0-9_]+`), not
 * `GET /health`. The local runtime's `/kappa/...` routes (`architecture both`) end the same way.
 */
export function queryRoute(event: APIGatewayProxyEvent): QueryRoute | undefined {
  const resource = event.resource;
  if (resource.endsWith('/views/{view}/parts')) return 'parts';
  if (resource.endsWith('/views/{view}')) return 'view';
  if (resource.endsWith('/views')) return 'views';
  if (resource.endsWith('/admin/status')) return 'status';
  if (resource.endsWith('/health')) return 'health';
  return undefined;
}
