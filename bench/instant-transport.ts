import { Readable } from 'node:stream';

/**
 * A request handler that answers every DynamoDB request at once with `body` (JSON), so a
 * benchmark times nothing but the SDK's own work per request: middleware, serialization, signing
 * and parsing the answer.
 */
export function instantTransport(body = '{}') {
  return {
    handle: async () => ({
      response: {
        statusCode: 200,
        reason: 'OK',
        headers: { 'content-type': 'application/x-amz-json-1.0' },
        body: Readable.from([Buffer.from(body)]),
      },
    }),
  };
}
