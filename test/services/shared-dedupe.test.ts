import fc from 'fast-check';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DuckDbQueryEngine } from '../../lambdas/adapters/duckdb/duckdb-query-engine';
import { toArchiveLine } from '../../lambdas/core/event';
import { encodeRow } from '../../lambdas/core/measures';
import { runBatch, type BatchLayerDeps } from '../../lambdas/services/batch-layer';
import type { QueryEngine } from '../../lambdas/ports/query-engine';
import { ARRIVAL_BUCKET_MS, BASE_TIME, normalize, streamArb, TEST_VIEWS } from '../fixtures/streams';
import {
  FixedWatermark,
  InMemoryBatchViewStore,
  InMemoryControlStore,
  InMemorySpeedRowStore,
  ManualClock,
} from './in-memory-stores';

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

describe('the dedupe the views of a full run share (ADR 016)', () => {
  it('writes the cells of one dedupe per view, and frees the kept copies after the run (property)', async () => {
    await fc.assert(
      fc.asyncProperty(streamArb, async (stream) => {
        const archive = path.join(root, `a${n++}`);
        mkdirSync(archive, { recursive: true });
        const lines = stream.records.map((r) => toArchiveLine(normalize(r)));
        writeFileSync(path.join(archive, 'a.ndjson'), lines.join('\n') + '\n');
        // An archiver rewrite: the same lines again in another object.
        writeFileSync(path.join(archive, 'b.ndjson'), lines.slice(0, 5).join('\n') + '\n');
        const engine = new DuckDbQueryEngine(archive);
        const materialized: string[] = [];
        const materialize = engine.materialize.bind(engine);
        engine.materialize = (sql) => {
          materialized.push(sql);
          return materialize(sql);
        };
        try {
          const shared = deps(engine);
          const alone = deps(withoutMaterialize(engine));
          const a = await runBatch(shared, { full: true });
          const b = await runBatch(alone, { full: true });
          expect(a.status).toBe('published');
          expect({ ...a, durationMs: 0 }).toEqual({ ...b, durationMs: 0 });
          expect(cellsOf(shared.batch, a.version!)).toEqual(cellsOf(alone.batch, b.version!));
          expect(materialized).toHaveLength(1);
          expect(await runTables(engine)).toBe(0);
        } finally {
          await engine.close();
          rmSync(archive, { recursive: true, force: true });
        }
      }),
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
    engine.run = (sql) => (sql.includes('FROM run_rows_') ? Promise.reject(new Error('injected')) : run(sql));
    try {
      await expect(runBatch(deps(engine), { full: true })).rejects.toThrow('injected');
      engine.run = run;
      expect(await runTables(engine)).toBe(0);
    } finally {
      await engine.close();
    }
  });
});
