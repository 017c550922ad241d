import fc from 'fast-check';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FolderCompactedStore } from '../../lambdas/adapters/duckdb/compacted-archive-store';
import { DuckDbQueryEngine } from '../../lambdas/adapters/duckdb/duckdb-query-engine';
import { loadManifests, type CompactionManifest } from '../../lambdas/core/compaction';
import { toArchiveLine } from '../../lambdas/core/event';
import {
  athenaCompactedSnapshot,
  athenaSource,
  duckdbTypedRows,
} from '../../lambdas/core/archive-source-sql';
import { type BatchResultRow } from '../../lambdas/core/batch-result-row';
import { batchSql, touchedBucketsSql } from '../../lambdas/core/batch-sql';
import { compactedTableColumns, typedFields } from '../../lambdas/core/typed-columns';
import type { ViewDefinition } from '../../lambdas/core/view';
import { runBatch } from '../../lambdas/services/batch-layer';
import {
  advanceCompaction,
  startCompaction,
  type CloudCompactionDeps,
  type CompactionStep,
} from '../../lambdas/services/cloud-compaction';
import { AthenaInDuckDb, FolderCompactedObjects } from '../fixtures/athena-in-duckdb';
import {
  ARRIVAL_BUCKET_MS,
  BASE_TIME,
  editField,
  normalize,
  streamArb,
  TEST_VIEWS,
} from '../fixtures/streams';
import {
  FixedWatermark,
  InMemoryBatchViewStore,
  InMemoryControlStore,
  InMemorySpeedRowStore,
  ManualClock,
} from './in-memory-stores';

/**
 * ADR 019: the cloud's compaction writes the typed columns the local one writes, and the Athena
 * typed source reads them with the local fallback rules. Athena's part runs in DuckDB
 * (test/fixtures/athena-in-duckdb.ts: the generated Athena SQL as it is, four Trino functions as
 * macros, the Glue table declaring compactedTableColumns and reading Parquet by column name), so
 * this checks the SQL's shape and the columns' plumbing, not Trino's own JSON functions.
 */
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const PARTITION_DAY = Date.UTC(2026, 10, 24);
const FIELDS = typedFields(TEST_VIEWS);
/** An older deployment's views: its generations store these fields only. */
const OLDER_VIEWS: ViewDefinition[] = [TEST_VIEWS[2]];
const roots: string[] = [];
const closers: { close(): Promise<void> }[] = [];
afterAll(async () => {
  for (const c of closers) await c.close();
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

/** Number texts JSON.stringify never writes (trailing zeros, more digits than a double holds, exponents). */
const RAW_NUMBERS = [
  '1.10',
  '0.1',
  '-0.000000001',
  '123456789.123456789',
  '99999999999999999.5',
  '1e2',
  '12345678901234567890',
  '-0',
  '0.30000000000000004',
];
const RAW = (text: string) => `@@raw@@${text}`;

/** What a field may hold: odd numbers, numbers as strings, null, nested values, or nothing at all. */
const oddValueArb = fc.oneof(
  fc.constantFrom<unknown>(
    ...RAW_NUMBERS.map(RAW),
    '12',
    '1.10',
    '',
    null,
    true,
    false,
    0,
    -7,
    { a: 1 },
    [1],
    'mobile',
    'DE',
    '/',
  ),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);

/** Archive lines of a random stream (duplicates across shards), some fields edited or removed. */
const linesArb = fc
  .record({
    stream: streamArb,
    edits: fc.array(
      fc.record({
        line: fc.nat(),
        field: fc.constantFrom(...FIELDS),
        value: fc.option(oddValueArb, { freq: 3 }),
      }),
      { maxLength: 20 },
    ),
  })
  .map(({ stream, edits }) => {
    const lines = stream.records.map(
      (r) => JSON.parse(toArchiveLine(normalize(r))) as Record<string, unknown>,
    );
    for (const { line, field, value } of edits) {
      editField(lines[line % lines.length], field, value);
    }
    return lines.map((l) => JSON.stringify(l).replace(/"@@raw@@([^"]*)"/g, '$1'));
  });

const sorted = (rows: readonly BatchResultRow[]) =>
  rows.map((r) => JSON.stringify(r, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))).sort();

/** A bucket folder holding four raw objects (arrival hours 00 to 03) with these lines spread over them. */
function bucketWith(lines: readonly string[], objectOf: (i: number) => number) {
  const dir = mkdtempSync(path.join(tmpdir(), 'streamfold-cloud-typed-'));
  roots.push(dir);
  const athena = new AthenaInDuckDb(dir, compactedTableColumns(FIELDS));
  closers.push(athena);
  const store = new FolderCompactedObjects(path.join(dir, 'compacted'));
  const keys: string[] = [];
  for (let k = 0; k < 4; k++) {
    const key = `dt=2026-11-24/hour=0${k}/o${k}.ndjson`;
    keys.push(key);
    mkdirSync(path.join(dir, 'events', path.dirname(key)), { recursive: true });
    const mine = lines.filter((_, i) => objectOf(i) === k);
    writeFileSync(path.join(dir, 'events', key), mine.length > 0 ? mine.join('\n') + '\n' : '');
  }
  const deps = (views?: readonly ViewDefinition[]): CloudCompactionDeps => ({
    store,
    raw: { listKeys: async () => keys },
    queries: athena,
    tables: athena.tables,
    compactedLocation: athena.compactedLocation,
    clock: new ManualClock(PARTITION_DAY + DAY),
    periodMs: HOUR,
    // One object a generation: the oldest first.
    maxObjects: 1,
    ...(views === undefined ? {} : { views }),
  });
  return { dir, athena, store, keys, deps };
}

/** Runs a cloud compaction to its end (every query already finished, as in the fixture). */
async function compactOnce(deps: CloudCompactionDeps, cutoffMs: number): Promise<CompactionStep> {
  let step = await startCompaction(deps, cutoffMs);
  while (step.phase !== 'done') step = await advanceCompaction(deps, step);
  return step;
}

/** The column names of a generation's Parquet files (partition columns are in the path, not the file). */
async function parquetColumns(
  athena: AthenaInDuckDb,
  compactedDir: string,
  m: CompactionManifest,
): Promise<string[]> {
  const files = m.files.map((f) => path.join(compactedDir, f.key));
  if (files.length === 0) return [];
  const rows = await athena.query(
    `SELECT DISTINCT name FROM parquet_schema([${files.map((f) => `'${f}'`).join(', ')}]) WHERE name <> 'duckdb_schema'`,
  );
  return rows.map((r) => String(r.name)).sort();
}

describe('typed columns in the cloud (ADR 019)', () => {
  it('the typed Athena source over legacy, partly typed and typed generations and the raw tail gives the line values and the line-based cells (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        linesArb,
        fc.array(fc.nat(3), { minLength: 64, maxLength: 64 }),
        fc.nat(),
        async (lines, placement, cut) => {
          const b = bucketWith(lines, (i) => placement[i % placement.length]);
          // Hours 00, 01, 02 end before 03:00: compacted one a generation; hour 03 stays raw.
          const compactionCutoff = PARTITION_DAY + 3 * HOUR + 1_000;
          const steps = [
            await compactOnce(b.deps(), compactionCutoff), // before typed columns: legacy
            await compactOnce(b.deps(OLDER_VIEWS), compactionCutoff), // an older view set's fields
            await compactOnce(b.deps(TEST_VIEWS), compactionCutoff), // today's views
          ];
          for (const step of steps)
            expect(step).toMatchObject({ phase: 'done', result: { status: 'committed' } });
          const manifests = await loadManifests(b.store);
          expect(manifests.map((m) => m.typedFields)).toEqual([undefined, typedFields(OLDER_VIEWS), FIELDS]);
          const snapshot = athenaCompactedSnapshot(b.athena.tables, manifests, b.keys);
          expect(snapshot.uncovered.ranges).toEqual([
            { from: { dt: '2026-11-24', hour: '03' }, to: { dt: '2026-11-24', hour: '03' } },
          ]);
          const { database, table } = b.athena.tables;
          const everything = BASE_TIME + 30 * DAY;

          // Every typed column, from whichever side, is what the local engine extracts from the line.
          const cloudRows = await b.athena.query(
            `SELECT * FROM (${athenaSource(database, table, everything, undefined, snapshot, undefined, FIELDS)}) s`,
          );
          const localRows = await b.athena.query(
            duckdbTypedRows(FIELDS, `(SELECT line FROM ${database}.${table}) raw_lines`),
          );
          expect(sorted(cloudRows)).toEqual(sorted(localRows));

          // The cells: typed reads (every field, and a field left to the line) = the untyped SQL over the lines.
          const ams = lines.map((l) => (JSON.parse(l) as { _am: number })._am).sort((x, y) => x - y);
          const cutoffMs = ams[cut % ams.length] + (cut % 2);
          const from = cutoffMs - 10 * 60_000;
          const typed = (arrivedFromMs?: number) =>
            athenaSource(database, table, cutoffMs, arrivedFromMs, snapshot, undefined, FIELDS);
          const raw = `SELECT line FROM ${database}.${table}`;
          for (const view of TEST_VIEWS) {
            const expected = sorted(await b.athena.query(batchSql(view, 'duckdb', raw, cutoffMs).sql));
            const all = { fields: FIELDS };
            expect(
              sorted(
                await b.athena.query(
                  batchSql(view, 'duckdb', typed(), cutoffMs, undefined, undefined, all).sql,
                ),
              ),
              view.name,
            ).toEqual(expected);
            const notPage = { fields: FIELDS.filter((f) => f !== 'page' && f !== 't') };
            expect(
              sorted(
                await b.athena.query(
                  batchSql(view, 'duckdb', typed(), cutoffMs, undefined, undefined, notPage).sql,
                ),
              ),
            ).toEqual(expected);
            expect(
              sorted(
                await b.athena.query(
                  batchSql(view, 'duckdb', typed(from), cutoffMs, from, undefined, all).sql,
                ),
              ),
            ).toEqual(sorted(await b.athena.query(batchSql(view, 'duckdb', raw, cutoffMs, from).sql)));
            expect(
              sorted(
                await b.athena.query(touchedBucketsSql(view, 'duckdb', typed(from), from, cutoffMs, all).sql),
              ),
            ).toEqual(
              sorted(await b.athena.query(touchedBucketsSql(view, 'duckdb', raw, from, cutoffMs).sql)),
            );
          }
        },
      ),
      { numRuns: 12 },
    );
    // About 2.5 s a run on an idle machine (three compactions and 17 queries): time for a busy one.
  }, 300_000);

  it('local and cloud compactions store the same typed columns, those typedFields gives and the Glue table declares', async () => {
    const lines = [
      {
        id: 'a',
        type: 'click',
        page: '/',
        amount: RAW('1.10'),
        latency: 3,
        user: 'u',
        device: 'mobile',
        geo: { country: 'DE' },
      },
      { id: 'b', type: 'temp', dev: 'd1', t: '12' },
      { id: 'c', type: 'click', page: '/x', amount: null },
    ].map((e, i) =>
      JSON.stringify({ ...e, _tm: BASE_TIME + i, _am: BASE_TIME + i, _shard: 's', _seq: String(i) }).replace(
        /"@@raw@@([^"]*)"/g,
        '$1',
      ),
    );
    for (const views of [TEST_VIEWS, OLDER_VIEWS, [TEST_VIEWS[1]]]) {
      // The cloud: one generation through the Athena steps.
      const b = bucketWith(lines, () => 0);
      const cloud = await compactOnce(b.deps(views), PARTITION_DAY + 3 * HOUR);
      expect(cloud).toMatchObject({ result: { status: 'committed' } });
      const [cloudManifest] = await loadManifests(b.store);

      // Locally: a batch run of the same views compacts before it reads.
      const local = path.join(b.dir, 'local');
      mkdirSync(path.join(local, 'archive'), { recursive: true });
      writeFileSync(path.join(local, 'archive', 'part-0.ndjson'), lines.join('\n') + '\n');
      const folder = new FolderCompactedStore(path.join(local, 'compacted'));
      const engine = new DuckDbQueryEngine(path.join(local, 'archive'), undefined, {
        store: folder,
        periodMs: 60_000,
      });
      closers.push(engine);
      const result = await runBatch(
        {
          views,
          engine,
          compactor: engine,
          watermark: new FixedWatermark(BASE_TIME + DAY),
          batch: new InMemoryBatchViewStore(),
          control: new InMemoryControlStore(),
          speed: new InMemorySpeedRowStore(views),
          clock: new ManualClock(BASE_TIME + DAY),
          arrivalBucketMs: ARRIVAL_BUCKET_MS,
        },
        {},
      );
      expect(result.compaction).toMatchObject({ status: 'committed' });
      const [localManifest] = await loadManifests(folder);

      expect(cloudManifest.typedFields).toEqual(typedFields(views));
      expect(localManifest.typedFields).toEqual(cloudManifest.typedFields);
      const glue = compactedTableColumns(typedFields(views))
        .map((c) => c.name)
        .sort();
      expect(await parquetColumns(b.athena, path.join(b.dir, 'compacted'), cloudManifest)).toEqual(glue);
      expect(await parquetColumns(b.athena, path.join(local, 'compacted'), localManifest)).toEqual(glue);
      expect(readdirSync(path.join(local, 'compacted')).length).toBeGreaterThan(0);
    }
  });
});
