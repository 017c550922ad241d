import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDbQueryEngine } from '../../lambdas/adapters/duckdb/duckdb-query-engine';
import { selectionOf } from '../../lambdas/core/batch-lineage';
import { normalizeStreamRecord, toArchiveLine } from '../../lambdas/core/event';
import { encodeRow } from '../../lambdas/core/measures';
import { batchSql } from '../../lambdas/core/batch-sql';
import type { QueryEngine } from '../../lambdas/ports/query-engine';
import { runBatch } from '../../lambdas/services/batch-layer';
import { TEST_VIEWS } from '../fixtures/streams';
import {
  FixedWatermark,
  InMemoryBatchViewStore,
  InMemoryControlStore,
  InMemorySpeedRowStore,
  ManualClock,
} from './in-memory-stores';

/**
 * A full run's cells reach the batch table a chunk at a time, and the engine neither sorts the
 * result nor builds sketch texts with an ordered aggregate: with either, DuckDB held a view's
 * whole result (or every group's sketch input) in memory it cannot spill, and a full run over 30
 * days of 50 pages (2.2M cells) failed under the runtime's 256 MB limit, and under 1 GB.
 */
const view = TEST_VIEWS.find((v) => v.name === 'clicks')!;
const CELLS = 6_000;
const START = Date.UTC(2026, 10, 1);
const root = mkdtempSync(path.join(tmpdir(), 'streamfold-chunked-'));
const archiveDir = path.join(root, 'archive');

beforeAll(() => {
  mkdirSync(archiveDir, { recursive: true });
  const lines: string[] = [];
  // Each cell its own page and minute, with several users each, so every cell carries a sketch.
  for (let i = 0; i < CELLS * 3; i++) {
    const cell = i % CELLS;
    const body = {
      id: `e${i}`,
      type: 'click',
      time: new Date(START + (cell % 500) * 60_000 + (i % 60) * 100).toISOString(),
      page: `/p${Math.floor(cell / 500)}-${cell}`,
      user: `u${i}`,
      amount: (i % 100) / 10,
      latency: i % 997,
    };
    const position = {
      shardId: 'shardId-000000000000',
      sequenceNumber: String(1000 + i),
      partitionKey: `e${i}`,
      arrivedMs: START + 600 * 60_000 + i,
    };
    lines.push(toArchiveLine(normalizeStreamRecord(JSON.stringify(body), position, TEST_VIEWS)));
  }
  writeFileSync(path.join(archiveDir, 'part-000.ndjson'), lines.join('\n') + '\n');
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A batch store that records how many cells each writeCells call of the view carried. */
class RecordingBatchStore extends InMemoryBatchViewStore {
  readonly calls: number[] = [];
  override async writeCells(...args: Parameters<InMemoryBatchViewStore['writeCells']>): Promise<void> {
    if (args[1].name === view.name) this.calls.push(args[2].length);
    return super.writeCells(...args);
  }
}

/** One full run over the archive with `engine`; the published cells of the view, and the write calls. */
async function fullRun(engine: QueryEngine): Promise<{ cells: string[]; calls: number[] }> {
  const batch = new RecordingBatchStore();
  const control = new InMemoryControlStore();
  const end = START + 700 * 60_000;
  await runBatch({
    views: TEST_VIEWS,
    engine,
    watermark: new FixedWatermark(end),
    batch,
    control,
    speed: new InMemorySpeedRowStore(TEST_VIEWS),
    clock: new ManualClock(end),
    arrivalBucketMs: 60_000,
  });
  const cells = batch
    .snapshot(control.pointer!.version, view.name, selectionOf(control.pointer!.lineage, view.name))
    .map((c) => `${JSON.stringify(c.key)}|${c.bucketMs}|${JSON.stringify(encodeRow(c.state))}`)
    .sort();
  return { cells, calls: batch.calls };
}

describe('a full batch run over many cells (DuckDB)', () => {
  it('writes the cells a chunk at a time, and they equal the cells of one collected result', async () => {
    const streaming = new DuckDbQueryEngine(archiveDir);
    // The same engine without runInChunks: the batch layer collects the result with run().
    const collecting = new DuckDbQueryEngine(archiveDir);
    const collect: QueryEngine = {
      dialect: collecting.dialect,
      ...(collecting.prunesByEventTime !== undefined
        ? { prunesByEventTime: collecting.prunesByEventTime }
        : {}),
      source: (...a) => collecting.source(...a),
      run: (sql) => collecting.run(sql),
      materialize: (sql) => collecting.materialize(sql),
    };
    try {
      const chunked = await fullRun(streaming);
      const whole = await fullRun(collect);
      expect(chunked.cells).toHaveLength(CELLS);
      expect(chunked.cells).toEqual(whole.cells);
      expect(whole.calls).toEqual([CELLS]);
      // DuckDB streams chunks of 2,048 rows.
      expect(chunked.calls.length).toBeGreaterThanOrEqual(3);
      expect(Math.max(...chunked.calls)).toBeLessThanOrEqual(2048);
      expect(chunked.calls.reduce((a, b) => a + b, 0)).toBe(CELLS);
    } finally {
      await streaming.close();
      await collecting.close();
    }
  });

  it('asks neither DuckDB nor Athena to sort the result or to order a sketch aggregate', async () => {
    // Neither shows at a test's size (6,000 cells ran under 64 MB either way): the memory they
    // took grows with the run's cells and events, so the rule is pinned on the SQL itself. Only
    // the copy ranking's window orders (row_number() OVER (PARTITION BY eid ORDER BY ...)).
    const engine = new DuckDbQueryEngine(archiveDir);
    try {
      const source = (await engine.source())!;
      for (const dialect of ['duckdb', 'athena'] as const)
        for (const v of TEST_VIEWS) {
          const sql = batchSql(v, dialect, source, START + 700 * 60_000).sql;
          expect(
            sql.replace(/OVER \(PARTITION BY eid ORDER BY [^)]*\)/g, ''),
            `${v.name} in ${dialect}`,
          ).not.toMatch(/ORDER BY/);
        }
    } finally {
      await engine.close();
    }
  });
});
