/**
 * The AWS SDK's own CPU per DynamoDB request: the speed handler's row write (an UpdateItem of a
 * 1 KB row) sent through a transport that answers at once, so nothing but the SDK (middleware,
 * serialization, signing, parsing the answer) is timed. Three clients, rounds interleaved:
 * - the document client as the SDK builds it by default (what every handler used before),
 * - the document client of makeDynamoDocumentClient (one signer for all requests),
 * - the item client of makeDynamoDbItemClient (plain commands, middleware resolved once per
 *   command type, one signer): what the speed handler writes and reads its rows with.
 * Run: npx tsx bench/sdk-request-cpu.ts [requests=20000] [rounds=3]
 */
import { DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { overrides, type AwsEndpoints } from '../lambdas/runtime/clients/endpoints';
import { makeDynamoDbItemClient, makeDynamoDocumentClient } from '../lambdas/runtime/clients/dynamodb';
import { instantTransport } from './instant-transport';

const ENDPOINTS: AwsEndpoints = { region: 'us-east-1', dynamodb: 'http://127.0.0.1:9', s3Flavor: 'aws' };

function withInstantTransport<C extends { config: object }>(client: C): C {
  // `{}`: what DynamoDB answers an UpdateItem.
  (client.config as { requestHandler: unknown }).requestHandler = instantTransport();
  return client;
}

// A speed row's size on the bench's clickstream: the measure states of a popular page's minute.
const STATE = JSON.stringify({ n: 412, total: '2071.5', top: 996, users: 'x'.repeat(900) });
const FENCES = JSON.stringify({
  'shardId-000000000000': '0'.repeat(73) + '49600000000000000000000000000000000000000000000000001',
});
const EXPRESSION = 'SET m = :m, f = :f, rev = :rev, b = :b, a = :a, d = if_not_exists(d, :d)';

type Send = (i: number) => Promise<unknown>;

function documentWrite(client: DynamoDBDocumentClient): Send {
  return (i) =>
    client.send(
      new UpdateCommand({
        TableName: 'speed',
        Key: { pk: `page_views#["/p${i % 1000}"]`, sk: '001764000000000#001764000060000' },
        UpdateExpression: EXPRESSION,
        ConditionExpression: 'rev = :expected',
        ExpressionAttributeValues: {
          ':m': STATE,
          ':f': FENCES,
          ':rev': i + 1,
          ':b': 1764000000000,
          ':a': 1764000060000,
          ':d': 'f1d2',
          ':expected': i,
        },
      }),
    );
}

function itemWrite(client: DynamoDBClient): Send {
  return (i) =>
    client.send(
      new UpdateItemCommand({
        TableName: 'speed',
        Key: { pk: { S: `page_views#["/p${i % 1000}"]` }, sk: { S: '001764000000000#001764000060000' } },
        UpdateExpression: EXPRESSION,
        ConditionExpression: 'rev = :expected',
        ExpressionAttributeValues: {
          ':m': { S: STATE },
          ':f': { S: FENCES },
          ':rev': { N: String(i + 1) },
          ':b': { N: '1764000000000' },
          ':a': { N: '1764000060000' },
          ':d': { S: 'f1d2' },
          ':expected': { N: String(i) },
        },
      }),
    );
}

export interface SdkRequestCpu {
  readonly requests: number;
  /** CPU µs per request, median over the rounds. */
  readonly documentClientDefaultUs: number;
  readonly documentClientUs: number;
  readonly itemClientUs: number;
}

/** CPU per request (user + system, every thread) of `requests` row writes, 16 in flight, per client. */
export async function measureSdkRequestCpu(requests = 20_000, rounds = 3): Promise<SdkRequestCpu> {
  const variants: Record<keyof Omit<SdkRequestCpu, 'requests'>, Send> = {
    documentClientDefaultUs: documentWrite(
      DynamoDBDocumentClient.from(
        withInstantTransport(new DynamoDBClient(overrides(ENDPOINTS.dynamodb, ENDPOINTS))),
        {
          marshallOptions: { removeUndefinedValues: true },
        },
      ),
    ),
    documentClientUs: documentWrite(withInstantTransport(makeDynamoDocumentClient(ENDPOINTS))),
    itemClientUs: itemWrite(withInstantTransport(makeDynamoDbItemClient(ENDPOINTS))),
  };
  const samples = new Map<string, number[]>();
  // A warm-up round first (the JIT, the clients' lazy configuration), not counted.
  for (let round = -1; round < rounds; round++) {
    for (const [name, send] of Object.entries(variants)) {
      const count = round < 0 ? 2_000 : requests;
      let next = 0;
      const before = process.cpuUsage();
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (next < count) await send(next++);
        }),
      );
      const used = process.cpuUsage(before);
      if (round >= 0) samples.set(name, [...(samples.get(name) ?? []), (used.user + used.system) / count]);
    }
  }
  const median = (name: string) => {
    const sorted = [...samples.get(name)!].sort((a, b) => a - b);
    return Math.round(sorted[sorted.length >> 1]);
  };
  return {
    requests,
    documentClientDefaultUs: median('documentClientDefaultUs'),
    documentClientUs: median('documentClientUs'),
    itemClientUs: median('itemClientUs'),
  };
}

if (require.main === module) {
  const requests = Number(process.argv[2] ?? 20_000);
  const rounds = Number(process.argv[3] ?? 3);
  void measureSdkRequestCpu(requests, rounds).then((f) => console.log(JSON.stringify(f)));
}
