import { beforeAll, describe, expect, it } from 'vitest';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { BODY_NOT_UTF8 } from '../../lambdas/adapters/codecs/api-gateway';
import { ENV } from '../../lambdas/runtime/env';
import { MAX_INGEST_BODY_BYTES } from '../../lib/stacks/shared';
import { apiGatewayPostEvents } from '../fixtures/events/factories';

type Handler = (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>;

describe('the ingest handler refuses a body over the configured limit (413) or not UTF-8 (400)', () => {
  let handler: Handler;
  beforeAll(async () => {
    // The largest limit the synth accepts, as the deployed function gets it.
    process.env[ENV.views] = JSON.stringify([
      {
        name: 'clicks',
        eventType: 'click',
        key: ['page'],
        granularity: '1h',
        measures: { n: { kind: 'count' } },
      },
    ]);
    process.env[ENV.streamName] = 'never-reached';
    process.env[ENV.maxBodyBytes] = String(MAX_INGEST_BODY_BYTES);
    process.env.AWS_REGION = 'eu-west-1';
    // Imported after the environment is set, as Lambda does.
    ({ handler } = (await import('../../lambdas/handlers/ingest')) as { handler: Handler });
  });

  const bodyOf = (bytes: number): string => {
    const head = '{"type":"click","time":"2026-12-01T14:00:00Z","page":"';
    const tail = '"}';
    return `${head}${'x'.repeat(bytes - head.length - tail.length)}${tail}`;
  };

  it('refuses limit + 1 bytes with 413, naming the size and the limit, before anything is written', async () => {
    const event = { ...apiGatewayPostEvents({}), body: bodyOf(MAX_INGEST_BODY_BYTES + 1) };
    expect(Buffer.byteLength(event.body)).toBe(MAX_INGEST_BODY_BYTES + 1);
    const result = await handler(event);
    expect(result.statusCode).toBe(413);
    expect(JSON.parse(result.body)).toEqual({
      error: `request body is ${MAX_INGEST_BODY_BYTES + 1} bytes; the limit is ${MAX_INGEST_BODY_BYTES}. Split the events over several requests.`,
    });
  });

  it('fits the whole API Gateway event of a body at the limit in one synchronous invocation (6 MB), even escaped', () => {
    // Worst case for escaping: a JSON body made of quotes and backslashes inside a string.
    const head = '{"type":"click","time":"2026-12-01T14:00:00Z","page":"';
    const body = `${head}${'\\"'.repeat((MAX_INGEST_BODY_BYTES - head.length - 2) / 2)}"}`;
    expect(Buffer.byteLength(body)).toBeLessThanOrEqual(MAX_INGEST_BODY_BYTES);
    const invocation = JSON.stringify({ ...apiGatewayPostEvents({}), body });
    // Lambda refuses a request payload above 6291556 bytes (its error message's figure for "6 MB")
    expect(Buffer.byteLength(invocation)).toBeLessThanOrEqual(6_291_556 - 10_240); // and room for 10 KB of headers
  });
  // Found by a black-box check of the local API: bytes that are not UTF-8 were decoded to U+FFFD,
  // so the ids "R2-id\xE9" and "R2-id\xE8" became one id and one event was lost.
  it.each([
    ['a lone continuation byte in an id', [0xe9]],
    ['an encoded surrogate (ED A0 80)', [0xed, 0xa0, 0x80]],
    ['an overlong slash (C0 AF)', [0xc0, 0xaf]],
  ])('refuses a base64 body holding %s with 400, before anything is written', async (_, bytes) => {
    const body = Buffer.concat([
      Buffer.from('{"type":"click","time":"2026-12-01T14:00:00Z","page":"/a","id":"R2-id'),
      Buffer.from(bytes),
      Buffer.from('"}'),
    ]);
    const event = { ...apiGatewayPostEvents({}), body: body.toString('base64'), isBase64Encoded: true };
    const result = await handler(event);
    expect(result.statusCode).toBe(400);
    expect(JSON.parse(result.body)).toEqual({ error: BODY_NOT_UTF8 });
  });
});
