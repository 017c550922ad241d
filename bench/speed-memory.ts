/**
 * What the speed worker holds after `--minutes` of the soak's traffic, by part: the speed layer's
 * path (decode, dedupe, fold, row writes) on the local generator's events at `--rate` events/s of
 * simulated arrival over 2 shards, in batches of 500 as the local event source sends them, with
 * stores that forget what they are given (rows live in the DynamoDB emulator, not in the worker).
 * Every simulated minute it prints the heap in use after a full GC and what the instance holds;
 * at the end, what each part retains (the heap freed when it is dropped).
 *
 * Run: node --expose-gc --import tsx bench/speed-memory.ts [--minutes 20] [--rate 1000]
 */
import { randomBytes } from 'node:crypto';
import { writeHeapSnapshot } from 'node:v8';
import { parseArgs } from 'node:util';
import type { KinesisStreamEvent } from 'aws-lambda';
import { decodeKinesisEvent } from '../lambdas/adapters/codecs/kinesis-event';
import { nextIdLogPosition } from '../lambdas/adapters/codecs/id-log-codec';
import { validateViews } from '../lambdas/core/view';
import type { ShardIdLog, SpeedRowStore } from '../lambdas/ports/stores';
import { DEFAULT_DEDUPE_WINDOW_SECONDS } from '../lambdas/runtime/config';
import { ShardDedupe } from '../lambdas/services/shard-dedupe';
import { processSpeedBatch, type SpeedLayerDeps } from '../lambdas/services/speed-layer';
import { SpeedRowCache } from '../lambdas/services/speed-row-cache';
import { EventGenerator } from '../local/generator';
import views from '../views';

/** Rows go nowhere: a read finds none, a write always lands. */
const forgettingRows: SpeedRowStore = {
  read: () => Promise.resolve(undefined),
  write: () => Promise.resolve(randomBytes(4).readUInt32BE(0)),
  bucketsOf: () => Promise.resolve([]),
  deleteArrivedBefore: () => Promise.resolve(0),
  deleteArrivedBeforePage: () => Promise.resolve({ deleted: 0, cursor: undefined }),
} as unknown as SpeedRowStore; // only what processSpeedBatch calls is given

/** One instance per shard, as the local event source runs: the log is never read back. */
const forgettingLog: ShardIdLog = {
  readAfter: () => Promise.resolve([]),
  readRecent: () => Promise.resolve([]),
  append: (_shard: string, after: string | undefined) => Promise.resolve(nextIdLogPosition(after)),
};

const gc = (globalThis as { gc?: () => void }).gc;

function heapMb(): number {
  gc!();
  return Math.round(process.memoryUsage().heapUsed / 104_857.6) / 10;
}

async function main(): Promise<void> {
  if (!gc) throw new Error('run with node --expose-gc --import tsx bench/speed-memory.ts');
  const { values } = parseArgs({
    options: {
      minutes: { type: 'string', default: '20' },
      rate: { type: 'string', default: '1000' },
      'snapshots-at': { type: 'string', default: '' },
      // The row cache's bound, to see what a smaller one costs in hits.
      'row-cache-rows': { type: 'string' },
    },
  });
  const minutes = Number(values.minutes);
  const rate = Number(values.rate);
  const snapshotsAt = values['snapshots-at'].split(',').filter(Boolean).map(Number);
  const deps: SpeedLayerDeps = {
    views: validateViews(views),
    rows: forgettingRows,
    rowCache: new SpeedRowCache(...(values['row-cache-rows'] ? [Number(values['row-cache-rows'])] : [])),
    shardDedupe: new ShardDedupe(forgettingLog, DEFAULT_DEDUPE_WINDOW_SECONDS.shard * 1000),
    fenceBy: 'shard',
    arrivalBucketMs: 1000,
  };
  const generator = new EventGenerator({ baseUrl: 'http://unused', rate });
  const start = Date.now();
  const seq = [0n, 0n];
  const baseline = heapMb();
  console.log(JSON.stringify({ minute: 0, heapUsedMb: baseline }));
  const perBatch = 500;
  const batchesPerMinute = Math.round((rate * 60) / perBatch);
  for (let minute = 1; minute <= minutes; minute++) {
    for (let b = 0; b < batchesPerMinute; b++) {
      const shard = b % 2;
      const t0 = start + ((minute - 1) * 60_000 + (b * 60_000) / batchesPerMinute);
      const Records: KinesisStreamEvent['Records'] = [];
      for (let j = 0; j < perBatch; j++) {
        const arrived = t0 + j;
        const event = generator.makeEvent(arrived);
        const body = { ...event, ingestedAt: new Date(arrived).toISOString() };
        seq[shard] += 1n;
        Records.push({
          kinesis: {
            kinesisSchemaVersion: '1.0',
            partitionKey: String(event.id),
            sequenceNumber: (
              49_660_000_000_000_000_000_000_000_000_000_000_000_000_000_000n + seq[shard]
            ).toString(),
            data: Buffer.from(JSON.stringify(body)).toString('base64'),
            approximateArrivalTimestamp: arrived / 1000,
          },
          eventSource: 'aws:kinesis',
          eventVersion: '1.0',
          eventID: `shardId-00000000000${shard}:${seq[shard]}`,
          eventName: 'aws:kinesis:record',
          invokeIdentityArn: 'arn:aws:iam::000000000000:role/local',
          awsRegion: 'us-east-1',
          eventSourceARN: 'arn:aws:kinesis:us-east-1:000000000000:stream/local',
        });
      }
      const result = await processSpeedBatch(decodeKinesisEvent({ Records }), deps);
      if (result.failedFrom !== undefined) throw new Error(`batch failed: ${JSON.stringify(result.errors)}`);
    }
    console.log(
      JSON.stringify({
        minute,
        heapUsedMb: heapMb(),
        dedupeIds: deps.shardDedupe!.heldIds,
        cachedRows: deps.rowCache!.size,
        rowCacheHits: deps.rowCache!.hits,
        rowCacheMisses: deps.rowCache!.misses,
      }),
    );
    if (snapshotsAt.includes(minute))
      console.log(`snapshot: ${writeHeapSnapshot(`speed-memory-m${minute}.heapsnapshot`)}`);
  }
  const all = heapMb();
  (deps as { rowCache?: SpeedRowCache }).rowCache = undefined;
  const withoutCache = heapMb();
  (deps as { shardDedupe?: ShardDedupe }).shardDedupe = undefined;
  const withoutDedupe = heapMb();
  console.log(
    JSON.stringify({
      heapUsedMbOverBaseline: Math.round((all - baseline) * 10) / 10,
      rowCacheMb: Math.round((all - withoutCache) * 10) / 10,
      dedupeMb: Math.round((withoutCache - withoutDedupe) * 10) / 10,
      restMb: Math.round((withoutDedupe - baseline) * 10) / 10,
    }),
  );
}

if (require.main === module)
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
