import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { windowStateCodec } from '../../lambdas/adapters/codecs/window-state';
import { finalizeRow, liftRow, mergeRows } from '../../lambdas/core/measures';
import { mergeServing } from '../../lambdas/core/merge';
import { speedRowId } from '../../lambdas/core/fencing';
import type { ViewDefinition } from '../../lambdas/core/view';
import { ShardDedupe } from '../../lambdas/services/shard-dedupe';
import { SpeedRowCache } from '../../lambdas/services/speed-row-cache';
import { processWindowedBatch, type WindowedSpeedDeps } from '../../lambdas/services/windowed-speed-layer';
import { runSpeedLayer, toSpeedRecords } from '../fixtures/speed-layer-run';
import { runWindowedSpeedLayer, type WindowStep } from '../fixtures/windowed-speed-run';
import {
  ARRIVAL_BUCKET_MS,
  denseStreamArb,
  distinctIdsPerView,
  streamArb,
  TEST_VIEWS,
  type GeneratedStream,
  type StreamRecord,
} from '../fixtures/streams';
import { InMemoryShardIdLog, InMemorySpeedRowStore } from './in-memory-stores';

/** Every speed row's served values by row id (view, key, bucket, arrival bucket). */
function servedRows(store: InMemorySpeedRowStore, views: readonly ViewDefinition[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const r of store.all()) {
    const view = views.find((v) => v.name === r.address.view)!;
    out[speedRowId(r.address)] = finalizeRow(view, r.row.state);
  }
  return out;
}

function countsPerView(store: InMemorySpeedRowStore): Record<string, number> {
  const out: Record<string, number> = Object.fromEntries(TEST_VIEWS.map((v) => [v.name, 0]));
  for (const r of store.all()) {
    const n = r.row.state.n;
    if (n.kind !== 'count') throw new Error(`view ${r.address.view}: measure n is ${n.kind}`);
    out[r.address.view] += n.n;
  }
  return out;
}

const stepArb: fc.Arbitrary<WindowStep> = fc.record({
  batch: fc.integer({ min: 1, max: 12 }),
  ghost: fc.constantFrom<WindowStep['ghost']>('none', 'none', 'same', 'prefix', 'crash'),
  endWindow: fc.boolean(),
  finalGhost: fc.boolean(),
  appendFails: fc.integer({ min: 0, max: 9 }).map((n) => n < 2),
  instance: fc.constantFrom<0 | 1>(0, 1),
});
// 0: every non-empty incoming state is flushed (a flush per invocation); 1,500: now and then; 10^9: never early.
const flushAtArb = fc.constantFrom(0, 1_500, 1_000_000_000);

describe('aggregation windows (ADR 012): rows with windows = rows without = an independent count', () => {
  it('on random streams with duplicates, random window boundaries, redelivered and crashed invocations (final ones too) and forced early flushes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(streamArb, denseStreamArb),
        fc.array(stepArb, { minLength: 1, maxLength: 25 }),
        flushAtArb,
        async (stream: GeneratedStream, steps, flushAt) => {
          const windowed = await runWindowedSpeedLayer(TEST_VIEWS, stream.records, steps, flushAt);
          const plain = await runSpeedLayer(TEST_VIEWS, stream.deliveries, { scope: 'shard' });
          expect(windowed.overlaps, 'deltas overlapping a fence').toBe(0);
          expect(countsPerView(windowed.rows), 'windowed counts vs distinct ids').toEqual(
            distinctIdsPerView(stream.records),
          );
          expect(servedRows(windowed.rows, TEST_VIEWS), 'windowed rows vs rows without a window').toEqual(
            servedRows(plain, TEST_VIEWS),
          );
        },
      ),
      { numRuns: 150 },
    );
  }, 120_000);
});

describe('processWindowedBatch', () => {
  const record = (i: number, body: Record<string, unknown>): StreamRecord => ({
    shardId: 'shardId-000000000000',
    sequenceNumber: String(1000 + i),
    partitionKey: String(body.id),
    arrivedMs: Date.UTC(2026, 10, 24, 10) + i * 1000,
    data: typeof body.raw === 'string' ? body.raw : JSON.stringify(body),
  });
  const click = (i: number, page = '/') =>
    record(i, {
      id: `e${i}`,
      type: 'click',
      page,
      device: 'desktop',
      geo: { country: 'DE' },
      amount: 1,
      time: '2026-11-24T10:00:00Z',
    });
  const setup = (flushAtBytes = 600_000) => {
    const rows = new InMemorySpeedRowStore(TEST_VIEWS);
    const deps: WindowedSpeedDeps = {
      views: TEST_VIEWS,
      rows,
      rowCache: new SpeedRowCache(),
      shardDedupe: new ShardDedupe(new InMemoryShardIdLog(), 900_000),
      fenceBy: 'shard',
      arrivalBucketMs: ARRIVAL_BUCKET_MS,
      codec: windowStateCodec(TEST_VIEWS),
      flushAtBytes,
    };
    return { rows, deps };
  };
  const recs = (...r: StreamRecord[]) => toSpeedRecords({ shardId: r[0].shardId, records: r });

  it('writes no row before the final invoke, then one write per row for the whole window', async () => {
    const { rows, deps } = setup();
    let state: string | undefined;
    for (let i = 0; i < 5; i++) {
      const r = await processWindowedBatch(
        { records: recs(click(2 * i), click(2 * i + 1, '/cart')), state, final: false },
        deps,
      );
      expect(r.rowsWritten).toBe(0);
      state = r.state;
    }
    expect(rows.writes).toHaveLength(0);
    const final = await processWindowedBatch({ records: [], state, final: true }, deps);
    // Two pages of `clicks` and nothing of the filtered mobile view: two rows, each written once.
    expect(final.rowsWritten).toBe(2);
    expect(countsPerView(rows).clicks).toBe(10);
    // The final invoke redelivered (its answer lost): nothing changes.
    await processWindowedBatch({ records: [], state, final: true }, deps);
    expect(rows.writes.filter((w) => w.outcome === 'written')).toHaveLength(2);
    expect(countsPerView(rows).clicks).toBe(10);
  });

  it('does not fold again records the state already holds (a redelivery after a lost checkpoint)', async () => {
    const { rows, deps } = setup();
    const first = await processWindowedBatch(
      { records: recs(click(0), click(1)), state: undefined, final: false },
      deps,
    );
    // The answer's state was kept but the checkpoint was not: the same records come again with it.
    const again = await processWindowedBatch(
      { records: recs(click(0), click(1), click(2)), state: first.state, final: false },
      deps,
    );
    expect(again.applied).toBe(1);
    await processWindowedBatch({ records: [], state: again.state, final: true }, deps);
    expect(countsPerView(rows).clicks).toBe(3);
  });

  it('folds only the records before a poison record and reports it, so the retry starts there', async () => {
    const { rows, deps } = setup();
    const poison = record(1, { raw: 'not json' });
    const r = await processWindowedBatch(
      { records: recs(click(0), poison, click(2)), state: undefined, final: false },
      deps,
    );
    expect(r.poison.map((p) => p.sequenceNumber)).toEqual(['1001']);
    expect(r.failedFrom).toBe('1001');
    expect(r.applied).toBe(1);
    // The event source retries from the poison record alone (bisection), then the rest.
    const p = await processWindowedBatch({ records: recs(poison), state: r.state, final: false }, deps);
    expect(p.failedFrom).toBe('1001');
    const rest = await processWindowedBatch({ records: recs(click(2)), state: p.state, final: false }, deps);
    await processWindowedBatch({ records: [], state: rest.state, final: true }, deps);
    expect(countsPerView(rows).clicks).toBe(2);
  });

  it('flushes an incoming state past flushAtBytes before folding the batch, and never returns more than 1 MB', async () => {
    const { rows, deps } = setup(300);
    let state: string | undefined;
    let flushed = 0;
    for (let i = 0; i < 40; i++) {
      const r = await processWindowedBatch({ records: recs(click(i, `/p${i}`)), state, final: false }, deps);
      if (r.flushed) flushed++;
      expect(r.state.length).toBeLessThanOrEqual(1_000_000);
      state = r.state;
    }
    expect(flushed).toBeGreaterThan(0);
    expect(rows.writes.length).toBeGreaterThan(0);
    await processWindowedBatch({ records: [], state, final: true }, deps);
    expect(countsPerView(rows).clicks).toBe(40);
  });

  it('a row flushed after a batch run covered its arrival bucket is not served twice, and the next publish deletes it', async () => {
    const { rows, deps } = setup();
    const first = await processWindowedBatch(
      { records: recs(click(0), click(1)), state: undefined, final: false },
      deps,
    );
    // Meanwhile a batch run publishes a cutoff past the events' arrival bucket: the batch view holds them.
    const arrival = Math.floor(click(0).arrivedMs / ARRIVAL_BUCKET_MS) * ARRIVAL_BUCKET_MS;
    const cutoff = arrival + ARRIVAL_BUCKET_MS;
    const view = TEST_VIEWS[0];
    const batchCells = [{ bucketMs: Date.UTC(2026, 10, 24, 10), state: liftTwoClicks(view) }];
    // The window closes after that run: its row lands below the published cutoff.
    await processWindowedBatch({ records: [], state: first.state, final: true }, deps);
    const speed = rows.all().map((r) => ({
      bucketMs: r.address.bucketMs,
      arrivalBucketMs: r.address.arrivalBucketMs,
      state: r.row.state,
    }));
    expect(speed.filter((r) => r.arrivalBucketMs < cutoff)).toHaveLength(1);
    const served = mergeServing(view, batchCells, speed, cutoff, ARRIVAL_BUCKET_MS);
    expect(finalizeRow(view, served[0].state).n).toBe(2);
    // The next publish deletes the speed rows below the cutoff it replaces, late ones included.
    await rows.deleteArrivedBefore(cutoff);
    expect(rows.all()).toHaveLength(0);
  });
});

/** The batch view's cell of click(0) and click(1): two clicks on '/' of amount 1. */
function liftTwoClicks(view: ViewDefinition) {
  const body = { page: '/', amount: 1, type: 'click', device: 'desktop', geo: { country: 'DE' } };
  return mergeRows(view, liftRow(view, body), liftRow(view, body));
}
