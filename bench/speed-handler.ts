/**
 * The speed handler's whole CPU path on Kinesis-shaped clickstream records (base64 decode, JSON
 * parse, validation, event-id dedupe, pre-aggregation, fences, row encoding) with in-memory
 * stores, beside bare base64 + JSON.parse of the very same records in the same run.
 * Run: npx tsx bench/speed-handler.ts [records=200000] [batch=500]
 */
import type { KinesisStreamEvent } from 'aws-lambda';
import { decodeKinesisEvent } from '../lambdas/adapters/codecs/kinesis-event';
import { validateViews } from '../lambdas/core/view';
import { DEFAULT_DEDUPE_WINDOW_SECONDS } from '../lambdas/runtime/config';
import { ShardDedupe } from '../lambdas/services/shard-dedupe';
import { processSpeedBatch, type SpeedLayerDeps } from '../lambdas/services/speed-layer';
import { SpeedRowCache } from '../lambdas/services/speed-row-cache';
import {
  InMemoryEventClaims,
  InMemoryShardIdLog,
  InMemorySpeedRowStore,
} from '../test/services/in-memory-stores';

/**
 * The speed handler's dependencies as lambdas/handlers/speed.ts builds them at the default
 * configuration (shard-scoped dedupe, row cache), or with per-event claims (`global`), over
 * in-memory stores that encode what they store as the DynamoDB adapters do. Rows are one per
 * arrival bucket of `arrivalBucketMs` (the stacks' default, one minute).
 */
export function speedDeps(scope: 'shard' | 'global' = 'shard', arrivalBucketMs = 60_000) {
  const rows = new InMemorySpeedRowStore(CLICKSTREAM_VIEWS);
  const log = new InMemoryShardIdLog();
  const claims = new InMemoryEventClaims();
  const deps: SpeedLayerDeps = {
    views: CLICKSTREAM_VIEWS,
    rows,
    rowCache: new SpeedRowCache(),
    ...(scope === 'shard'
      ? { shardDedupe: new ShardDedupe(log, DEFAULT_DEDUPE_WINDOW_SECONDS.shard * 1000) }
      : { claims }),
    fenceBy: 'shard',
    arrivalBucketMs,
  };
  return { deps, rows, log, claims };
}

/**
 * `shards` instances of the speed layer as deployed, each with its own row cache and id index,
 * over one row table and one id log: the stream's shards, each served by a Lambda instance of its
 * own (the cost model's simulations of a multi-shard stream).
 */
export function sharedTableInstances(shards: number) {
  const { rows, log } = speedDeps();
  const instances = Array.from({ length: shards }, () => ({
    ...speedDeps().deps,
    rows,
    shardDedupe: new ShardDedupe(log, DEFAULT_DEDUPE_WINDOW_SECONDS.shard * 1000),
  }));
  return { rows, log, instances };
}

/** Which of `shards` shards delivers record `i` of a stream (i mod shards), and the record with its eventID. */
export function onShard(
  record: KinesisStreamEvent['Records'][number],
  i: number,
  shards: number,
): { shard: number; record: KinesisStreamEvent['Records'][number] } {
  const shard = i % shards;
  const shardId = `shardId-${String(shard).padStart(12, '0')}`;
  return { shard, record: { ...record, eventID: `${shardId}:${record.kinesis.sequenceNumber}` } };
}

/** The README's clickstream view. */
export const CLICKSTREAM_VIEWS = validateViews([
  {
    name: 'page_views',
    eventType: 'page.view',
    key: ['page'],
    granularity: '1m',
    measures: {
      views: { kind: 'count' },
      revenue: { kind: 'sum', field: 'amount' },
      visitors: { kind: 'distinct', field: 'userId' },
      slowest: { kind: 'max', field: 'latencyMs' },
      avgLatency: { kind: 'avg', field: 'latencyMs' },
    },
  },
]);

/** Deterministic uniform in [0, 1) from an index (murmur3's finalizer), so every run sees the same records. */
function uniform(i: number): number {
  let h = i | 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 2 ** 32;
}

/** Zipf-like skew over 1,000 pages: page k has weight about 1/k. */
export function zipfPage(i: number): string {
  return `/p${Math.floor(Math.pow(1000, uniform(i + 1)))}`;
}

/**
 * `n` ~180-byte clickstream records as the speed Lambda receives them, arriving at
 * `eventsPerSecond` on the shard (1,000 by default: a busy shard).
 */
export function clickstreamBatch(
  n: number,
  offset: number,
  base: number,
  eventsPerSecond = 1000,
): KinesisStreamEvent {
  const Records: KinesisStreamEvent['Records'] = [];
  for (let j = 0; j < n; j++) {
    const i = offset + j;
    const arrived = base + Math.floor((i * 1000) / eventsPerSecond);
    const body = {
      id: `evt-${i.toString(36)}`,
      type: 'page.view',
      time: new Date(arrived - 200).toISOString(),
      page: zipfPage(i),
      userId: `u${(i * 7919) % 20_000}`,
      amount: (i % 1000) / 100,
      latencyMs: i % 997,
      ingestedAt: new Date(arrived - 20).toISOString(),
    };
    Records.push({
      kinesis: {
        kinesisSchemaVersion: '1.0',
        partitionKey: body.id,
        sequenceNumber: (49_600_000_000_000_000_000_000_000_000_000_000_000_000_000n + BigInt(i)).toString(),
        data: Buffer.from(JSON.stringify(body)).toString('base64'),
        approximateArrivalTimestamp: arrived / 1000,
      },
      eventSource: 'aws:kinesis',
      eventVersion: '1.0',
      eventID: `shardId-000000000000:${i}`,
      eventName: 'aws:kinesis:record',
      invokeIdentityArn: 'arn:aws:iam::000000000000:role/bench',
      awsRegion: 'us-east-1',
      eventSourceARN: 'arn:aws:kinesis:us-east-1:000000000000:stream/bench',
    });
  }
  return { Records };
}

export interface SpeedHandlerFigures {
  readonly records: number;
  readonly batchSize: number;
  readonly bareParseRecordsPerS: number;
  readonly speedHandlerRecordsPerS: number;
  readonly ratio: number;
}

/** Times bare parsing, then the handler's CPU path, over the same batches (best of `rounds`). */
export async function measureSpeedHandler(
  records: number,
  batchSize: number,
  rounds = 3,
): Promise<SpeedHandlerFigures> {
  const base = Date.UTC(2026, 10, 24, 10);
  const batches: KinesisStreamEvent[] = [];
  for (let o = 0; o < records; o += batchSize)
    batches.push(clickstreamBatch(Math.min(batchSize, records - o), o, base));
  let bare = Infinity;
  let handler = Infinity;
  let sink = 0;
  for (let round = 0; round < rounds; round++) {
    let t = performance.now();
    for (const b of batches)
      for (const r of b.Records)
        sink += (JSON.parse(Buffer.from(r.kinesis.data, 'base64').toString('utf8')) as { latencyMs: number })
          .latencyMs;
    bare = Math.min(bare, performance.now() - t);
    // Fresh stores each round: a second round over the same records would only hit fences.
    const { deps } = speedDeps();
    t = performance.now();
    for (const b of batches) {
      const result = await processSpeedBatch(decodeKinesisEvent(b), deps);
      sink += result.applied;
    }
    handler = Math.min(handler, performance.now() - t);
  }
  if (sink === 0) throw new Error('nothing was processed');
  const bareRate = records / (bare / 1000);
  const handlerRate = records / (handler / 1000);
  return {
    records,
    batchSize,
    bareParseRecordsPerS: Math.round(bareRate),
    speedHandlerRecordsPerS: Math.round(handlerRate),
    ratio: Number((handlerRate / bareRate).toFixed(3)),
  };
}

if (require.main === module) {
  const records = Number(process.argv[2] ?? 200_000);
  const batch = Number(process.argv[3] ?? 500);
  void measureSpeedHandler(records, batch).then((f) => console.log(JSON.stringify(f)));
}
