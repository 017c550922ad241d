import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BODY_NOT_UTF8 } from '../../lambdas/adapters/codecs/api-gateway';
import { HttpGateway } from '../../local/http-gateway';

/**
 * Requests Node's HTTP parser refuses before any route sees them: found by the hostile-input
 * suite, where a 20 KB query string got Node's bare 431 with an empty body instead of the API's
 * JSON error.
 */
let gateway: HttpGateway;
let port: number;

beforeAll(async () => {
  gateway = new HttpGateway([
    {
      method: 'GET',
      resource: '/views/{view}',
      // Echoes the parameters the handler received.
      invoke: async (event) => ({ statusCode: 200, body: JSON.stringify(event.queryStringParameters) }),
    },
    {
      method: 'POST',
      resource: '/events',
      // Echoes the body the handler received.
      invoke: async (event) => ({ statusCode: 200, body: JSON.stringify({ body: event.body }) }),
    },
  ]);
  port = await gateway.listen(0);
});
afterAll(async () => {
  await gateway.close();
});

/** Sends raw bytes and reads the whole answer (the server closes the connection). */
function raw(request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.end(request));
    let answer = '';
    socket.on('data', (chunk) => (answer += chunk.toString('utf8')));
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
  });
}

describe('HttpGateway: requests Node cannot parse', () => {
  it('answers a query string over 16 KB with 431 and a JSON error saying what to shorten', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/views/pages?page=${'x'.repeat(20_000)}`);
    expect(res.status).toBe(431);
    expect(await res.json()).toEqual({
      error: 'the request line and headers exceed 16 KB; shorten the query string',
    });
  });

  it('answers a malformed request line with 400 and a JSON error', async () => {
    const answer = await raw('GET /views/pages HTTP/1.1 extra\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { error: string };
    expect(body.error).toMatch(/^malformed HTTP request \(HPE_/);
  });
});

describe('HttpGateway: malformed %-escapes in the query string', () => {
  // Found by a black-box check: URLSearchParams keeps `%ZZ` as text and decodes bytes that are
  // not UTF-8 to U+FFFD, so `?page=%FF` was answered for the key "\uFFFD" instead of a 400.
  it.each(['%ZZ', '%', 'a%2', '%FF', '%E0%A4', '%C3'])(
    'answers ?page=%s with 400 naming the parameter',
    async (value) => {
      const res = await fetch(`http://127.0.0.1:${port}/views/pages?from=2026-01-01T00:00:00Z&page=${value}`);
      expect(res.status).toBe(400);
      const body = (await res.json()) as { error: string };
      expect(body.error).toContain(`"page=${value}"`);
      expect(body.error).toContain('malformed %-escape');
    },
  );

  it('passes well-formed escapes, + and UTF-8 through decoded once', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/views/pages?page=%C3%A9+%2B%25%F0%9F%8E%AC`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ page: 'é +%🎬' });
  });
});

describe('HttpGateway: bodies that are not UTF-8', () => {
  // Found by a black-box check: the body was decoded with U+FFFD for every invalid byte, so two
  // events with ids "R2-id\xE9" and "R2-id\xE8" were accepted as one id and one was lost.
  it.each([
    ['a lone Latin-1 byte', [0xe9]],
    ['an encoded surrogate', [0xed, 0xa0, 0x80]],
    ['an overlong encoding', [0xc0, 0xaf]],
    ['a truncated sequence at the end', [0xf0, 0x9f, 0x8e]],
  ])('answers a body holding %s with 400 before any handler runs', async (_, bytes) => {
    const body = Buffer.concat([Buffer.from('{"id":"R2-id'), Buffer.from(bytes), Buffer.from('"}')]);
    const res = await fetch(`http://127.0.0.1:${port}/events`, { method: 'POST', body });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: BODY_NOT_UTF8 });
  });

  it('passes UTF-8 bodies through byte for byte, a byte-order mark included', async () => {
    const text = '\uFEFF{"id":"é🎬\u0000"}';
    const res = await fetch(`http://127.0.0.1:${port}/events`, { method: 'POST', body: text });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ body: text });
  });
});
