import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import fc from 'fast-check';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizeStreamRecord, toArchiveLine, type NormalizedEvent } from '../../lambdas/core/event';
import { finalizeRow } from '../../lambdas/core/measures';
import { reduce } from '../../lambdas/core/reducer';
import { athenaSource, duckdbSource } from '../../lambdas/core/archive-source-sql';
import { batchRowToCell } from '../../lambdas/core/batch-result-row';
import { batchSql } from '../../lambdas/core/batch-sql';
import { validateView, ViewDefinitionError, type ViewDefinition } from '../../lambdas/core/view';

/**
 * Issue 12: view definitions can never inject SQL. Identifiers (view names, field paths, measure
 * names) are validated before any SQL is built; free text (the event type, `where` values) only
 * ever reaches SQL as an escaped string literal. Tried here with generated hostile names and
 * values: the generated SQL runs in DuckDB beside a sentinel table, over an archive whose events
 * carry the very same hostile texts, and must give exactly the reducer's cells (an injected
 * `'; DROP ...` or `UNION` would change them) and leave the sentinel alone.
 */
const T = Date.UTC(2026, 10, 24, 10);
const CUTOFF = T + 3_600_000;
const root = mkdtempSync(path.join(tmpdir(), 'streamfold-sql-injection-'));
let db: DuckDBInstance;
let connection: DuckDBConnection;

beforeAll(async () => {
  db = await DuckDBInstance.create(':memory:');
  connection = await db.connect();
  await connection.run('CREATE TABLE sentinel AS SELECT 42 AS answer');
});
afterAll(() => {
  connection.closeSync();
  db.closeSync();
  rmSync(root, { recursive: true, force: true });
});

const INJECTIONS = [
  "'; DROP TABLE sentinel; --",
  "' OR '1'='1",
  "x' UNION SELECT answer, answer, answer FROM sentinel --",
  "') UNION ALL SELECT * FROM sentinel; --",
  "\\'; DROP TABLE sentinel; --",
  '"; DROP TABLE sentinel; --',
  "'' ; SELECT 1; --",
  '$.type',
  '*/ DROP TABLE sentinel; /*',
  '\n; DROP TABLE sentinel;\n--',
  "it's",
  "%' --",
];
const hostileText = fc.oneof(
  fc.constantFrom(...INJECTIONS),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }),
  fc
    .tuple(fc.constantFrom(...INJECTIONS), fc.string({ maxLength: 10 }))
    .map(([injection, tail]) => `${tail}${injection}${tail}`),
);

describe('identifiers in a view definition are validated before any SQL is built', () => {
  const good = {
    name: 'v',
    eventType: 'e',
    key: ['page'],
    granularity: '1h',
    measures: { n: { kind: 'count' } },
  };
  const identifier = /^[A-Za-z0-9_.]+$/;

  it('refuses every view, field or measure name that is not a plain identifier', () => {
    fc.assert(
      fc.property(
        fc.oneof(hostileText, fc.constantFrom('a b', 'a;b', "a'b", 'a"b', 'a)b', 'a-b', 'a--b', 'a/*b')),
        fc.constantFrom('name', 'key', 'measure field', 'measure name', 'where field'),
        (text, where) => {
          const input =
            where === 'name'
              ? { ...good, name: text }
              : where === 'key'
                ? { ...good, key: [text] }
                : where === 'measure field'
                  ? { ...good, measures: { s: { kind: 'sum', field: text } } }
                  : where === 'measure name'
                    ? { ...good, measures: { [text]: { kind: 'count' } } }
                    : { ...good, where: { [text]: 'x' } };
          let view: ViewDefinition | undefined;
          try {
            view = validateView(input);
          } catch (error) {
            expect(error).toBeInstanceOf(ViewDefinitionError);
            return;
          }
          // Accepted: then the text is a plain identifier, and nothing in it needs escaping in SQL.
          expect(text).toMatch(identifier);
          expect(batchSql(view, 'duckdb', duckdbSource(['/a.ndjson']), CUTOFF).sql).toBeTruthy();
        },
      ),
      { numRuns: 2_000 },
    );
  });
});

let run = 0;
async function runSql(view: ViewDefinition, events: readonly NormalizedEvent[]) {
  const file = path.join(root, `part-${run++}.ndjson`);
  writeFileSync(file, events.map(toArchiveLine).join('\n') + '\n');
  const sql = batchSql(view, 'duckdb', duckdbSource([file]), CUTOFF).sql;
  const rows = (await connection.runAndReadAll(sql)).getRowObjectsJS();
  return rows.map((row) => batchRowToCell(view, row));
}

function event(id: number, body: Record<string, unknown>): NormalizedEvent {
  return normalizeStreamRecord(
    JSON.stringify({ id: `e${id}`, time: new Date(T + id).toISOString(), ...body }),
    { shardId: 's', sequenceNumber: String(1000 + id), partitionKey: `p${id}`, arrivedMs: T + id },
    [],
  );
}

describe('free text in a view definition reaches SQL only as an escaped literal', () => {
  it("gives the reducer's cells in DuckDB for hostile event types and where values, and the sentinel table stays", async () => {
    await fc.assert(
      fc.asyncProperty(
        hostileText,
        hostileText,
        fc.array(fc.tuple(fc.boolean(), fc.boolean(), fc.constantFrom('/a', "/b'", '/c')), {
          minLength: 1,
          maxLength: 12,
        }),
        async (eventType, whereValue, shapes) => {
          const view = validateView({
            name: 'hostile',
            eventType,
            key: ['page'],
            granularity: '1h',
            measures: { n: { kind: 'count' } },
            where: { label: whereValue },
          });
          // Events carrying the hostile texts themselves: some match the type and the filter, some not.
          const events = shapes.map(([sameType, sameLabel, page], i) =>
            event(i, {
              type: sameType ? eventType : `${eventType}x`,
              page,
              label: sameLabel ? whereValue : `${whereValue}'`,
            }),
          );
          const cells = await runSql(view, events);
          const expected = [...reduce([view], events).values()].map((c) => ({
            key: c.key,
            bucketMs: c.bucketMs,
            served: finalizeRow(view, c.state),
          }));
          const got = cells.map((c) => ({
            key: c.key,
            bucketMs: c.bucketMs,
            served: finalizeRow(view, c.state),
          }));
          const order = (a: { key: readonly string[] }, b: { key: readonly string[] }) =>
            a.key[0].localeCompare(b.key[0]);
          expect(got.sort(order)).toEqual(expected.sort(order));
          const sentinel = (await connection.runAndReadAll('SELECT answer FROM sentinel')).getRowObjectsJS();
          expect(sentinel).toEqual([{ answer: 42 }]);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('writes an injection attempt as one string literal in both dialects', () => {
    const view = validateView({
      name: 'v',
      eventType: "'; DROP TABLE sentinel; --",
      key: ['page'],
      granularity: '1h',
      measures: { n: { kind: 'count' } },
      where: { label: "x' UNION SELECT 1 --" },
    });
    for (const sql of [
      batchSql(view, 'duckdb', duckdbSource(["/it's/a.ndjson"]), CUTOFF).sql,
      batchSql(view, 'athena', athenaSource('db', 'events', CUTOFF), CUTOFF).sql,
    ]) {
      expect(sql).toContain(`etype = '''; DROP TABLE sentinel; --'`);
      expect(sql).toContain(`= 'x'' UNION SELECT 1 --'`);
      // Outside string literals the SQL holds no statement separator.
      expect(sql.replace(/'(?:[^']|'')*'/g, "''")).not.toContain(';');
    }
  });
});
