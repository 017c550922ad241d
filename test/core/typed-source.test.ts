import fc from 'fast-check';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FolderCompactedStore } from '../../lambdas/adapters/duckdb/compacted-archive-store';
import { DuckDbQueryEngine } from '../../lambdas/adapters/duckdb/duckdb-query-engine';
import { toArchiveLine } from '../../lambdas/core/event';
import { type BatchResultRow } from '../../lambdas/core/batch-result-row';
import { batchSql, keptCopiesSql, touchedBucketsSql } from '../../lambdas/core/batch-sql';
import { fieldsRead } from '../../lambdas/core/typed-columns';
import { BASE_TIME, editField, normalize, streamArb, TEST_VIEWS } from '../fixtures/streams';

/**
 * ADR 013: a typed source (the copy's id, arrival, type, time and the views' fields as columns,
 * from compacted Parquet or extracted from NDJSON with every path at once) must give exactly the
 * rows the untyped batch SQL gives over the raw lines: same copies kept, same values admitted.
 */
const root = mkdtempSync(path.join(tmpdir(), 'streamfold-typed-source-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const ALL_FIELDS = [...new Set(TEST_VIEWS.flatMap(fieldsRead))].sort();

/** Values a field may hold in an archived line, including ones no view admits. */
const oddValueArb = fc.oneof(
  fc.constantFrom<unknown>(
    null,
    true,
    false,
    0,
    -1,
    1.5,
    1e21,
    '',
    '/',
    'mobile',
    'DE',
    '12',
    { a: 1 },
    [1, 2],
  ),
  fc.string({ maxLength: 4 }),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);

/** Archive lines of a random stream, some fields replaced by odd values or removed, some ids reused across types. */
const archiveArb = fc
  .record({
    stream: streamArb,
    edits: fc.array(
      fc.record({
        line: fc.nat(),
        field: fc.constantFrom(...ALL_FIELDS, 'type', 'id'),
        value: fc.option(oddValueArb, { freq: 4 }),
      }),
      { maxLength: 12 },
    ),
  })
  .map(({ stream, edits }) => {
    const lines = stream.records.map(
      (r) => JSON.parse(toArchiveLine(normalize(r))) as Record<string, unknown>,
    );
    for (const { line, field, value } of edits) {
      const target = lines[line % lines.length];
      // An edited id reuses another line's id (a copy of another type); type becomes another view's.
      const v =
        field === 'id' ? lines[(line * 7) % lines.length].id : field === 'type' ? (value ?? 'temp') : value;
      editField(target, field, v, field === 'id' || field === 'type');
    }
    return lines.map((l) => JSON.stringify(l));
  });

const sorted = (rows: readonly BatchResultRow[]) =>
  rows.map((r) => JSON.stringify(r, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))).sort();

let run = 0;

describe('typed sources (ADR 013)', () => {
  it('give the rows of the untyped batch SQL, from NDJSON, typed Parquet, legacy Parquet and with fields read from the line (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        archiveArb,
        fc.constantFrom('raw', 'typed', 'legacy', 'some-typed'),
        fc.subarray(ALL_FIELDS),
        async (lines, compaction, sqlFields) => {
          const dir = path.join(root, `r${run++}`);
          const archive = path.join(dir, 'archive');
          mkdirSync(archive, { recursive: true });
          // Two objects, the second with a few lines again (an archiver rewrite).
          writeFileSync(path.join(archive, 'a.ndjson'), lines.join('\n') + '\n');
          writeFileSync(path.join(archive, 'b.ndjson'), lines.slice(0, 3).join('\n') + '\n');
          const engine = new DuckDbQueryEngine(
            archive,
            undefined,
            compaction === 'raw'
              ? undefined
              : { store: new FolderCompactedStore(path.join(dir, 'c')), periodMs: 1000 },
          );
          try {
            const cutoffMs = BASE_TIME + 3_600_000;
            if (compaction !== 'raw') {
              const stored =
                compaction === 'typed' ? ALL_FIELDS : compaction === 'some-typed' ? sqlFields : undefined;
              const result = await engine.compact(Date.UTC(2100, 0, 1), stored);
              expect(result.status).toBe('committed');
            }
            const untypedSource = (await engine.source(cutoffMs))!;
            const typedSource = (await engine.source(cutoffMs, undefined, undefined, undefined, ALL_FIELDS))!;
            // ADR 016: the kept copies computed once for every view of a run.
            const kept = await engine.materialize(keptCopiesSql(typedSource, cutoffMs, ALL_FIELDS));
            const onKept = { fields: ALL_FIELDS, keptBefore: cutoffMs };
            for (const view of TEST_VIEWS) {
              const expected = sorted(
                await engine.run(batchSql(view, 'duckdb', untypedSource, cutoffMs).sql),
              );
              // Every field as a column, and only some (the others read from the line in the batch SQL).
              for (const fields of [ALL_FIELDS, sqlFields]) {
                const sql = batchSql(view, 'duckdb', typedSource, cutoffMs, undefined, undefined, {
                  fields,
                }).sql;
                expect(sorted(await engine.run(sql))).toEqual(expected);
              }
              expect(
                sorted(
                  await engine.run(
                    batchSql(view, 'duckdb', kept.source, cutoffMs, undefined, undefined, onKept).sql,
                  ),
                ),
              ).toEqual(expected);
              const window = [BASE_TIME - 3_600_000, cutoffMs] as const;
              expect(
                sorted(
                  await engine.run(
                    batchSql(view, 'duckdb', typedSource, cutoffMs, window[0], undefined, {
                      fields: ALL_FIELDS,
                    }).sql,
                  ),
                ),
              ).toEqual(
                sorted(await engine.run(batchSql(view, 'duckdb', untypedSource, cutoffMs, window[0]).sql)),
              );
              expect(
                sorted(
                  await engine.run(
                    batchSql(view, 'duckdb', kept.source, cutoffMs, window[0], undefined, onKept).sql,
                  ),
                ),
              ).toEqual(
                sorted(await engine.run(batchSql(view, 'duckdb', untypedSource, cutoffMs, window[0]).sql)),
              );
              expect(
                sorted(
                  await engine.run(
                    touchedBucketsSql(view, 'duckdb', typedSource, window[0], window[1], {
                      fields: sqlFields,
                    }).sql,
                  ),
                ),
              ).toEqual(
                sorted(
                  await engine.run(
                    touchedBucketsSql(view, 'duckdb', untypedSource, window[0], window[1]).sql,
                  ),
                ),
              );
            }
            await kept.release();
          } finally {
            await engine.close();
            rmSync(dir, { recursive: true, force: true });
          }
        },
      ),
      // No shrinking: each run is a DuckDB round trip, and the first counterexample says enough.
      { numRuns: 40, endOnFailure: true },
    );
  }, 300_000);

  it('fails if the kept copies are read for another cutoff, or lack a field the view reads', () => {
    const view = TEST_VIEWS[0];
    const other = ALL_FIELDS.filter((f) => !fieldsRead(view).includes(f));
    expect(() =>
      batchSql(view, 'duckdb', 'SELECT 1', BASE_TIME, undefined, undefined, {
        fields: ALL_FIELDS,
        keptBefore: BASE_TIME - 1,
      }),
    ).toThrow(/kept before .* not before the cutoff/);
    expect(() =>
      batchSql(view, 'duckdb', 'SELECT 1', BASE_TIME, undefined, undefined, {
        fields: other,
        keptBefore: BASE_TIME,
      }),
    ).toThrow(/carries no line/);
  });

  it('reads a typed source without parsing JSON when the compacted files store every field the view reads', async () => {
    const dir = path.join(root, 'plan');
    const archive = path.join(dir, 'archive');
    mkdirSync(archive, { recursive: true });
    writeFileSync(
      path.join(archive, 'a.ndjson'),
      JSON.stringify({
        id: 'e1',
        type: 'temp',
        dev: 'd1',
        t: 1,
        _tm: BASE_TIME,
        _am: BASE_TIME,
        _shard: 's',
        _seq: '1',
        _pk: 'p',
      }) + '\n',
    );
    const engine = new DuckDbQueryEngine(archive, undefined, {
      store: new FolderCompactedStore(path.join(dir, 'c')),
      periodMs: 1000,
    });
    try {
      await engine.compact(Date.UTC(2100, 0, 1), ALL_FIELDS);
      const source = (await engine.source(BASE_TIME + 1, undefined, undefined, undefined, ALL_FIELDS))!;
      const temps = TEST_VIEWS.find((v) => v.name === 'temps')!;
      const sql = batchSql(temps, 'duckdb', source, BASE_TIME + 1, undefined, undefined, {
        fields: ALL_FIELDS,
      }).sql;
      expect(sql).not.toMatch(/json_extract|json_type|read_json/);
      expect(sql).toContain('read_parquet');
      const [row] = await engine.run(sql);
      expect(Number(row.m0)).toBe(1);
    } finally {
      await engine.close();
    }
  });
});
