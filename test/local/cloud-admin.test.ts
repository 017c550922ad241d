import type { KinesisStreamEvent } from 'aws-lambda';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { transformFirehoseEvent } from '../../lambdas/adapters/codecs/firehose-transform';
import { decodeKinesisEvent } from '../../lambdas/adapters/codecs/kinesis-event';
import { validateViews } from '../../lambdas/core/view';
import { processSpeedBatch } from '../../lambdas/services/speed-layer';
import {
  redriveFailedBatch,
  reingestFirehoseErrors,
  type KinesisHandler,
  type ObjectStore,
} from '../../local/cloud-admin';
import {
  firehoseTransformationEvent,
  kinesisStreamEvent,
  sequenceNumber,
} from '../fixtures/events/factories';
import { InMemorySpeedRowStore } from '../services/in-memory-stores';

const views = validateViews([
  {
    name: 'clicks',
    eventType: 'click',
    key: ['page'],
    granularity: '1h',
    measures: { n: { kind: 'count' }, amount: { kind: 'sum', field: 'amount' } },
  },
]);
const ARRIVED = Date.UTC(2026, 11, 1, 14, 59, 59, 500);
const click = (id: string | undefined, amount = 1) => ({
  ...(id ? { id } : {}),
  type: 'click',
  time: '2026-12-01T14:00:00Z',
  page: '/home',
  amount,
  ingestedAt: '2026-12-01T14:59:59.500Z',
});

class MemoryStore implements ObjectStore {
  readonly objects = new Map<string, Buffer>();
  readonly deleted: string[] = [];
  list(bucket: string, prefix: string) {
    return Promise.resolve(
      [...this.objects.keys()]
        .filter((k) => k.startsWith(`${bucket}/${prefix}`))
        .map((k) => k.slice(bucket.length + 1))
        .sort(),
    );
  }
  get(bucket: string, key: string) {
    const body = this.objects.get(`${bucket}/${key}`);
    if (!body) return Promise.reject(new Error(`NoSuchKey ${key}`));
    return Promise.resolve(body);
  }
  put(bucket: string, key: string, body: string) {
    this.objects.set(`${bucket}/${key}`, Buffer.from(body));
    return Promise.resolve();
  }
  delete(bucket: string, key: string) {
    this.objects.delete(`${bucket}/${key}`);
    this.deleted.push(key);
    return Promise.resolve();
  }
}

/** One line of a Firehose processing-failed object, as Firehose writes it. */
const errorLine = (body: unknown, arrivalTimestamp = ARRIVED) =>
  JSON.stringify({
    attemptsMade: 11,
    arrivalTimestamp,
    errorCode: 'Lambda.FunctionError',
    errorMessage: 'The Lambda function was throttled',
    attemptEndingTimestamp: arrivalTimestamp + 300_000,
    rawData: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)).toString('base64'),
    lambdaArn: 'arn:aws:lambda:eu-west-1:123456789012:function:transform:$LATEST',
  });

describe('npm run reingest: Firehose processing-failed records back into the archive', () => {
  const ERR_KEY = 'errors/processing-failed/dt=2026-12-01/part-1';

  it('writes the very archive lines the transform would have written (same fields, event and arrival time)', async () => {
    // GIVEN an error object with two events Firehose skipped after its retries, and one poison record
    const store = new MemoryStore();
    const text = [errorLine(click('e-1', 5)), errorLine(click('e-2', 7)), errorLine('not json')].join('\n');
    await store.put('archive', ERR_KEY, text);
    // WHEN re-ingested
    const summary = await reingestFirehoseErrors(store, { bucket: 'archive' });
    // THEN the two events are in the archive partition of their arrival hour, the poison one is reported
    expect(summary.reingested).toBe(2);
    expect(summary.poison).toEqual([
      { key: ERR_KEY, line: 3, error: expect.stringContaining('is not JSON') },
    ]);
    expect(summary.written).toHaveLength(1);
    expect(summary.written[0]).toMatch(/^events\/dt=2026-12-01\/hour=14\/reingested-[0-9a-f]{16}\.ndjson$/);
    const lines = (await store.get('archive', summary.written[0]))
      .toString()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    // the transform's own line for the same records, minus the stream position Firehose did not keep
    const transformed = transformFirehoseEvent(
      firehoseTransformationEvent([
        { body: click('e-1', 5), arrivedMs: ARRIVED },
        { body: click('e-2', 7), arrivedMs: ARRIVED },
      ]),
    ).records.map(
      (r) => JSON.parse(Buffer.from(r.data ?? '', 'base64').toString()) as Record<string, unknown>,
    );
    const withoutPosition = ({ _shard, _seq, _pk, ...rest }: Record<string, unknown>) => {
      void _shard;
      void _seq;
      void _pk;
      return rest;
    };
    expect(lines.map(withoutPosition)).toEqual(transformed.map(withoutPosition));
    expect(lines[0]._am).toBe(ARRIVED);
    expect(lines[0]._shard).toMatch(/^reingested-/);
  });

  it('is idempotent (same keys, same lines), reads gzipped error objects, and deletes sources only when asked', async () => {
    const store = new MemoryStore();
    await store.put('archive', ERR_KEY, '');
    store.objects.set(`archive/${ERR_KEY}`, gzipSync(errorLine(click(undefined, 3))));
    const first = await reingestFirehoseErrors(store, { bucket: 'archive' });
    const firstBody = (await store.get('archive', first.written[0])).toString();
    const second = await reingestFirehoseErrors(store, { bucket: 'archive', deleteSources: true });
    expect(second.written).toEqual(first.written);
    expect((await store.get('archive', second.written[0])).toString()).toBe(firstBody);
    // an event from another producer (no id): a deterministic id, since Firehose kept no sequence number
    expect((JSON.parse(firstBody) as { id: string }).id).toMatch(/^reingested-[0-9a-f]{16}:1$/);
    expect(store.deleted).toEqual([ERR_KEY]);
    expect(await store.list('archive', 'errors/')).toEqual([]);
  });
});

describe('npm run redrive: a failed batch object of the S3 on-failure destination, through the same service', () => {
  const records = (): KinesisStreamEvent =>
    kinesisStreamEvent([
      { body: click('r-1', 2), sequenceNumber: sequenceNumber(1), arrivedMs: ARRIVED },
      { body: click('r-2', 3), sequenceNumber: sequenceNumber(2), arrivedMs: ARRIVED },
    ]);
  /** The speed handler's shape over the speed service and an in-memory row store. */
  const speedHandler =
    (rows: InMemorySpeedRowStore): KinesisHandler =>
    async (event) => {
      const result = await processSpeedBatch(decodeKinesisEvent(event), {
        views,
        rows,
        fenceBy: 'shard',
        arrivalBucketMs: 60_000,
        maxWriteAttempts: 1,
      });
      return {
        batchItemFailures: result.failedFrom === undefined ? [] : [{ itemIdentifier: result.failedFrom }],
      };
    };
  const onFailureObject = (payload: unknown) =>
    JSON.stringify({
      version: '1.0',
      timestamp: '2026-12-01T15:00:00.000Z',
      requestContext: {
        requestId: 'c9b8fa9f-5a7f-4d4e-9d2f-3e0f1b0e2a11',
        functionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:speed',
        condition: 'RetryAttemptsExhausted',
        approximateInvokeCount: 11,
      },
      responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
      KinesisBatchInfo: {
        shardId: 'shardId-000000000000',
        startSequenceNumber: sequenceNumber(1),
        endSequenceNumber: sequenceNumber(2),
        batchSize: 2,
        streamArn: 'arn:aws:kinesis:eu-west-1:123456789012:stream/s',
      },
      payload,
    });

  it('re-applies the records once the cause is fixed, and a repeat changes nothing (fenced)', async () => {
    // GIVEN a batch the speed layer could not write (every write throws: throttling, AccessDenied)
    const rows = new InMemorySpeedRowStore(views);
    rows.failWritesWhere(() => true);
    const failed = await speedHandler(rows)(records(), {} as never);
    expect(failed.batchItemFailures).toHaveLength(1);
    // ... which Lambda wrote to the on-failure bucket, records included (payload as a JSON string)
    const store = new MemoryStore();
    await store.put(
      'dlq',
      'aws/lambda/esm/shardId-000000000000/2026/12/01/x',
      onFailureObject(JSON.stringify(records())),
    );
    // WHEN the cause is fixed and the object redriven
    rows.failWritesWhere(undefined);
    const result = await redriveFailedBatch(
      store,
      'dlq',
      'aws/lambda/esm/shardId-000000000000/2026/12/01/x',
      speedHandler(rows),
    );
    // THEN both records are applied
    expect(result).toEqual({ records: 2, failedFrom: undefined });
    const written = rows.writes.filter((w) => w.outcome === 'written');
    expect(written).toHaveLength(1);
    // and a second redrive is a no-op: the row's fence already holds these sequence numbers
    await redriveFailedBatch(
      store,
      'dlq',
      'aws/lambda/esm/shardId-000000000000/2026/12/01/x',
      speedHandler(rows),
    );
    expect(rows.writes.filter((w) => w.outcome === 'written')).toHaveLength(1);
  });

  it('reads the payload as an object too, and says what is missing from a metadata-only record', async () => {
    const store = new MemoryStore();
    await store.put('dlq', 'a', onFailureObject(records()));
    const rows = new InMemorySpeedRowStore(views);
    expect(await redriveFailedBatch(store, 'dlq', 'a', speedHandler(rows))).toEqual({
      records: 2,
      failedFrom: undefined,
    });
    await store.put('dlq', 'b', onFailureObject(undefined));
    await expect(redriveFailedBatch(store, 'dlq', 'b', speedHandler(rows))).rejects.toThrow(
      /holds no records \(payload.Records is missing\): shard shardId-000000000000/,
    );
  });
});
