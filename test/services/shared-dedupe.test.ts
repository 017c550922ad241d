import fc from 'fast-check';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { DuckDbQueryEngine } from '../../lambdas/adapters/duckdb/duckdb-query-engine';
import { toArchiveLine } from '../../lambdas/core/event';
import { encodeRow } from '../../lambdas/core/measures';
import type { ViewDefinition } from '../../lambdas/core/view';
import { runBatch, type BatchLayerDeps, type BatchRunResult } from '../../lambdas/services/batch-layer';
import type { QueryEngine } from '../../lambdas/ports/query-engine';
import { ARRIVAL_BUCKET_MS, BASE_TIME, normalize, streamArb, TEST_VIEWS } from '../fixtures/streams';
import {
  FixedWatermark,
  InMemoryBatchViewStore,
  InMemoryControlStore,
  InMemorySpeedRowStore,
  ManualClock,
} from './in-memory-stores';

// The batch cells each reconciliation compared, by view: what the kept copies must reproduce.
const reconciled: string[] = [];
vi.mock('../../lambdas/core/reconcile', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../lambdas/core/reconcile')>();
  return {
    ...original,
    reconcileWindow: (
      view: ViewDefinition,
      batchCells: readonly Record<string, unknown>[],
      ...rest: unknown[]
    ) => {
      for (const cell of batchCells)
        reconciled.push(JSON.stringify([view.name, cell, encodeRow(cell.state as never)]));
      return (original.reconcileWindow as (...args: unknown[]) => unknown)(view, batchCells, ...rest);
    },
  };
});

/**
 * ADR 016: a full run computes the kept copies once for every view (materialized in the engine)
 * instead of once per view; the cells must be exactly those of per-view dedupes, and the kept rows
 * must be freed when the run ends, whether it succeeded or failed.
 */
const root = mkdtempSync(path.join(tmpdir(), 'streamfold-shared-dedupe-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** The DuckDB engine with materialize hidden: every view's query dedupes on its own. */
function withoutMaterialize(engine: DuckDbQueryEngine): QueryEngine {
  return {
    dialect: engine.dialect,
    prunesByEventTime: engine.prunesByEventTime,
    typedSources: engine.typedSources,
    source: (...args) => engine.source(...args),
    run: (sql) => engine.run(sql),
  };
}

/** Every written cell of the published version, by view, key and bucket. */
function cellsOf(batch: InMemoryBatchViewStore, version: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const view of TEST_VIEWS)
    for (const cell of batch.snapshot(version, view.name, undefined))
      out[`${view.name}|${cell.key.join(',')}|${cell.bucketMs}`] = JSON.stringify(encodeRow(cell.state));
  return out;
}

async function runTables(engine: DuckDbQueryEngine): Promise<number> {
  const [row] = await engine.run(
    `SELECT count(*) AS n FROM duckdb_tables() WHERE table_name LIKE 'run_rows_%'`,
  );
  return Number(row.n);
}

let n = 0;
function deps(engine: QueryEngine): BatchLayerDeps & { batch: InMemoryBatchViewStore } {
  return {
    views: TEST_VIEWS,
    engine,
    watermark: new FixedWatermark(BASE_TIME + 86_400_000),
    batch: new InMemoryBatchViewStore(),
    control: new InMemoryControlStore(),
    speed: new InMemorySpeedRowStore(TEST_VIEWS),
    clock: new ManualClock(BASE_TIME),
    arrivalBucketMs: ARRIVAL_BUCKET_MS,
  };
}

/**
 * A fresh archive folder and the DuckDB engine over it, with every materialization it is asked for
 * recorded; both gone after `body`, whatever happened.
 */
async function withArchive(
  body: (archive: string, engine: DuckDbQueryEngine, materialized: string[]) => Promise<void>,
): Promise<void> {
  const archive = path.join(root, `a${n++}`);
  mkdirSync(archive, { recursive: true });
  const engine = new DuckDbQueryEngine(archive);
  const materialized: string[] = [];
  const materialize = engine.materialize.bind(engine);
  engine.materialize = (sql) => {
    materialized.push(sql);
    return materialize(sql);
  };
  try {
    await body(archive, engine, materialized);
  } finally {
    await engine.close();
    rmSync(archive, { recursive: true, force: true });
  }
}

describe('the dedupe the views of a full run share (ADR 016)', () => {
  it('writes the cells of one dedupe per view, and frees the kept copies after the run (property)', async () => {
    await fc.assert(
      fc.asyncProperty(streamArb, async (stream) => {
        await withArchive(async (archive, engine, materialized) => {
          const lines = stream.records.map((r) => toArchiveLine(normalize(r)));
          writeFileSync(path.join(archive, 'a.ndjson'), lines.join('\n') + '\n');
          // An archiver rewrite: the same lines again in another object.
          writeFileSync(path.join(archive, 'b.ndjson'), lines.slice(0, 5).join('\n') + '\n');
          const shared = deps(engine);
          const alone = deps(withoutMaterialize(engine));
          const a = await runBatch(shared, { full: true });
          const b = await runBatch(alone, { full: true });
          expect(a.status).toBe('published');
          expect({ ...a, durationMs: 0 }).toEqual({ ...b, durationMs: 0 });
          expect(cellsOf(shared.batch, a.version!)).toEqual(cellsOf(alone.batch, b.version!));
          expect(materialized).toHaveLength(1);
          expect(await runTables(engine)).toBe(0);
        });
      }),
      { numRuns: 15, endOnFailure: true },
    );
  }, 300_000);

  it('incremental runs: one dedupe for every view and the reconciliation, the cells and reconciled cells of per-view dedupes (property, ADR 020)', async () => {
    /** A run's result without what legitimately differs (wall time, the order mismatches are listed in). */
    const comparable = (r: BatchRunResult) => ({
      ...r,
      durationMs: 0,
      reconciliation: r.reconciliation && {
        ...r.reconciliation,
        mismatches: [...r.reconciliation.mismatches].map((m) => JSON.stringify(m)).sort(),
      },
    });
    await fc.assert(
      fc.asyncProperty(
        streamArb,
        fc.array(fc.nat(), { minLength: 1, maxLength: 3 }),
        async (stream, picks) => {
          const events = stream.records.map((r) => normalize(r)).sort((a, b) => a.arrivedMs - b.arrivedMs);
          const last = Math.floor(events.at(-1)!.arrivedMs / ARRIVAL_BUCKET_MS) + 1;
          const first = Math.floor(events[0].arrivedMs / ARRIVAL_BUCKET_MS);
          const cutoffs = [
            ...new Set([
              ...picks.map((p) => (first + (p % (last - first + 1))) * ARRIVAL_BUCKET_MS),
              last * ARRIVAL_BUCKET_MS,
            ]),
          ].sort((a, b) => a - b);
          await withArchive(async (archive, engine, materialized) => {
            const shared = deps(engine);
            const alone = deps(withoutMaterialize(engine));
            let archived = 0;
            for (const [i, cutoff] of cutoffs.entries()) {
              const upTo = events.filter((e) => e.arrivedMs < cutoff).length;
              // One object per event hour, so objects have narrow event-time ranges and each view's
              // buckets select a different subset of them. The archiver may write a line twice: the
              // first events again in the second step's objects.
              const step = [
                ...events.slice(archived, upTo),
                ...(i === 1 ? events.slice(0, Math.min(3, archived)) : []),
              ];
              const byHour = new Map<number, string[]>();
              for (const e of step) {
                const hour = Math.floor(e.timeMs / 3_600_000);
                byHour.set(hour, [...(byHour.get(hour) ?? []), toArchiveLine(e)]);
              }
              for (const [hour, lines] of byHour)
                writeFileSync(path.join(archive, `part-${i}-${hour}.ndjson`), lines.join('\n') + '\n');
              archived = upTo;
              for (const d of [shared, alone]) (d.watermark as FixedWatermark).value = cutoff;
              materialized.length = 0;
              reconciled.length = 0;
              const a = await runBatch(shared, {});
              const sharedCells = [...reconciled].sort();
              const sharedMaterialized = materialized.length;
              reconciled.length = 0;
              const b = await runBatch(alone, {});
              expect(a.status).toBe('published');
              expect(comparable(a)).toEqual(comparable(b));
              expect(cellsOf(shared.batch, a.version!)).toEqual(cellsOf(alone.batch, b.version!));
              expect(sharedCells).toEqual([...reconciled].sort());
              // At most one dedupe a run, and none left behind.
              expect(sharedMaterialized).toBeLessThanOrEqual(1);
              expect(await runTables(engine)).toBe(0);
            }
          });
        },
      ),
      { numRuns: 15, endOnFailure: true },
    );
  }, 300_000);

  it('frees the kept copies when a view query fails, and the run throws', async () => {
    const archive = path.join(root, 'fails');
    mkdirSync(archive, { recursive: true });
    const [stream] = fc.sample(streamArb, { numRuns: 1, seed: 7 });
    writeFileSync(
      path.join(archive, 'a.ndjson'),
      stream.records.map((r) => toArchiveLine(normalize(r))).join('\n') + '\n',
    );
    const engine = new DuckDbQueryEngine(archive);
    const run = engine.run.bind(engine);
    const runInChunks = engine.runInChunks.bind(engine);
    const fails = (sql: string) => sql.includes('FROM run_rows_');
    engine.run = (sql) => (fails(sql) ? Promise.reject(new Error('injected')) : run(sql));
    engine.runInChunks = (sql, onRows) =>
      fails(sql) ? Promise.reject(new Error('injected')) : runInChunks(sql, onRows);
    try {
      await expect(runBatch(deps(engine), { full: true })).rejects.toThrow('injected');
      engine.run = run;
      expect(await runTables(engine)).toBe(0);
    } finally {
      await engine.close();
    }
  });
});
