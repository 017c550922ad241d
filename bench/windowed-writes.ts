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
import { windowStateCodec } from '../lambdas/adapters/codecs/window-state';
import { decodeKinesisEvent } from '../lambdas/adapters/codecs/kinesis-event';
import { processWindowedBatch, type WindowedSpeedDeps } from '../lambdas/services/windowed-speed-layer';
import { CLICKSTREAM_VIEWS, clickstreamBatch, speedDeps } from './speed-handler';

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
}

export async function measureWindowedWrites(
  events: number,
  batchSize: number,
  windowSeconds: number,
): Promise<WindowedWrites> {
  if (!(windowSeconds >= 1 && windowSeconds <= 900))
    throw new Error(`windowSeconds must be 1 to 900, Lambda's tumbling windows (given ${windowSeconds})`);
  const { deps: base, rows, log } = speedDeps('shard');
  const deps: WindowedSpeedDeps = { ...base, codec: windowStateCodec(CLICKSTREAM_VIEWS) };
  const start = Date.UTC(2026, 10, 24, 10);
  const all = clickstreamBatch(events, 0, start).Records;
  const windowMs = windowSeconds * 1000;
  const windowOf = (r: KinesisStreamEvent['Records'][number]) =>
    Math.floor((r.kinesis.approximateArrivalTimestamp * 1000) / windowMs);
  let state: string | undefined;
  let invocations = 0;
  let windows = 0;
  let earlyFlushes = 0;
  let maxStateBytes = 0;
  const closeWindow = async () => {
    await processWindowedBatch({ records: [], state, final: true }, deps);
    invocations++;
    windows++;
    state = undefined;
  };
  for (let i = 0; i < all.length;) {
    // A batch is at most batchSize records of one window, as the event source cuts it.
    const window = windowOf(all[i]);
    if (state !== undefined && i > 0 && windowOf(all[i - 1]) !== window) await closeWindow();
    let end = i;
    while (end < all.length && end - i < batchSize && windowOf(all[end]) === window) end++;
    const result = await processWindowedBatch(
      { records: decodeKinesisEvent({ Records: all.slice(i, end) }), state, final: false },
      deps,
    );
    invocations++;
    if (result.failedFrom !== undefined)
      throw new Error(`the bench's records failed: ${JSON.stringify(result.errors)}`);
    if (result.flushed) earlyFlushes++;
    state = result.state;
    maxStateBytes = Math.max(maxStateBytes, state.length);
    i = end;
  }
  if (state !== undefined) await closeWindow();
  return {
    events,
    windowSeconds,
    rowWrites: rows.writes.filter((w) => w.outcome === 'written').length,
    dedupeWrites: log.appends.length,
    invocations,
    windows,
    earlyFlushes,
    maxStateBytes,
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
