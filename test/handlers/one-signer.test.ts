import { createHash, createHmac } from 'node:crypto';
import { Readable } from 'node:stream';
import { DynamoDBClient, GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { describe, expect, it } from 'vitest';
import { makeDynamoDbClient, makeKinesisClient } from '../../lambdas/runtime/clients';
import { signWithOneSigner } from '../../lambdas/runtime/clients/one-signer';

interface SentRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Record<string, string | string[] | null>;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** A transport that answers `{}` and keeps every request as it would have gone on the wire. */
function capturingHandler(sent: SentRequest[]) {
  return {
    handle: async (request: SentRequest) => {
      sent.push(request);
      return {
        response: {
          statusCode: 200,
          reason: 'OK',
          headers: { 'content-type': 'application/x-amz-json-1.1' },
          body: Readable.from([Buffer.from('{"Records":[],"FailedRecordCount":0}')]),
        },
      };
    },
  };
}

const hmac = (key: Buffer | string, text: string) => createHmac('sha256', key).update(text).digest();
const sha256Hex = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * Checks a request's SigV4 signature by the algorithm itself (AWS's "Create a signed AWS API
 * request"), not by the SDK's signer: the headers it names as signed, the body's hash, the
 * credential scope, and the HMAC chain from the secret key.
 */
function expectValidSignature(request: SentRequest, secret: string, region: string, service: string) {
  const authorization = request.headers.authorization;
  const match =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(
      authorization,
    );
  expect(match, authorization).not.toBeNull();
  const [, , date, signedRegion, signedService, signedHeaders, signature] = match!;
  expect([signedRegion, signedService]).toEqual([region, service]);
  const amzDate = request.headers['x-amz-date'];
  expect(amzDate.slice(0, 8)).toBe(date);
  // The date is the request's own, not the first request's (a kept signer must not freeze it).
  const signedAt = Date.UTC(
    Number(amzDate.slice(0, 4)),
    Number(amzDate.slice(4, 6)) - 1,
    Number(amzDate.slice(6, 8)),
    Number(amzDate.slice(9, 11)),
    Number(amzDate.slice(11, 13)),
    Number(amzDate.slice(13, 15)),
  );
  expect(Math.abs(Date.now() - signedAt)).toBeLessThan(60_000);
  const headerNames = signedHeaders.split(';');
  const canonicalHeaders = headerNames
    .map((name) => `${name}:${String(request.headers[name]).trim()}\n`)
    .join('');
  const query = Object.keys(request.query ?? {}).sort();
  expect(query).toEqual([]);
  const canonicalRequest = [
    request.method,
    request.path,
    '',
    canonicalHeaders,
    signedHeaders,
    sha256Hex(request.body ?? ''),
  ].join('\n');
  const scope = `${date}/${region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
  expect(hmac(key, stringToSign).toString('hex')).toBe(signature);
}

const endpoints = {
  region: 'eu-west-1',
  dynamodb: 'http://127.0.0.1:9',
  kinesis: 'http://127.0.0.1:9',
  s3Flavor: 'aws' as const,
};

describe('clients sign every request with one signer (signWithOneSigner)', () => {
  it("builds the signer once for all of a client's requests", async () => {
    const sent: SentRequest[] = [];
    const client = new DynamoDBClient({
      region: 'eu-west-1',
      endpoint: 'http://127.0.0.1:9',
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
      requestHandler: capturingHandler(sent),
    });
    const build = client.config.signer;
    let builds = 0;
    client.config.signer = (scheme) => {
      builds++;
      return build(scheme);
    };
    signWithOneSigner(client);
    for (let i = 0; i < 3; i++)
      await client.send(new GetItemCommand({ TableName: 'rows', Key: { pk: { S: `k${i}` } } }));
    expect(sent).toHaveLength(3);
    expect(builds).toBe(1);
  });

  it('a signer that failed to build is built again on the next request', async () => {
    const client = new DynamoDBClient({
      region: 'eu-west-1',
      endpoint: 'http://127.0.0.1:9',
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
      requestHandler: capturingHandler([]),
    });
    const build = client.config.signer;
    let failNext = true;
    client.config.signer = (scheme) => {
      if (failNext) {
        failNext = false;
        return Promise.reject(new Error('no credentials yet'));
      }
      return build(scheme);
    };
    signWithOneSigner(client);
    await expect(
      client.send(new GetItemCommand({ TableName: 'rows', Key: { pk: { S: 'a' } } })),
    ).rejects.toThrow('no credentials yet');
    await expect(
      client.send(new GetItemCommand({ TableName: 'rows', Key: { pk: { S: 'a' } } })),
    ).resolves.toBeDefined();
  });

  it('every DynamoDB request still carries a valid SigV4 signature of its own', async () => {
    const sent: SentRequest[] = [];
    const client = makeDynamoDbClient({ ...endpoints, ambientCredentials: false });
    // The factory's transport, replaced to see the requests: the signer stays the factory's.
    (client.config as { requestHandler: unknown }).requestHandler = capturingHandler(sent);
    await client.send(new GetItemCommand({ TableName: 'rows', Key: { pk: { S: 'a' } } }));
    await client.send(
      new UpdateItemCommand({
        TableName: 'rows',
        Key: { pk: { S: 'b' } },
        UpdateExpression: 'SET m = :m',
        ExpressionAttributeValues: { ':m': { S: 'é and "quotes"' } },
      }),
    );
    expect(sent).toHaveLength(2);
    expect(sent[0].body).not.toBe(sent[1].body);
    for (const request of sent) expectValidSignature(request, 'local', 'eu-west-1', 'dynamodb');
  });

  it('every Kinesis request too', async () => {
    const sent: SentRequest[] = [];
    const client = makeKinesisClient({ ...endpoints, ambientCredentials: false });
    (client.config as { requestHandler: unknown }).requestHandler = capturingHandler(sent);
    for (const data of ['one', 'two'])
      await client.send(
        new PutRecordsCommand({
          StreamName: 's',
          Records: [{ Data: Buffer.from(data), PartitionKey: data }],
        }),
      );
    expect(sent).toHaveLength(2);
    for (const request of sent) expectValidSignature(request, 'local', 'eu-west-1', 'kinesis');
  });
});
