// The two grammars only: the package's index loads every dialect it has (MySQL, Flink, ...).
import { HiveSQL } from 'dt-sql-parser/dist/parser/hive';
import { TrinoSQL } from 'dt-sql-parser/dist/parser/trino';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { bucketRanges } from '../../lambdas/core/batch-lineage';
import { rawSelection } from '../../lambdas/core/compaction';
import { typedFields } from '../../lambdas/core/typed-columns';
import { athenaSource, duckdbSource } from '../../lambdas/core/archive-source-sql';
import { batchSql, touchedBucketsSql } from '../../lambdas/core/batch-sql';
import { TEST_VIEWS } from '../fixtures/streams';

/**
 * Every Athena statement the project generates, parsed with Trino's grammar (Athena engine 3 is
 * Trino: https://docs.aws.amazon.com/athena/latest/ug/engine-versions-reference-0003.html), or
 * Hive's for DDL (Athena runs `ALTER TABLE ... ADD PARTITION` as Hive DDL:
 * https://docs.aws.amazon.com/athena/latest/ug/alter-table-add-partition.html). The parsers are
 * dt-sql-parser's, built from the engines' ANTLR grammars. This checks syntax only: that each
 * function exists is checked by name in sql.test.ts.
 */
const trino = new TrinoSQL();
const hive = new HiveSQL();
const GOLDEN = path.join(__dirname, '..', 'fixtures', 'sql');
const CUTOFF = Date.UTC(2026, 10, 24, 12, 0, 0);
const HOUR = 3_600_000;

function syntaxErrors(parser: TrinoSQL | HiveSQL, sql: string): string[] {
  return parser.validate(sql).map((e) => `${e.startLine}:${e.startColumn} ${e.message}`);
}

/**
 * Athena's UNLOAD (https://docs.aws.amazon.com/athena/latest/ug/unload.html) is not Trino syntax:
 * `UNLOAD (<query>) TO '<s3 location>' WITH (<property> = <value>, ...)`. Returns the query and
 * the property names, or undefined when the statement is not of that shape.
 */
function unloadParts(sql: string): { query: string; properties: string[] } | undefined {
  const match = /^UNLOAD \(\n([\s\S]*)\n\) TO 's3:\/\/[^']+\/' WITH \((.*)\)$/.exec(sql.trim());
  if (!match) return undefined;
  const properties = [...match[2].matchAll(/(\w+) = /g)].map((m) => m[1]);
  return { query: match[1], properties };
}

const goldens = readdirSync(GOLDEN)
  .filter((f) => f.endsWith('.athena.sql'))
  .sort();

describe('the Athena SQL parses with the engines grammars', () => {
  it('has the goldens to check', () => {
    expect(goldens.length).toBeGreaterThanOrEqual(9);
  });

  it.each(goldens)('%s', (file) => {
    const sql = readFileSync(path.join(GOLDEN, file), 'utf8');
    if (sql.startsWith('ALTER TABLE')) {
      expect(syntaxErrors(hive, sql)).toEqual([]);
      return;
    }
    if (sql.startsWith('UNLOAD')) {
      const unload = unloadParts(sql);
      expect(unload, 'UNLOAD (<query>) TO <location> WITH (...)').toBeDefined();
      expect(syntaxErrors(trino, unload!.query)).toEqual([]);
      // The properties UNLOAD documents for Parquet output
      for (const property of unload!.properties)
        expect(['format', 'compression', 'compression_level', 'partitioned_by']).toContain(property);
      return;
    }
    expect(syntaxErrors(trino, sql)).toEqual([]);
  });

  const [view] = TEST_VIEWS;
  const ranges = bucketRanges(
    [CUTOFF - 30 * 86_400_000, CUTOFF - 2 * HOUR, CUTOFF - HOUR].map((ms) => ms - (ms % 60_000)),
    60_000,
  );
  const generated: [string, string][] = [
    [
      'an incremental run (bucket ranges as a VALUES table, event hours pruned)',
      batchSql(
        view,
        'athena',
        athenaSource('streamfold_db', 'events', CUTOFF, undefined, undefined, ranges),
        CUTOFF,
        undefined,
        ranges,
      ).sql,
    ],
    [
      'a reconciliation window',
      batchSql(
        view,
        'athena',
        athenaSource('streamfold_db', 'events', CUTOFF, CUTOFF - HOUR),
        CUTOFF,
        CUTOFF - HOUR,
      ).sql,
    ],
    [
      'the touched buckets',
      touchedBucketsSql(
        view,
        'athena',
        athenaSource('streamfold_db', 'events', CUTOFF, CUTOFF - HOUR),
        CUTOFF - HOUR,
        CUTOFF,
      ).sql,
    ],
  ];
  // Typed sources over the compacted archive (ADR 019): a legacy generation, a typed one, the raw tail.
  const fields = typedFields(TEST_VIEWS);
  const typedSource = (arrivedFromMs?: number, eventTimes?: typeof ranges) =>
    athenaSource(
      'streamfold_db',
      'events',
      CUTOFF,
      arrivedFromMs,
      {
        tables: {
          database: 'streamfold_db',
          table: 'events',
          compactedTable: 'compacted',
          rawLocation: 's3://b/events/',
        },
        generations: ['0000000001-a-1-1', '0000000002-b-2-1'],
        uncovered: rawSelection(['dt=2026-11-24/hour=11/x.gz'], ['dt=2026-11-24/hour=11/x.gz']),
        typedFields: { '0000000002-b-2-1': fields },
      },
      eventTimes,
      fields,
    );
  generated.push(
    [
      'a typed incremental run over the compacted archive',
      batchSql(view, 'athena', typedSource(undefined, ranges), CUTOFF, undefined, ranges, { fields }).sql,
    ],
    [
      'a typed reconciliation window',
      batchSql(view, 'athena', typedSource(CUTOFF - HOUR), CUTOFF, CUTOFF - HOUR, undefined, { fields }).sql,
    ],
    [
      'the typed touched buckets',
      touchedBucketsSql(view, 'athena', typedSource(CUTOFF - HOUR), CUTOFF - HOUR, CUTOFF, { fields }).sql,
    ],
    [
      'a view whose field no generation stores (read from the line)',
      batchSql(view, 'athena', typedSource(), CUTOFF, undefined, undefined, { fields: ['page'] }).sql,
    ],
  );
  for (const v of TEST_VIEWS.slice(1))
    generated.push([
      `the full run of ${v.name}`,
      batchSql(v, 'athena', athenaSource('db', 'events', CUTOFF), CUTOFF).sql,
    ]);

  it.each(generated)('%s', (_, sql) => {
    expect(syntaxErrors(trino, sql)).toEqual([]);
  });

  it('finds syntax errors: DuckDB integer division, a lost parenthesis, Hive DDL in Trino', () => {
    // ANTLR also prints each error it recovers from: not wanted in the test output.
    const quiet = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      const duckdb = batchSql(view, 'duckdb', duckdbSource(['/a.ndjson']), CUTOFF).sql;
      expect(duckdb).toContain('//');
      expect(syntaxErrors(trino, duckdb)).not.toEqual([]);
      const clicks = readFileSync(path.join(GOLDEN, 'clicks.athena.sql'), 'utf8');
      expect(clicks).toContain('idx IS NOT NULL)');
      expect(syntaxErrors(trino, clicks.replace('idx IS NOT NULL)', 'idx IS NOT NULL'))).not.toEqual([]);
      expect(syntaxErrors(trino, clicks.replace('FILTER (WHERE j = 0)', 'FILTER (j = 0)'))).not.toEqual([]);
      const ddl = readFileSync(path.join(GOLDEN, 'compaction-add-partitions.athena.sql'), 'utf8');
      expect(syntaxErrors(trino, ddl)).not.toEqual([]);
      expect(syntaxErrors(hive, ddl.replace('ADD IF NOT EXISTS', 'ADD IF EXISTS'))).not.toEqual([]);
    } finally {
      quiet.mockRestore();
    }
  });
});
