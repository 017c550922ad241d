import { CreateStreamCommand, PutRecordsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeKinesisClient } from '../../lambdas/runtime/clients';
import { DeadLetterQueue } from '../../local/dead-letter-queue';
import { startEmulators, type Emulators } from '../../local/emulators';
import { EventSourcePoller } from '../../local/event-source-poller';

/** The local event source against kinesalite: Lambda's ESM semantics, which the emulators lack. */
let emulators: Emulators;
let kinesis: KinesisClient;
const dir = mkdtempSync(path.join(tmpdir(), 'streamfold-poller-'));
let streamNo = 0;

beforeAll(async () => {
  emulators = await startEmulators();
  kinesis = makeKinesisClient(emulators.endpoints);
});
afterAll(async () => {
  await emulators.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function stream(records: string[]): Promise<string> {
  const name = `s${streamNo++}`;
  await kinesis.send(new CreateStreamCommand({ StreamName: name, ShardCount: 1 }));
  await new Promise((r) => setTimeout(r, 100));
  await kinesis.send(
    new PutRecordsCommand({
      StreamName: name,
      Records: records.map((d) => ({ Data: Buffer.from(d), PartitionKey: 'k' })),
    }),
  );
  return name;
}

const data = (event: KinesisStreamEvent) =>
  event.Records.map((r) => Buffer.from(r.kinesis.data, 'base64').toString());

describe('EventSourcePoller', () => {
  it('isolates a poison record by bisection, dead-letters it with its data, and processes every other record once', async () => {
    const records = Array.from({ length: 20 }, (_, i) => (i === 13 ? 'poison' : `r${i}`));
    const name = await stream(records);
    const processed = new Map<string, number>();
    const dlq = new DeadLetterQueue();
    const poller = new EventSourcePoller({
      client: kinesis,
      streamName: name,
      batchSize: 8,
      maximumBatchingWindowMs: 10,
      maximumRetryAttempts: 2,
      onFailure: dlq,
      handler: async (event) => {
        if (data(event).includes('poison')) throw new Error('cannot parse');
        for (const d of data(event)) processed.set(d, (processed.get(d) ?? 0) + 1);
      },
    });
    poller.start();
    await poller.idle();
    await poller.stop();
    expect([...processed.keys()].sort()).toEqual(records.filter((r) => r !== 'poison').sort());
    expect([...processed.values()].every((n) => n === 1)).toBe(true);
    const entries = await dlq.list();
    expect(entries).toHaveLength(1);
    expect(entries[0].requestContext.condition).toBe('RetryAttemptsExhausted');
    expect(entries[0].KinesisBatchInfo.batchSize).toBe(1);
    expect(data({ Records: [...entries[0].records] })).toEqual(['poison']);
  });

  it('retries from the lowest reported failure, in order', async () => {
    const name = await stream(['a', 'b', 'c', 'd']);
    const seen: string[] = [];
    let failOnce = true;
    const poller = new EventSourcePoller({
      client: kinesis,
      streamName: name,
      batchSize: 10,
      maximumBatchingWindowMs: 200,
      bisectBatchOnFunctionError: false,
      handler: async (event): Promise<KinesisStreamBatchResponse> => {
        seen.push(...data(event));
        if (failOnce) {
          failOnce = false;
          return {
            batchItemFailures: [
              { itemIdentifier: event.Records[2].kinesis.sequenceNumber },
              { itemIdentifier: event.Records[3].kinesis.sequenceNumber },
            ],
          };
        }
        return { batchItemFailures: [] };
      },
    });
    poller.start();
    await poller.idle();
    await poller.stop();
    expect(seen).toEqual(['a', 'b', 'c', 'd', 'c', 'd']);
  });

  it('dead-letters records older than maximumRecordAge without invoking', async () => {
    const name = await stream(['old']);
    await new Promise((r) => setTimeout(r, 1_100));
    let invoked = 0;
    const dlq = new DeadLetterQueue();
    const poller = new EventSourcePoller({
      client: kinesis,
      streamName: name,
      maximumRecordAgeMs: 1000,
      onFailure: dlq,
      handler: async () => void invoked++,
    });
    poller.start();
    await poller.idle();
    await poller.stop();
    expect(invoked).toBe(0);
    expect((await dlq.list())[0].requestContext.condition).toBe('RecordAgeExceeded');
  });

  it('resumes after its checkpoint on restart: nothing handled twice', async () => {
    const name = await stream(['x1', 'x2', 'x3']);
    const checkpointFile = path.join(dir, `${name}.json`);
    const seen: string[] = [];
    const make = () =>
      new EventSourcePoller({
        client: kinesis,
        streamName: name,
        checkpointFile,
        maximumBatchingWindowMs: 10,
        handler: async (e) => void seen.push(...data(e)),
      });
    const first = make();
    first.start();
    await first.idle();
    await first.stop();
    await kinesis.send(
      new PutRecordsCommand({ StreamName: name, Records: [{ Data: Buffer.from('x4'), PartitionKey: 'k' }] }),
    );
    const second = make();
    second.start();
    await second.idle();
    await second.stop();
    expect(seen).toEqual(['x1', 'x2', 'x3', 'x4']);
  });

  it('redrives dead-lettered records to the handler and empties the queue', async () => {
    const dlq = new DeadLetterQueue({ file: path.join(dir, 'dlq.json') });
    const name = await stream(['bad']);
    let healthy = false;
    const handled: string[] = [];
    const handler = async (event: KinesisStreamEvent) => {
      if (!healthy) throw new Error('down');
      handled.push(...data(event));
    };
    const poller = new EventSourcePoller({
      client: kinesis,
      streamName: name,
      maximumRetryAttempts: 0,
      onFailure: dlq,
      handler,
    });
    poller.start();
    await poller.idle();
    await poller.stop();
    expect(await dlq.depth()).toBe(1);
    healthy = true;
    expect(await new DeadLetterQueue({ file: path.join(dir, 'dlq.json') }).redrive(handler)).toMatchObject({
      redriven: 1,
      remaining: 0,
    });
    expect(handled).toEqual(['bad']);
  });
});

describe('TtlSweeper', () => {
  it('deletes expired items only, as DynamoDB TTL would', async () => {
    const { CreateTableCommand } = await import('@aws-sdk/client-dynamodb');
    const { PutCommand, ScanCommand } = await import('@aws-sdk/lib-dynamodb');
    const { makeDynamoDbClient, makeDynamoDocumentClient } = await import('../../lambdas/runtime/clients');
    const { TtlSweeper } = await import('../../local/ttl-sweeper');
    await makeDynamoDbClient(emulators.endpoints).send(
      new CreateTableCommand({
        TableName: 'claims',
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
        ],
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
      }),
    );
    const doc = makeDynamoDocumentClient(emulators.endpoints);
    await doc.send(new PutCommand({ TableName: 'claims', Item: { pk: 'old', sk: 'claim', expiresAt: 100 } }));
    await doc.send(new PutCommand({ TableName: 'claims', Item: { pk: 'new', sk: 'claim', expiresAt: 300 } }));
    expect(await new TtlSweeper(doc, 'claims').sweep(200)).toBe(1);
    expect((await doc.send(new ScanCommand({ TableName: 'claims' }))).Items?.map((i) => i.pk)).toEqual([
      'new',
    ]);
  });
});
