import fc from 'fast-check';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DuckDbQueryEngine } from '../../lambdas/adapters/duckdb/duckdb-query-engine';
import { selectionOf } from '../../lambdas/core/batch-lineage';
import { toArchiveLine, type NormalizedEvent } from '../../lambdas/core/event';
import { encodeRow, identityRow, mergeRows, type RowState } from '../../lambdas/core/measures';
import { cellId } from '../../lambdas/core/reducer';
import { batchRowToCell, type BatchResultRow } from '../../lambdas/core/batch-result-row';
import { batchSql } from '../../lambdas/core/batch-sql';
import type { QueryEngine } from '../../lambdas/ports/query-engine';
import { runBatch, type BatchRunRequest } from '../../lambdas/services/batch-layer';
import { runSpeedLayer } from '../fixtures/speed-layer-run';
import {
  ARRIVAL_BUCKET_MS,
  BASE_TIME,
  normalize,
  restampedStreamArb,
  TEST_VIEWS,
  type GeneratedStream,
} from '../fixtures/streams';
import {
  FixedWatermark,
  InMemoryBatchViewStore,
  InMemoryControlStore,
  InMemorySpeedRowStore,
  ManualClock,
} from './in-memory-stores';

const NUM_RUNS = 25;
const root = mkdtempSync(path.join(tmpdir(), 'streamfold-incremental-'));
const archiveDir = path.join(root, 'archive');
const engine = new DuckDbQueryEngine(archiveDir);
afterAll(async () => {
  await engine.close();
  rmSync(root, { recursive: true, force: true });
});

/**
 * The engine as the cloud's Athena adapter uses it: several independent queries of a run at once
 * (`concurrentQueries`), so the plan and the reconciliation must not depend on their order. Counts
 * how many ran at once, so the property shows it ran them so.
 */
class ConcurrentEngine implements QueryEngine {
  readonly dialect = engine.dialect;
  readonly prunesByEventTime = engine.prunesByEventTime;
  readonly typedSources = engine.typedSources;
  readonly concurrentQueries = 3;
  private inFlight = 0;
  mostAtOnce = 0;
  source(...args: Parameters<QueryEngine['source']>): ReturnType<QueryEngine['source']> {
    return engine.source(...args);
  }
  async run(sql: string) {
    this.mostAtOnce = Math.max(this.mostAtOnce, ++this.inFlight);
    try {
      // A turn of the event loop first, so the queries started together overlap here.
      await new Promise((resolve) => setImmediate(resolve));
      return await engine.run(sql);
    } finally {
      this.inFlight--;
    }
  }
  runInChunks(sql: string, onRows: (rows: BatchResultRow[]) => Promise<void>) {
    return engine.runInChunks(sql, onRows);
  }
  materialize(sql: string) {
    return engine.materialize(sql);
  }
}
const concurrent = new ConcurrentEngine();

/** A cell's identity and its exact stored form (sketch registers and exact distinct counts included). */
type Cells = Map<string, string>;

/** One full recomputation at `cutoffMs`, straight from the generated SQL. */
async function fullRecompute(cutoffMs: number): Promise<Cells> {
  const cells: Cells = new Map();
  const source = await engine.source();
  if (source === null) return cells;
  for (const view of TEST_VIEWS) {
    for (const row of await engine.run(batchSql(view, 'duckdb', source, cutoffMs).sql)) {
      const cell = batchRowToCell(view, row);
      cells.set(cellId({ view: view.name, ...cell }), JSON.stringify(encodeRow(cell.state)));
    }
  }
  return cells;
}

/** What the published pointer serves: every view's cells of its version. */
function published(batch: InMemoryBatchViewStore, control: InMemoryControlStore): Cells {
  const cells: Cells = new Map();
  const pointer = control.pointer!;
  for (const view of TEST_VIEWS) {
    const selection = selectionOf(pointer.lineage, view.name);
    for (const cell of batch.snapshot(pointer.version, view.name, selection))
      cells.set(cellId({ view: view.name, ...cell }), JSON.stringify(encodeRow(cell.state)));
  }
  return cells;
}

interface Step {
  readonly cutPick: number;
  readonly backfill: { readonly fromPick: number; readonly hours: number } | null;
}

const stepArb: fc.Arbitrary<Step> = fc.record({
  cutPick: fc.nat(),
  backfill: fc.option(fc.record({ fromPick: fc.nat(), hours: fc.integer({ min: 1, max: 4 }) }), {
    freq: 4,
  }),
});

/**
 * Runs the batch layer (DuckDB over an archive that grows file by file, in-memory tables) at
 * each cutoff in turn; the archiver may write a line twice. Returns the stores.
 */
async function runSequence(
  events: readonly NormalizedEvent[],
  cutoffs: readonly number[],
  requests: readonly BatchRunRequest[],
  rewrites: number,
  check: (cutoffMs: number, served: Cells) => Promise<void>,
) {
  rmSync(archiveDir, { recursive: true, force: true });
  mkdirSync(archiveDir, { recursive: true });
  const batch = new InMemoryBatchViewStore();
  const control = new InMemoryControlStore();
  const watermark = new FixedWatermark(null);
  const deps = {
    views: TEST_VIEWS,
    engine: concurrent,
    watermark,
    batch,
    control,
    speed: new InMemorySpeedRowStore(TEST_VIEWS),
    clock: new ManualClock(BASE_TIME),
    arrivalBucketMs: ARRIVAL_BUCKET_MS,
  };
  let archived = 0;
  const byArrival = [...events].sort((a, b) => a.arrivedMs - b.arrivedMs);
  for (const [i, cutoff] of cutoffs.entries()) {
    // The archive holds what arrived before the watermark (and, once, a rewrite of older lines).
    const upTo = byArrival.filter((e) => e.arrivedMs < cutoff).length;
    const lines = byArrival.slice(archived, upTo).map(toArchiveLine);
    if (i === 1) lines.push(...byArrival.slice(0, Math.min(rewrites, archived)).map(toArchiveLine));
    if (lines.length > 0)
      writeFileSync(
        path.join(archiveDir, `part-${String(i).padStart(3, '0')}.ndjson`),
        lines.join('\n') + '\n',
      );
    archived = upTo;
    watermark.value = cutoff;
    const result = await runBatch(deps, requests[i]);
    expect(result.status).toBe('published');
    await check(cutoff, published(batch, control));
  }
  return { batch, control };
}

describe('incremental batch runs (ADR 007)', () => {
  it('any sequence of incremental runs and backfills = one full recomputation = the speed layer', async () => {
    await fc.assert(
      fc.asyncProperty(
        restampedStreamArb,
        fc.array(stepArb, { minLength: 1, maxLength: 4 }),
        fc.nat(),
        async (stream: GeneratedStream, steps, rewrites) => {
          const events = stream.records.map((r) => normalize(r));
          const lastArrival = Math.max(...events.map((e) => e.arrivedMs));
          const everything = (Math.floor(lastArrival / ARRIVAL_BUCKET_MS) + 1) * ARRIVAL_BUCKET_MS;
          const span = (everything - BASE_TIME) / ARRIVAL_BUCKET_MS + 1;
          const cutoffs = [
            ...steps.map((s) => BASE_TIME + (s.cutPick % span) * ARRIVAL_BUCKET_MS).sort((a, b) => a - b),
            everything,
          ];
          const requests: BatchRunRequest[] = [
            ...steps.map((s) =>
              s.backfill === null
                ? {}
                : {
                    backfill: {
                      fromMs: BASE_TIME - 4 * 3_600_000 + (s.backfill.fromPick % 300) * 60_000,
                      toMs:
                        BASE_TIME -
                        4 * 3_600_000 +
                        (s.backfill.fromPick % 300) * 60_000 +
                        s.backfill.hours * 3_600_000,
                    },
                  },
            ),
            {},
          ];
          await runSequence(events, cutoffs, requests, rewrites % 10, async (cutoff, served) => {
            // After every run: exactly what a full recomputation at that cutoff stores.
            expect(served, `incremental state at cutoff ${cutoff}`).toEqual(await fullRecompute(cutoff));
          });
          // And at the last cutoff, which covers every arrival: the speed layer's cells.
          const speed = new Map<string, RowState>();
          const rows = await runSpeedLayer(TEST_VIEWS, stream.deliveries, { scope: 'global' });
          for (const { address, row } of rows.all()) {
            const view = TEST_VIEWS.find((v) => v.name === address.view)!;
            const id = cellId(address);
            speed.set(id, mergeRows(view, speed.get(id) ?? identityRow(view), row.state));
          }
          const full = await fullRecompute(everything);
          expect([...full.keys()].sort()).toEqual([...speed.keys()].sort());
          for (const [id, encoded] of full) {
            const batchState = JSON.parse(encoded) as Record<string, unknown>;
            const speedState = encodeRow(speed.get(id)!) as Record<string, unknown>;
            for (const [name, value] of Object.entries(batchState)) {
              // Distinct: the same registers (the batch also knows the exact count, the speed layer cannot).
              const strip = (v: unknown) =>
                typeof v === 'object' && v !== null && 'x' in v ? { ...v, x: undefined } : v;
              expect(strip(value), `${id} ${name}`).toEqual(strip(speedState[name]));
            }
          }
        },
      ),
      { numRuns: NUM_RUNS },
    );
    // The plans and reconciliations above ran views' queries side by side, as on Athena.
    expect(concurrent.mostAtOnce).toBeGreaterThan(1);
  }, 300_000);

  it("counts a retry stamped with a new time once, also when its first copy's file holds no event of the recomputed buckets", async () => {
    // The black-box probe of 2026-12-04: a producer re-sent an event 200 ms later in event time,
    // across a minute edge; the incremental run recomputed only the new minute, read only the
    // file holding it, and counted the retry beside the first copy (until a full run). Each file
    // here holds one copy, so pruning by event time alone leaves the first copy out.
    const record = (seq: number, arrivedMs: number, time: string, amount: number) =>
      normalize({
        shardId: 'shardId-000000000000',
        sequenceNumber: String(1000 + seq),
        partitionKey: 'r1',
        arrivedMs,
        data: JSON.stringify({ type: 'click', id: 'r1', time, page: '/retry', amount, latency: 5 }),
      });
    const first = record(0, BASE_TIME + 10_000, '2026-11-24T10:04:59.900Z', 1);
    // Within COPY_TIME_HORIZON_MS (an hour), and far off: the horizon's both ends.
    const retry = record(1, BASE_TIME + 70_000, '2026-11-24T10:05:00.100Z', 2);
    const late = record(2, BASE_TIME + 130_000, '2026-11-24T11:04:59.900Z', 3);
    const cutoffs = [BASE_TIME + 60_000, BASE_TIME + 120_000, BASE_TIME + 180_000];
    await runSequence([first, retry, late], cutoffs, [{}, {}, {}], 0, async (cutoff, served) => {
      expect(served, `incremental state at cutoff ${cutoff}`).toEqual(await fullRecompute(cutoff));
    });
  });
});
