/**
 * DynamoDB item writes per event with the speed layer's aggregation window (ADR 012), on the
 * workload of `writes_per_event` (bench/run.ts): the very records and stores of that figure,
 * handed to the windowed service as Lambda's event source with tumbling windows hands them
 * (batches cut at window boundaries on the records' arrival times, the state carried from one
 * invocation to the next, a final invoke closing each window). Simulated time: the records carry
 * their arrival times (1,000 events/s), nothing waits for a window to pass.
 * Run: npx tsx bench/windowed-writes.ts [events=100000] [batch=500] [windowSeconds=60]
 */
import type { KinesisStreamEvent } from 'aws-lambda';
import { decodeKinesisEvent } from '../lambdas/adapters/codecs/kinesis-event';
import { windowStateCodec } from '../lambdas/adapters/codecs/window-state';
import { processWindowedBatch, type WindowedSpeedDeps } from '../lambdas/services/windowed-speed-layer';
import { billedIdLogWrites, billedRowWrites, countRowReads } from './billed-writes';
import { CLICKSTREAM_VIEWS, clickstreamBatch, onShard, sharedTableInstances } from './speed-handler';

export interface WindowedWrites {
  readonly events: number;
  readonly windowSeconds: number;
  readonly rowWrites: number;
  readonly dedupeWrites: number;
  readonly invocations: number;
  readonly windows: number;
  /** Mid-window flushes (the state passed the flush threshold). */
  readonly earlyFlushes: number;
  /** The largest state returned, in bytes (Lambda allows 1 MB per shard). */
  readonly maxStateBytes: number;
  /** Row write units: each written item billed per started KB (DynamoDB on-demand). */
  readonly rowWriteUnits: number;
  /** Id-log write units, likewise (keys and attributes about 200 bytes beside the ids). */
  readonly dedupeWriteUnits: number;
  /** Row reads: a row another shard wrote since this instance last did is read again. */
  readonly rowReads: number;
  /** Row writes whose condition failed (another shard's write came first). */
  readonly conflicts: number;
  /** Events the table's rows count at the end (the `views` count): every event once, if exact. */
  readonly countedEvents: number;
}

export async function measureWindowedWrites(
  events: number,
  batchSize: number,
  windowSeconds: number,
  /** Records a second on each shard: sets how many events a window holds. */
  eventsPerSecond = 1000,
  /**
   * Shards of the stream (record i on shard i mod shards), each served by an instance of its own
   * (row cache, id index, window state) over one row table and one id log, as in the cloud: the
   * shards' windows close together and write the same popular rows, so a write on a revision
   * another shard replaced fails its condition (billed), and the row is read and written again.
   */
  shards = 1,
): Promise<WindowedWrites> {
  if (!(windowSeconds >= 1 && windowSeconds <= 900))
    throw new Error(`windowSeconds must be 1 to 900, Lambda's tumbling windows (given ${windowSeconds})`);
  const shared = sharedTableInstances(shards);
  const { rows, log } = shared;
  const codec = windowStateCodec(CLICKSTREAM_VIEWS);
  const instances: WindowedSpeedDeps[] = shared.instances.map((deps) => ({ ...deps, codec }));
  const rowReads = countRowReads(rows);
  const start = Date.UTC(2026, 10, 24, 10);
  const windowMs = windowSeconds * 1000;
  // Each shard's records, grouped by the window their arrival time falls in.
  const byWindow = new Map<number, KinesisStreamEvent['Records'][]>();
  clickstreamBatch(events, 0, start, eventsPerSecond * shards).Records.forEach((r, i) => {
    const { shard, record } = onShard(r, i, shards);
    const window = Math.floor((record.kinesis.approximateArrivalTimestamp * 1000) / windowMs);
    let perShard = byWindow.get(window);
    if (perShard === undefined) byWindow.set(window, (perShard = Array.from({ length: shards }, () => [])));
    perShard[shard].push(record);
  });
  const state: (string | undefined)[] = new Array<string | undefined>(shards).fill(undefined);
  let invocations = 0;
  let windows = 0;
  let earlyFlushes = 0;
  let maxStateBytes = 0;
  for (const perShard of byWindow.values()) {
    // A batch is at most batchSize records of one window, as the event source cuts it; the
    // shards' invocations are taken in turn, then each shard's final invoke closes the window.
    const longest = Math.max(...perShard.map((records) => records.length));
    for (let o = 0; o < longest; o += batchSize)
      for (let shard = 0; shard < shards; shard++) {
        const Records = perShard[shard].slice(o, o + batchSize);
        if (Records.length === 0) continue;
        const result = await processWindowedBatch(
          { records: decodeKinesisEvent({ Records }), state: state[shard], final: false },
          instances[shard],
        );
        invocations++;
        if (result.failedFrom !== undefined)
          throw new Error(`the bench's records failed: ${JSON.stringify(result.errors)}`);
        if (result.flushed) earlyFlushes++;
        state[shard] = result.state;
        maxStateBytes = Math.max(maxStateBytes, result.state.length);
      }
    for (let shard = 0; shard < shards; shard++) {
      if (state[shard] === undefined) continue;
      await processWindowedBatch({ records: [], state: state[shard], final: true }, instances[shard]);
      invocations++;
      windows++;
      state[shard] = undefined;
    }
  }
  const { rowWriteUnits, conflicts } = billedRowWrites(rows);
  return {
    events,
    windowSeconds,
    rowWrites: rows.writes.filter((w) => w.outcome === 'written').length,
    dedupeWrites: log.appends.length,
    invocations,
    windows,
    earlyFlushes,
    maxStateBytes,
    rowWriteUnits,
    dedupeWriteUnits: billedIdLogWrites(log),
    rowReads: rowReads(),
    conflicts,
    countedEvents: rows.all().reduce((n, r) => {
      const views = r.row.state.views;
      return n + (views?.kind === 'count' ? views.n : 0);
    }, 0),
  };
}

if (require.main === module) {
  const [events, batch, seconds] = [
    process.argv[2] ?? 100_000,
    process.argv[3] ?? 500,
    process.argv[4] ?? 60,
  ].map(Number);
  void measureWindowedWrites(events, batch, seconds).then((f) =>
    console.log(JSON.stringify({ ...f, windowedWritesPerEvent: (f.rowWrites + f.dedupeWrites) / f.events })),
  );
}
