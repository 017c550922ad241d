import fc from 'fast-check';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DuckDbQueryEngine } from '../../lambdas/adapters/duckdb/duckdb-query-engine';
import { normalizeStreamRecord, toArchiveLine } from '../../lambdas/core/event';
import { finalizeRow } from '../../lambdas/core/measures';
import { HyperLogLog } from '../../lambdas/core/hyperloglog';
import {
  athenaSource,
  batchRowToCell,
  batchSql,
  duckdbSource,
  type SqlDialectName,
} from '../../lambdas/core/sql';
import { validateViews, type ViewDefinition } from '../../lambdas/core/view';
import { TEST_VIEWS } from '../fixtures/streams';

const CUTOFF = Date.UTC(2026, 10, 24, 12, 0, 0);
const GOLDEN_VIEWS: ViewDefinition[] = [
  ...TEST_VIEWS,
  ...validateViews([
    {
      name: 'filtered',
      eventType: "it's",
      key: ['page'],
      granularity: '1d',
      where: { page: "o'q", beta: true, status: 200 },
      measures: { n: { kind: 'count' } },
    },
  ]),
];
const GOLDEN = path.join(__dirname, '..', 'fixtures', 'sql');
const root = mkdtempSync(path.join(tmpdir(), 'streamfold-sql-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function sqlFor(view: ViewDefinition, dialect: SqlDialectName): string {
  const source =
    dialect === 'duckdb'
      ? duckdbSource(['/archive/a.ndjson'])
      : athenaSource('streamfold_db', 'events', CUTOFF);
  return batchSql(view, dialect, source, CUTOFF).sql + '\n';
}

describe('generated batch SQL (golden files)', () => {
  it.each(GOLDEN_VIEWS.flatMap((v) => (['duckdb', 'athena'] as const).map((d) => [v.name, d] as const)))(
    '%s in %s matches test/fixtures/sql',
    (name, dialect) => {
      const view = GOLDEN_VIEWS.find((v) => v.name === name)!;
      const file = path.join(GOLDEN, `${name}.${dialect}.sql`);
      if (process.env.UPDATE_GOLDEN === '1') writeFileSync(file, sqlFor(view, dialect));
      expect(sqlFor(view, dialect)).toBe(readFileSync(file, 'utf8'));
    },
  );

  it('uses only Trino functions in the Athena dialect', () => {
    const sql = sqlFor(GOLDEN_VIEWS[0], 'athena');
    expect(sql).toContain('json_extract_scalar(');
    expect(sql).toContain('from_base(');
    expect(sql).toContain('array_join(array_agg(');
    expect(sql).not.toMatch(/json_extract_string|string_agg|\/\/|read_json/);
    expect(sql).toContain(`WHERE dt <= '2026-11-24'`);
  });

  it('escapes quotes in string literals', () => {
    const sql = sqlFor(
      GOLDEN_VIEWS.find((v) => v.name === 'filtered')!,
      'duckdb',
    );
    expect(sql).toContain(`= 'it''s'`);
    expect(sql).toContain(`= 'o''q'`);
    expect(sql).toContain(`'$.beta') = 'true'`);
    expect(sql).toContain(`'$.status') = '200'`);
  });
});

const views = validateViews([
  {
    name: 'shop',
    eventType: 'order',
    key: ['shop'],
    granularity: '1m',
    measures: {
      n: { kind: 'count' },
      total: { kind: 'sum', field: 'amount' },
      top: { kind: 'max', field: 'amount' },
      buyers: { kind: 'distinct', field: 'customer' },
    },
  },
]);

async function runDuckDb(lines: string[], cutoffMs: number, view = views[0]) {
  const dir = mkdtempSync(path.join(root, 'run-'));
  writeFileSync(path.join(dir, 'a.ndjson'), lines.join('\n') + '\n');
  const engine = new DuckDbQueryEngine(dir);
  try {
    const rows = await engine.run(batchSql(view, 'duckdb', (await engine.source())!, cutoffMs).sql);
    return rows.map((r) => batchRowToCell(view, r));
  } finally {
    await engine.close();
  }
}

let seq = 0;
function line(body: Record<string, unknown>, arrivedMs: number, shard = 'shardId-000000000000'): string {
  const position = { shardId: shard, sequenceNumber: String(1000 + seq++), partitionKey: 'p', arrivedMs };
  return toArchiveLine(
    normalizeStreamRecord(JSON.stringify({ type: 'order', shop: 's', ...body }), position, views),
  );
}

describe('DuckDB executing the generated SQL', () => {
  const T = Date.UTC(2026, 10, 24, 10, 0, 0);

  it('keeps the earliest arrival of a repeated id, excludes arrivals at or after the cutoff, and buckets on edges', async () => {
    const lines = [
      line({ id: 'a', time: T, amount: 0.1, customer: 'x' }, T + 5_000),
      line({ id: 'a', time: T, amount: 0.1, customer: 'x' }, T + 9_000), // producer retry
      line({ id: 'b', time: T + 60_000, amount: 0.2, customer: 'y' }, T + 6_000), // exactly on the next bucket's edge
      line({ id: 'c', time: T + 59_999, amount: 0.2, customer: 'y' }, T + 7_000),
      line({ id: 'd', time: T, amount: 5, customer: 'z' }, T + 10_000), // arrives at the cutoff: speed's
    ];
    const cells = await runDuckDb([...lines, lines[0]], T + 10_000); // an archiver rewrite repeats a line
    const byBucket = Object.fromEntries(cells.map((c) => [c.bucketMs - T, finalizeRow(views[0], c.state)]));
    expect(byBucket).toEqual({
      0: { n: 2, total: 0.3, top: 0.2, buyers: 2 },
      60000: { n: 1, total: 0.2, top: 0.2, buyers: 1 },
    });
  });

  it('restricts a reconciliation window to kept copies that arrived in it', async () => {
    const lines = [
      line({ id: 'a', time: T, amount: 1, customer: 'x' }, T + 5_000),
      line({ id: 'a', time: T, amount: 1, customer: 'x' }, T + 7_000), // retry inside the window: its first copy is older
      line({ id: 'b', time: T, amount: 2, customer: 'y' }, T + 6_000),
      line({ id: 'c', time: T, amount: 4, customer: 'z' }, T + 9_000),
    ];
    const dir = mkdtempSync(path.join(root, 'window-'));
    writeFileSync(path.join(dir, 'a.ndjson'), lines.join('\n') + '\n');
    const engine = new DuckDbQueryEngine(dir);
    const rows = await engine.run(
      batchSql(views[0], 'duckdb', (await engine.source())!, T + 9_000, T + 6_000).sql,
    );
    await engine.close();
    expect(rows.map((r) => finalizeRow(views[0], batchRowToCell(views[0], r).state))).toEqual([
      { n: 1, total: 2, top: 2, buyers: 1 },
    ]);
  });

  it('builds the same HyperLogLog registers as the speed layer (unicode included)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.integer({ min: 0, max: 1e6 })), {
          minLength: 1,
          maxLength: 500,
        }),
        async (customers) => {
          const lines = customers.map((customer, i) => line({ id: `h${i}`, time: T, customer }, T));
          const [cell] = await runDuckDb(lines, T + 1);
          const js = new HyperLogLog();
          customers.forEach((c) => js.add(String(c)));
          const state = cell.state.buyers;
          expect(state.kind === 'distinct' && state.sketch.equals(js)).toBe(true);
          expect(state.kind === 'distinct' && state.exact).toBe(new Set(customers.map(String)).size);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('answers nothing for an archive with no events of the view', async () => {
    expect(await runDuckDb([line({ id: 'z', time: T, type: 'other' }, T)], T + 1)).toEqual([]);
  });
});
