import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { rawSelection } from '../../lambdas/core/compaction';
import { athenaSource, type AthenaArchiveTables } from '../../lambdas/core/archive-source-sql';
import { batchSql } from '../../lambdas/core/batch-sql';
import {
  athenaAddPartitionsSql,
  athenaCompactedStatsSql,
  athenaCompactionPartitionsSql,
  athenaCompactionUnloadSql,
  UNLOAD_MAX_PARTITIONS,
} from '../../lambdas/core/compaction-sql';
import { typedFieldColumns } from '../../lambdas/core/typed-columns';
import { compactedTableColumns, typedFields } from '../../lambdas/core/typed-columns';
import { TEST_VIEWS } from '../fixtures/streams';

const GOLDEN = path.join(__dirname, '..', 'fixtures', 'sql');
const CUTOFF = Date.UTC(2026, 11, 2, 12);
const TABLES: AthenaArchiveTables = {
  database: 'streamfold_db',
  table: 'events',
  compactedTable: 'compacted',
  rawLocation: 's3://archive-bucket/events/',
};
/** Two whole days of arrivals, one partition where an older generation covers one object, then the raw tail. */
const LISTED = [
  'dt=2026-11-30/hour=00/a.gz',
  'dt=2026-11-30/hour=23/b.gz',
  'dt=2026-12-01/hour=05/c.gz',
  'dt=2026-12-01/hour=05/d.gz',
  'dt=2026-12-01/hour=23/e.gz',
  'dt=2026-12-02/hour=01/f.gz',
];
const SELECTION = rawSelection(
  LISTED.filter((k) => k !== 'dt=2026-12-01/hour=05/c.gz' && !k.startsWith('dt=2026-12-02')),
  LISTED,
);
const HOURS = [
  { edt: '2026-11-29', ehr: '17' },
  { edt: '2026-11-30', ehr: '00' },
];

function golden(name: string, sql: string): void {
  const file = path.join(GOLDEN, name);
  // UPDATE_GOLDEN=1 rewrites the files; review their diff by eye before committing.
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(file, sql + '\n');
  expect(sql + '\n').toBe(readFileSync(file, 'utf8'));
}

/** Trino's spelling only: no DuckDB function or syntax. */
function trinoOnly(sql: string): void {
  expect(sql).not.toMatch(/json_extract_string|strftime|epoch_ms|read_json|read_parquet| \/\/ |COPY/);
}

describe('the Athena SQL of the cloud compaction (golden files in test/fixtures/sql)', () => {
  it('selects whole arrival partitions as ranges and partly covered ones by "$path"', () => {
    expect(SELECTION).toEqual({
      ranges: [
        { from: { dt: '2026-11-30', hour: '00' }, to: { dt: '2026-11-30', hour: '23' } },
        { from: { dt: '2026-12-01', hour: '23' }, to: { dt: '2026-12-01', hour: '23' } },
      ],
      keys: ['dt=2026-12-01/hour=05/d.gz'],
    });
  });

  it('finds the event-hour partitions and rows of the objects to compact', () => {
    const sql = athenaCompactionPartitionsSql(TABLES, SELECTION);
    golden('compaction-partitions.athena.sql', sql);
    trinoOnly(sql);
    expect(sql).toContain(`"$path" IN ('s3://archive-bucket/events/dt=2026-12-01/hour=05/d.gz')`);
    expect(sql).toContain(
      `format_datetime(from_unixtime(CAST(tm AS DOUBLE) / 1000, 'UTC'), 'yyyy-MM-dd') AS edt`,
    );
  });

  it('unloads ZSTD Parquet partitioned by event date and hour, at most 100 partitions per UNLOAD', () => {
    const sql = athenaCompactionUnloadSql(
      TABLES,
      SELECTION,
      HOURS,
      's3://archive-bucket/compacted/g=x/c=000/',
    );
    golden('compaction-unload.athena.sql', sql);
    trinoOnly(sql);
    expect(sql).toMatch(
      /^UNLOAD \(\n {2}SELECT line, tm, am, etype, edt, ehr\n[\s\S]*\n\) TO 's3:\/\/archive-bucket\/compacted\/g=x\/c=000\/' WITH \(format = 'PARQUET', compression = 'ZSTD', partitioned_by = ARRAY\['edt', 'ehr'\]\)$/,
    );
    const many = Array.from({ length: UNLOAD_MAX_PARTITIONS + 1 }, (_, h) => ({
      edt: '2026-12-01',
      ehr: String(h),
    }));
    expect(() => athenaCompactionUnloadSql(TABLES, SELECTION, many, 's3://b/c/')).toThrow(
      'an UNLOAD writes 1 to 100 partitions (given 101): split the generation',
    );
  });

  it('registers partitions with Hive DDL, idempotently', () => {
    const sql = athenaAddPartitionsSql(
      TABLES,
      HOURS.map((h) => ({
        g: 'x',
        ...h,
        location: `s3://archive-bucket/compacted/g=x/c=000/edt=${h.edt}/ehr=${h.ehr}/`,
      })),
    );
    golden('compaction-add-partitions.athena.sql', sql);
    expect(
      sql.startsWith('ALTER TABLE `streamfold_db`.`compacted` ADD IF NOT EXISTS\n  PARTITION (g = '),
    ).toBe(true);
  });

  it('counts each file of a generation folder', () => {
    golden('compaction-stats.athena.sql', athenaCompactedStatsSql(TABLES, 'x'));
  });

  it('reads committed generations from Parquet and only uncovered objects from NDJSON, in one UNION ALL', () => {
    const sql = athenaSource(
      'streamfold_db',
      'events',
      CUTOFF,
      CUTOFF - 3_600_000,
      {
        tables: TABLES,
        generations: ['0000000001-aaaa-1-1', '0000000002-bbbb-2-1'],
        uncovered: rawSelection(['dt=2026-12-01/hour=05/c.gz', 'dt=2026-12-02/hour=01/f.gz'], LISTED),
      },
      [{ fromMs: CUTOFF - 86_400_000, toMs: CUTOFF - 86_400_000 + 300_000 }],
    );
    golden('compaction-source.athena.sql', sql);
    trinoOnly(sql);
    expect(sql.split('UNION ALL').length).toBe(2);
    expect(sql).toContain(`g IN ('0000000001-aaaa-1-1', '0000000002-bbbb-2-1')`);
  });

  it('stays far below the 262,144-byte query string limit for a year of daily generations and a day of raw objects', () => {
    const day = (d: number) => new Date(Date.UTC(2026, 0, 1) + d * 86_400_000).toISOString().slice(0, 10);
    // 1,440 objects a day (a 60 s buffer, one partition an hour) for a year; all but the last day compacted.
    const listed: string[] = [];
    for (let d = 0; d < 365; d++)
      for (let h = 0; h < 24; h++)
        for (let i = 0; i < 60; i++)
          listed.push(
            `dt=${day(d)}/hour=${String(h).padStart(2, '0')}/streamfold-1-${day(d)}-${h}-${i}-0123456789abcdef0123456789abcdef.gz`,
          );
    const uncovered = listed.filter((k) => k.startsWith(`dt=${day(364)}`));
    const sql = athenaSource('streamfold_db', 'events', Date.UTC(2026, 11, 31, 12), undefined, {
      tables: TABLES,
      generations: Array.from(
        { length: 364 },
        (_, g) => `${String(g + 1).padStart(10, '0')}-0123456789abcdef-1767225600000-1`,
      ),
      uncovered: rawSelection(uncovered, listed),
    });
    expect(Buffer.byteLength(sql)).toBeLessThan(262_144 / 8);
  });
});

describe('the typed columns of the cloud compaction (ADR 019; golden files in test/fixtures/sql)', () => {
  const FIELDS = typedFields(TEST_VIEWS);
  /** Three kinds of committed generation: legacy (no typedFields), every field, and an older view set's one field. */
  const SNAPSHOT = {
    tables: TABLES,
    generations: ['0000000001-aaaa-1-1', '0000000002-bbbb-2-1', '0000000003-cccc-3-1', '0000000004-dddd-4-1'],
    uncovered: rawSelection(['dt=2026-12-02/hour=01/f.gz'], LISTED),
    typedFields: {
      '0000000002-bbbb-2-1': FIELDS,
      '0000000003-cccc-3-1': ['page'],
      '0000000004-dddd-4-1': FIELDS,
    },
  };

  it('unloads the columns the Glue table declares: the line, the meta columns, each field text and type, then the partitions', () => {
    const sql = athenaCompactionUnloadSql(
      TABLES,
      SELECTION,
      HOURS,
      's3://archive-bucket/compacted/g=x/c=000/',
      FIELDS,
    );
    golden('compaction-unload-typed.athena.sql', sql);
    trinoOnly(sql);
    const names = compactedTableColumns(FIELDS).map((c) => c.name);
    expect(sql.split('\n')[1]).toBe(`  SELECT ${[...names, 'edt', 'ehr'].join(', ')}`);
    expect(names).toContain(typedFieldColumns('geo.country').value);
    // Extracted with the expressions the untyped batch SQL uses.
    expect(sql).toContain(
      `json_extract_scalar(line, '$.geo.country') AS ${typedFieldColumns('geo.country').value}`,
    );
    expect(sql).toContain(`CASE substr(json_format(json_extract(line, '$.amount')), 1, 1) WHEN '"' THEN 's'`);
  });

  it('reads each set of stored columns in its own part, and what a generation does not store from its line', () => {
    const sql = athenaSource('streamfold_db', 'events', CUTOFF, undefined, SNAPSHOT, undefined, FIELDS);
    golden('compaction-source-typed.athena.sql', sql);
    trinoOnly(sql);
    const parts = sql.split('\nUNION ALL\n');
    // The raw tail, the legacy generation, the two with every field (one part), the one with `page`.
    expect(parts).toHaveLength(4);
    const [rawPart, legacy, typed, older] = parts;
    const page = typedFieldColumns('page');
    expect(rawPart).toContain(`json_extract_scalar(line, '$.page') AS ${page.value}`);
    expect(legacy).toContain(`g IN ('0000000001-aaaa-1-1')`);
    expect(legacy).toContain(`json_extract_scalar(line, '$.id') AS eid`);
    expect(legacy).toContain(`json_extract_scalar(line, '$.page') AS ${page.value}`);
    expect(typed).toContain(`g IN ('0000000002-bbbb-2-1', '0000000004-dddd-4-1')`);
    expect(typed).not.toContain('json_extract');
    expect(older).toContain(`g IN ('0000000003-cccc-3-1')`);
    expect(older).toMatch(new RegExp(`\\b${page.value},`));
    expect(older).toContain(`json_extract_scalar(line, '$.amount') AS ${typedFieldColumns('amount').value}`);
  });

  it('reads in one part the generations that store the same requested fields, whatever else they store', () => {
    const sql = athenaSource(
      'streamfold_db',
      'events',
      CUTOFF,
      undefined,
      {
        ...SNAPSHOT,
        typedFields: {
          '0000000002-bbbb-2-1': [...FIELDS, 'retired_field'],
          '0000000003-cccc-3-1': ['page', 'retired_field'],
          '0000000004-dddd-4-1': FIELDS,
        },
      },
      undefined,
      FIELDS,
    );
    const parts = sql.split('\nUNION ALL\n');
    expect(parts).toHaveLength(4);
    expect(parts[2]).toContain(`g IN ('0000000002-bbbb-2-1', '0000000004-dddd-4-1')`);
    expect(sql).not.toContain(typedFieldColumns('retired_field').value);
  });

  it('lets a view over a generation that stores its fields read no line (Trino prunes the column)', () => {
    const [view] = TEST_VIEWS;
    const source = athenaSource('streamfold_db', 'events', CUTOFF, undefined, SNAPSHOT, undefined, FIELDS);
    const sql = batchSql(view, 'athena', source, CUTOFF, undefined, undefined, { fields: FIELDS }).sql;
    golden('clicks-typed-compacted.athena.sql', sql);
    trinoOnly(sql);
    // After the source, nothing reads `line`: the typed columns carry every field the view reads.
    expect(sql.slice(sql.indexOf('kept AS ('))).not.toContain('line');
  });

  it('keeps a year of typed daily generations and a day of raw objects far below the query string limit', () => {
    const generations = Array.from(
      { length: 364 },
      (_, g) => `${String(g + 1).padStart(10, '0')}-0123456789abcdef-1767225600000-1`,
    );
    const sql = batchSql(
      TEST_VIEWS[0],
      'athena',
      athenaSource(
        'streamfold_db',
        'events',
        Date.UTC(2026, 11, 31, 12),
        undefined,
        {
          tables: TABLES,
          generations,
          uncovered: rawSelection(['dt=2026-12-31/hour=01/a.gz'], ['dt=2026-12-31/hour=01/a.gz']),
          typedFields: Object.fromEntries(generations.map((g) => [g, FIELDS])),
        },
        undefined,
        FIELDS,
      ),
      Date.UTC(2026, 11, 31, 12),
      undefined,
      undefined,
      { fields: FIELDS },
    ).sql;
    expect(Buffer.byteLength(sql)).toBeLessThan(262_144 / 4);
  });
});
