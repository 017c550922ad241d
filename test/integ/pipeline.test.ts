import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListShardsCommand,
  PutRecordCommand,
} from '@aws-sdk/client-kinesis';
import type { KinesisStreamEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateViews } from '../../lambdas/core/view';
import { makeKinesisClient } from '../../lambdas/runtime/clients';
import { type LocalPipeline } from '../../local/pipeline';
import { expectedBuckets, type OracleEvent } from './oracle';
import { runBatchOnceArchived } from './wait';
import { testPipeline } from './test-pipeline';

/**
 * The whole pipeline through HTTP and the real SDK clients against the emulators: ingest,
 * speed layer, archive, batch (DuckDB), merged serving. No AWS client is mocked.
 */
const views = validateViews([
  {
    name: 'orders',
    eventType: 'order.placed',
    key: ['shop'],
    granularity: '1m',
    measures: {
      orders: { kind: 'count' },
      revenue: { kind: 'sum', field: 'amount' },
      biggest: { kind: 'max', field: 'amount' },
      smallest: { kind: 'min', field: 'amount' },
      avgAmount: { kind: 'avg', field: 'amount' },
      buyers: { kind: 'distinct', field: 'customer' },
    },
  },
]);

let pipeline: LocalPipeline;
const ARRIVAL_BUCKET_MS = 1000;
const BASE = Date.UTC(2026, 10, 24, 9, 0, 0);

/** Order `i` of `shop`: each test uses its own shops, so ids and served keys never meet another test's. */
function order(i: number, shop: string): OracleEvent {
  return {
    id: `order-${shop}-${i}`,
    type: 'order.placed',
    // Some events are late (an hour before the others) and some sit exactly on a bucket edge.
    time: new Date(
      BASE + (i % 7 === 0 ? -3_600_000 : 0) + (i % 5 === 0 ? Math.floor(i / 5) * 60_000 : i * 7_919),
    ).toISOString(),
    shop,
    amount: ((i * 37) % 10_000) / 100,
    customer: `c${i % 13}`,
  };
}

async function post(path: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${pipeline.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function get(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${pipeline.url}${path}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

interface ServedBucket {
  start: string;
  measures: {
    orders: number;
    revenue: number;
    biggest: number | null;
    smallest: number | null;
    avgAmount: number | null;
    buyers: number;
  };
}

async function served(shop: string): Promise<{ cutoff: string | null; buckets: ServedBucket[] }> {
  const from = new Date(BASE - 2 * 3_600_000).toISOString();
  const to = new Date(BASE + 6 * 3_600_000).toISOString();
  const res = await get(`/views/orders?shop=${encodeURIComponent(shop)}&from=${from}&to=${to}`);
  expect(res.status).toBe(200);
  return res.body as unknown as { cutoff: string | null; buckets: ServedBucket[] };
}

/** Served values equal the oracle's over `accepted`: exact measures exactly; distinct exactly when `distinctExact`, else within bound. */
async function expectServedEqualsOracle(
  accepted: readonly OracleEvent[],
  shop: string,
  distinctExact: boolean,
): Promise<void> {
  const expected = expectedBuckets(accepted, {
    type: 'order.placed',
    keyField: 'shop',
    key: shop,
    granularity: '1m',
    numberField: 'amount',
    distinctField: 'customer',
  });
  const { buckets } = await served(shop);
  expect(buckets.map((b) => b.start)).toEqual([...expected.keys()].sort());
  for (const bucket of buckets) {
    const e = expected.get(bucket.start)!;
    expect(bucket.measures.orders, `${shop} ${bucket.start} orders`).toBe(e.count);
    expect(Math.round(bucket.measures.revenue * 100), `${shop} ${bucket.start} revenue`).toBe(e.sumCents);
    expect(bucket.measures.biggest).toBe(e.max);
    expect(bucket.measures.smallest).toBe(e.min);
    expect(bucket.measures.avgAmount).toBeCloseTo(e.sumCents / 100 / e.values, 9);
    if (distinctExact) expect(bucket.measures.buyers, `${shop} ${bucket.start} buyers`).toBe(e.distinct.size);
    else expect(Math.abs(bucket.measures.buyers - e.distinct.size)).toBeLessThanOrEqual(2);
  }
}

/** Posts `events` in requests of 40, each acknowledged whole. */
async function ingest(events: readonly OracleEvent[]): Promise<void> {
  for (let i = 0; i < events.length; i += 40) {
    const res = await post('/events', { events: events.slice(i, i + 40) });
    expect(res.status).toBe(202);
    expect(res.body.accepted).toBe(Math.min(40, events.length - i));
  }
}

async function readWholeStream(): Promise<KinesisStreamEvent['Records']> {
  const kinesis = makeKinesisClient(pipeline.endpoints!);
  const { Shards } = await kinesis.send(new ListShardsCommand({ StreamName: pipeline.names.stream }));
  const records: KinesisStreamEvent['Records'] = [];
  for (const shard of Shards ?? []) {
    const { ShardIterator } = await kinesis.send(
      new GetShardIteratorCommand({
        StreamName: pipeline.names.stream,
        ShardId: shard.ShardId!,
        ShardIteratorType: 'TRIM_HORIZON',
      }),
    );
    const page = await kinesis.send(new GetRecordsCommand({ ShardIterator, Limit: 10_000 }));
    for (const r of page.Records ?? []) {
      records.push({
        kinesis: {
          kinesisSchemaVersion: '1.0',
          partitionKey: r.PartitionKey!,
          sequenceNumber: r.SequenceNumber!,
          data: Buffer.from(r.Data!).toString('base64'),
          approximateArrivalTimestamp: r.ApproximateArrivalTimestamp!.getTime() / 1000,
        },
        eventSource: 'aws:kinesis',
        eventVersion: '1.0',
        eventID: `${shard.ShardId}:${r.SequenceNumber}`,
        eventName: 'aws:kinesis:record',
        invokeIdentityArn: 'arn:aws:iam::000000000000:role/local',
        awsRegion: 'us-east-1',
        eventSourceARN: `arn:aws:kinesis:us-east-1:000000000000:stream/${pipeline.names.stream}`,
      });
    }
  }
  return records;
}

beforeAll(async () => {
  pipeline = testPipeline(views, {
    arrivalBucketMs: ARRIVAL_BUCKET_MS,
    speedBatchSize: 50,
    speedRetryAttempts: 2,
    // With AWS_ENDPOINT_URL set (LocalStack), the same suite runs against it; unique names per run.
    endpoint: process.env.AWS_ENDPOINT_URL || undefined,
    resourcePrefix: process.env.AWS_ENDPOINT_URL ? `streamfold-it-${Date.now()}` : undefined,
  });
  await pipeline.start();
}, 60_000);

afterAll(async () => {
  await pipeline?.stop();
});

describe('the local Lambda architecture end to end', () => {
  it('serves speed-layer values equal to an independent computation', async () => {
    const events = Array.from({ length: 120 }, (_, i) => order(i, i % 3 === 0 ? 'berlin' : 'paris'));
    const postedFrom = Date.now();
    await ingest(events);
    // A producer retry: the same events again (same ids) must not count twice.
    expect((await post('/events', { events: events.slice(0, 10) })).status).toBe(202);
    await pipeline.idle();
    // Served by the speed layer: no batch cutoff covers these arrivals.
    const { cutoff } = await served('berlin');
    expect(cutoff === null || Date.parse(cutoff) <= postedFrom, `cutoff ${cutoff}`).toBe(true);
    await expectServedEqualsOracle(events, 'berlin', false);
    await expectServedEqualsOracle(events, 'paris', false);
  });

  it('keeps the values exact across a batch run (batch ⊕ speed at the cutoff)', async () => {
    const events = Array.from({ length: 120 }, (_, i) => order(i, i % 3 === 0 ? 'hamburg' : 'lyon'));
    await ingest(events);
    const run = await runBatchOnceArchived(pipeline, ARRIVAL_BUCKET_MS);
    expect(run.version).toBeGreaterThan(0);
    const { cutoff } = await served('hamburg');
    expect(cutoff).toBe(run.cutoff);
    // Everything arrived before the cutoff: every bucket is all batch, and distinct is exact.
    await expectServedEqualsOracle(events, 'hamburg', true);
    await expectServedEqualsOracle(events, 'lyon', true);
  }, 120_000); // a batch run: DuckDB and dynalite are slow on a loaded machine

  it('adds events that arrive after the cutoff, and a second batch run changes nothing served', async () => {
    const first = Array.from({ length: 80 }, (_, i) => order(i, 'munich'));
    await ingest(first);
    await runBatchOnceArchived(pipeline, ARRIVAL_BUCKET_MS);
    const more = Array.from({ length: 40 }, (_, i) => order(1000 + i, 'munich'));
    await ingest(more);
    await pipeline.idle();
    const accepted = [...first, ...more];
    await expectServedEqualsOracle(accepted, 'munich', false);
    const run = await runBatchOnceArchived(pipeline, ARRIVAL_BUCKET_MS);
    // The batch cells of the new arrival window equal the speed rows of that window.
    const reconciliation = run.reconciliation as {
      cellsCompared: number;
      mismatchCount: number;
      error?: string;
    };
    expect(reconciliation.error).toBeUndefined();
    expect(reconciliation.cellsCompared).toBeGreaterThan(0);
    expect(reconciliation.mismatchCount).toBe(0);
    await expectServedEqualsOracle(accepted, 'munich', true);
  }, 180_000); // two batch runs

  it('does not change a served value when the event source redelivers the whole stream', async () => {
    const events = Array.from({ length: 60 }, (_, i) => order(i, 'vienna'));
    await ingest(events);
    await pipeline.idle();
    await expectServedEqualsOracle(events, 'vienna', false);
    const before = await served('vienna');
    const records = await readWholeStream();
    for (let i = 0; i < records.length; i += 25) {
      const result = await pipeline.invokeSpeed({ Records: records.slice(i, i + 25) });
      expect(result.batchItemFailures).toEqual([]);
    }
    expect(await served('vienna')).toEqual(before);
  });

  it('refuses bad input with a 4xx naming the problem and changes nothing', async () => {
    const before = await served('zurich');
    const bad = await post('/events', {
      events: [
        order(5000, 'zurich'),
        { type: 'order.placed', time: 'yesterday', shop: 'zurich' },
        { type: 'order.placed', time: BASE, amount: 'ten' },
      ],
    });
    expect(bad.status).toBe(400);
    const problems = bad.body.problems as { index: number; field: string }[];
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ index: 1, field: 'time' }),
        expect.objectContaining({ index: 2, field: 'shop' }),
        expect.objectContaining({ index: 2, field: 'amount' }),
      ]),
    );
    expect((await post('/events', '{not json')).status).toBe(400);
    expect((await post('/events', { events: [] })).status).toBe(400);
    expect((await post('/events', 'x'.repeat(1_100_000))).status).toBe(413);
    expect((await get('/views/nope?shop=x')).status).toBe(404);
    expect((await get('/views/orders')).status).toBe(400);
    expect((await get('/views/orders?shop=berlin&from=yesterday')).status).toBe(400);
    await pipeline.idle();
    expect(await served('zurich')).toEqual(before);
  });

  it('dead-letters a poison record put straight on the stream, with its payload, and keeps the shard moving', async () => {
    const kinesis = makeKinesisClient(pipeline.endpoints!);
    await kinesis.send(
      new PutRecordCommand({
        StreamName: pipeline.names.stream,
        PartitionKey: 'poison',
        Data: Buffer.from('this is not json'),
      }),
    );
    // A valid record put by another client, without id: counted like any other.
    const direct = {
      type: 'order.placed',
      time: new Date(BASE).toISOString(),
      shop: 'direct',
      amount: 1.5,
      customer: 'c1',
    };
    const put = await kinesis.send(
      new PutRecordCommand({
        StreamName: pipeline.names.stream,
        PartitionKey: 'poison',
        Data: Buffer.from(JSON.stringify(direct)),
      }),
    );
    await pipeline.idle();
    const dlq = await get('/admin/dlq');
    expect(dlq.body.depth).toBeGreaterThanOrEqual(1);
    expect(JSON.stringify(dlq.body.entries)).toContain(Buffer.from('this is not json').toString('base64'));
    await expectServedEqualsOracle(
      [{ ...direct, id: `${put.ShardId}:${put.SequenceNumber}` }],
      'direct',
      false,
    );
  });

  it('reports status with endpoints, resources, lag and the batch pointer', async () => {
    const status = await get('/admin/status');
    expect(status.status).toBe(200);
    expect(status.body.resources).toMatchObject({
      stream: pipeline.names.stream,
      bucket: pipeline.names.bucket,
    });
    expect((status.body.endpoints as Record<string, string>).kinesis).toMatch(/^https?:\/\/[\w.-]+:\d+$/);
    expect(status.body.speedRows).toEqual(expect.any(Number));
    expect(status.body).toMatchObject({
      deadLetterQueue: { depth: expect.any(Number) },
      // Lambda's once-a-second read of a caught-up shard (ADR 014), without --enhanced-fan-out.
      speed: { millisBehindLatest: expect.any(Number), readIntervalMs: 1000 },
      archive: { bytesWritten: expect.any(Number) },
    });
    expect((await get('/health')).body.status).toBe('ok');
  });
});
