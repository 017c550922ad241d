import type { AthenaClient } from '@aws-sdk/client-athena';
import { describe, expect, it } from 'vitest';
import {
  AthenaQueryEngine,
  type AthenaQueryEngineOptions,
} from '../../lambdas/adapters/aws/athena-query-engine';
import { batchSql } from '../../lambdas/core/batch-sql';
import { typedFieldColumns } from '../../lambdas/core/typed-columns';
import { validateViews } from '../../lambdas/core/view';
import { runBatch } from '../../lambdas/services/batch-layer';
import {
  FixedWatermark,
  InMemoryBatchViewStore,
  InMemoryControlStore,
  InMemorySpeedRowStore,
  ManualClock,
} from '../services/in-memory-stores';

interface SentCommand {
  readonly name: string;
  readonly input: Record<string, unknown>;
}

interface Poll {
  readonly state: 'QUEUED' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED';
  readonly scanned?: number;
  readonly reason?: string;
}

interface Page {
  readonly rows: (string | undefined)[][];
  readonly next?: string;
}

/**
 * A fake Athena client: answers each command by its class name (as the SDK's `send` receives
 * it), walks through the given poll states (repeating the last) and result pages, and records
 * every command sent.
 */
function fakeAthena(polls: readonly Poll[], pages: readonly Page[], columns = ['k0', 'bucket', 'm0']) {
  const sent: SentCommand[] = [];
  let poll = 0;
  let page = 0;
  const client = {
    send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
      sent.push({ name: command.constructor.name, input: command.input });
      switch (command.constructor.name) {
        case 'StartQueryExecutionCommand':
          return { QueryExecutionId: 'qe-42' };
        case 'GetQueryExecutionCommand': {
          const p = polls[Math.min(poll++, polls.length - 1)];
          return {
            QueryExecution: {
              QueryExecutionId: 'qe-42',
              Status: { State: p.state, StateChangeReason: p.reason },
              Statistics: { DataScannedInBytes: p.scanned ?? 0 },
            },
          };
        }
        case 'GetQueryResultsCommand': {
          const p = pages[page++];
          if (!p) throw new Error('no more result pages');
          return {
            ResultSet: {
              ResultSetMetadata: { ColumnInfo: columns.map((Name) => ({ Name, Type: 'varchar' })) },
              Rows: p.rows.map((values) => ({
                Data: values.map((v) => (v === undefined ? {} : { VarCharValue: v })),
              })),
            },
            NextToken: p.next,
          };
        }
        case 'StopQueryExecutionCommand':
          return {};
        default:
          throw new Error(`unexpected command ${command.constructor.name}`);
      }
    },
  };
  const names = () => sent.map((c) => c.name);
  return { client: client as unknown as AthenaClient, sent, names };
}

function engine(client: AthenaClient, overrides: Partial<AthenaQueryEngineOptions> = {}) {
  const sleeps: number[] = [];
  const options: AthenaQueryEngineOptions = {
    workgroup: 'streamfold',
    database: 'streamfold_db',
    table: 'events',
    maxBytesScanned: 10_000,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    ...overrides,
  };
  return { engine: new AthenaQueryEngine(client, options), sleeps };
}

const HEADER = ['k0', 'bucket', 'm0'];

/** A one-count view whose batch query answers rows of HEADER's columns. */
const CLICKS = validateViews([
  {
    name: 'clicks',
    eventType: 'click',
    key: ['page'],
    granularity: '1m',
    measures: { n: { kind: 'count' } },
  },
]);

describe('AthenaQueryEngine.run', () => {
  it('starts the query in the workgroup and polls until SUCCEEDED, backing off between polls', async () => {
    const athena = fakeAthena(
      [{ state: 'QUEUED' }, { state: 'RUNNING' }, { state: 'RUNNING' }, { state: 'SUCCEEDED' }],
      [{ rows: [HEADER] }],
    );
    const { engine: e, sleeps } = engine(athena.client);
    expect(await e.run('SELECT 1')).toEqual([]);
    expect(athena.sent[0]).toEqual({
      name: 'StartQueryExecutionCommand',
      input: {
        QueryString: 'SELECT 1',
        WorkGroup: 'streamfold',
        QueryExecutionContext: { Database: 'streamfold_db' },
      },
    });
    expect(athena.names()).toEqual([
      'StartQueryExecutionCommand',
      'GetQueryExecutionCommand',
      'GetQueryExecutionCommand',
      'GetQueryExecutionCommand',
      'GetQueryExecutionCommand',
      'GetQueryResultsCommand',
    ]);
    expect(athena.sent[1].input).toEqual({ QueryExecutionId: 'qe-42' });
    expect(sleeps).toEqual([200, 300, 450]);
  });

  it('unloads the batch SQL (a comment, then WITH) as the subquery of a plain SELECT, as UNLOAD requires', async () => {
    const [view] = CLICKS;
    const sql = batchSql(view, 'athena', 'SELECT line FROM events', 300_000).sql;
    expect(sql).toMatch(/^-- view clicks[^\n]*\nWITH /);
    const athena = fakeAthena([{ state: 'SUCCEEDED' }], []);
    await engine(athena.client).engine.startUnload(sql, 's3://results/run-1/');
    expect(athena.sent[0].input.QueryString).toBe(
      `UNLOAD (SELECT * FROM (\n${sql}\n)) TO 's3://results/run-1/' WITH (format = 'JSON')`,
    );
  });

  it('caps the backoff at 5 seconds', async () => {
    const polls: Poll[] = [
      ...Array.from({ length: 12 }, (): Poll => ({ state: 'RUNNING' })),
      { state: 'SUCCEEDED' },
    ];
    const { engine: e, sleeps } = engine(fakeAthena(polls, [{ rows: [HEADER] }]).client);
    await e.run('SELECT 1');
    expect(sleeps).toHaveLength(12);
    expect(sleeps.slice(-3)).toEqual([5000, 5000, 5000]);
    expect(sleeps.every((ms, i) => i === 0 || ms >= sleeps[i - 1])).toBe(true);
  });

  it('pages through the results, skipping the header row on the first page only', async () => {
    const athena = fakeAthena(
      [{ state: 'SUCCEEDED' }],
      [
        { rows: [HEADER, ['/a', '0', '1'], ['/b', '0', '2']], next: 'token-1' },
        { rows: [['/c', '60000', '3']], next: 'token-2' }, // its first row is data
        { rows: [['/d', '60000', '4']] },
      ],
    );
    const { engine: e } = engine(athena.client);
    const rows = await e.run('SELECT 1');
    expect(rows).toEqual([
      { k0: '/a', bucket: '0', m0: '1' },
      { k0: '/b', bucket: '0', m0: '2' },
      { k0: '/c', bucket: '60000', m0: '3' },
      { k0: '/d', bucket: '60000', m0: '4' },
    ]);
    expect(athena.sent.filter((c) => c.name === 'GetQueryResultsCommand').map((c) => c.input)).toEqual([
      { QueryExecutionId: 'qe-42', NextToken: undefined, MaxResults: 1000 },
      { QueryExecutionId: 'qe-42', NextToken: 'token-1', MaxResults: 1000 },
      { QueryExecutionId: 'qe-42', NextToken: 'token-2', MaxResults: 1000 },
    ]);
  });

  it('maps VarCharValue by column name, and a missing value to null', async () => {
    const columns = ['m0', 'k0', 'k1', 'bucket'];
    const athena = fakeAthena(
      [{ state: 'SUCCEEDED' }],
      [{ rows: [columns, ['7', 'DE', undefined, '3600000'], ['8', 'FR']] }],
      columns,
    );
    const rows = await engine(athena.client).engine.run('SELECT 1');
    expect(rows).toEqual([
      { m0: '7', k0: 'DE', k1: null, bucket: '3600000' },
      { m0: '8', k0: 'FR', k1: null, bucket: null },
    ]);
  });

  it.each([
    ['FAILED', "SYNTAX_ERROR: line 3:8: Column '_am' cannot be resolved"],
    ['CANCELLED', 'Query cancelled by user'],
  ] as const)('throws with the reason when the query is %s', async (state, reason) => {
    const athena = fakeAthena([{ state: 'RUNNING' }, { state, reason }], []);
    await expect(engine(athena.client).engine.run('SELECT _am')).rejects.toThrow(
      `Athena query qe-42 ${state}: ${reason}`,
    );
    expect(athena.names()).not.toContain('GetQueryResultsCommand');
  });

  it('cancels a query that scanned more than the limit, and throws', async () => {
    const athena = fakeAthena(
      [
        { state: 'RUNNING', scanned: 5_000 },
        { state: 'RUNNING', scanned: 10_000 },
        { state: 'RUNNING', scanned: 10_001 },
      ],
      [],
    );
    const { engine: e, sleeps } = engine(athena.client, { maxBytesScanned: 10_000 });
    await expect(e.run('SELECT *')).rejects.toThrow(
      'Athena query qe-42 scanned 10001 bytes, over the limit of 10000: cancelled',
    );
    expect(athena.sent.at(-1)).toEqual({
      name: 'StopQueryExecutionCommand',
      input: { QueryExecutionId: 'qe-42' },
    });
    expect(athena.names().filter((n) => n === 'GetQueryExecutionCommand')).toHaveLength(3); // at the limit it went on
    expect(sleeps).toEqual([200, 300]);
  });

  it('cancels a query that outlives its timeout', async () => {
    const athena = fakeAthena([{ state: 'RUNNING' }], []);
    await expect(engine(athena.client, { timeoutMs: -1 }).engine.run('SELECT 1')).rejects.toThrow(
      'did not finish in time: cancelled',
    );
    expect(athena.names()).toContain('StopQueryExecutionCommand');
  });

  it('throws when Athena returns no query execution id', async () => {
    const client = { send: async () => ({}) } as unknown as AthenaClient;
    await expect(engine(client).engine.run('SELECT 1')).rejects.toThrow(
      'Athena returned no QueryExecutionId',
    );
  });
});

describe('AthenaQueryEngine.source', () => {
  it('prunes the archive partitions to the cutoff day, and from a day before the window', async () => {
    const { engine: e } = engine(fakeAthena([], []).client);
    expect(await e.source(Date.UTC(2026, 10, 24, 12))).toBe(
      `SELECT line FROM "streamfold_db"."events" WHERE dt <= '2026-11-24'`,
    );
    expect(await e.source(Date.UTC(2026, 10, 24, 12), Date.UTC(2026, 10, 24, 11))).toBe(
      `SELECT line FROM "streamfold_db"."events" WHERE dt <= '2026-11-24' AND dt >= '2026-11-23'`,
    );
  });
});

describe('AthenaQueryEngine.source over the compacted archive (ADR 011)', () => {
  const manifest = {
    generation: 1,
    id: 'aaaa',
    sources: ['dt=2026-11-23/hour=05/a.gz', 'dt=2026-11-23/hour=06/b.gz'],
    files: [
      {
        key: 'g=0000000001-aaaa-9-1/c=000/edt=2026-11-23/ehr=05/x.parquet',
        eventDate: '2026-11-23',
        rows: 2,
        bytes: 100,
        minTm: 0,
        maxTm: 1,
        minAm: 0,
        maxAm: 1,
      },
    ],
  };
  function compactedEngine(typedFields?: readonly string[]) {
    const calls = { manifests: 0, raw: 0, reads: 0 };
    const { engine: e } = engine(fakeAthena([], []).client, {
      compacted: {
        manifests: {
          list: async () => {
            calls.manifests++;
            return ['manifests/0000000001.json'];
          },
          readText: async () => {
            calls.reads++;
            return JSON.stringify(typedFields === undefined ? manifest : { ...manifest, typedFields });
          },
        },
        raw: {
          listKeys: async () => {
            calls.raw++;
            return [...manifest.sources, 'dt=2026-11-24/hour=10/c.gz'];
          },
        },
        tables: {
          database: 'streamfold_db',
          table: 'events',
          compactedTable: 'compacted',
          rawLocation: 's3://b/events/',
        },
      },
    });
    return { e, calls };
  }

  it('reads committed generations from Parquet and the objects no manifest covers from NDJSON', async () => {
    const { e } = compactedEngine();
    const sql = await e.source(Date.UTC(2026, 10, 24, 12));
    expect(sql).toBe(`SELECT line FROM "streamfold_db"."events" WHERE dt <= '2026-11-24'
  AND ((dt = '2026-11-24' AND hour = '10'))
UNION ALL
SELECT line FROM "streamfold_db"."compacted"
WHERE g IN ('0000000001-aaaa-9-1')
  AND am < ${Date.UTC(2026, 10, 24, 12)}`);
  });

  it('carries typed sources (ADR 019): a generation gives the columns its manifest names, the rest comes from the line', async () => {
    const { e } = compactedEngine(['page']);
    expect(e.typedSources).toBe(true);
    const sql = await e.source(Date.UTC(2026, 10, 24, 12), undefined, undefined, undefined, [
      'page',
      'amount',
    ]);
    const [raw, compacted] = sql.split('\nUNION ALL\n');
    expect(raw).toContain(`json_extract_scalar(line, '$.page') AS ${typedFieldColumns('page').value}`);
    expect(compacted).toContain(`g IN ('0000000001-aaaa-9-1')`);
    expect(compacted).toMatch(new RegExp(`\\n    ${typedFieldColumns('page').value},\\n`));
    expect(compacted).not.toContain(`'$.page'`);
    expect(compacted).toContain(
      `json_extract_scalar(line, '$.amount') AS ${typedFieldColumns('amount').value}`,
    );
    // Without the compacted archive every read is NDJSON: no typed columns (they would save no byte).
    expect(engine(fakeAthena([], []).client).engine.typedSources).toBe(false);
  });

  it('lists the manifests and the raw archive once per cutoff, and parses a manifest once', async () => {
    const { e, calls } = compactedEngine();
    const cutoff = Date.UTC(2026, 10, 24, 12);
    await e.source(cutoff);
    await e.source(cutoff, cutoff - 60_000);
    await e.source(cutoff, undefined, [{ fromMs: 0, toMs: 60_000 }]);
    expect(calls).toEqual({ manifests: 1, raw: 1, reads: 1 });
    await e.source(cutoff + 60_000);
    expect(calls).toEqual({ manifests: 2, raw: 2, reads: 1 });
  });
});

describe('AthenaQueryEngine in a batch run', () => {
  const views = CLICKS;

  /** One batch run of the `clicks` view whose query answers the given result rows. */
  async function runOn(rows: (string | undefined)[][]) {
    const athena = fakeAthena([{ state: 'SUCCEEDED' }], [{ rows: [HEADER, ...rows] }]);
    const batch = new InMemoryBatchViewStore();
    const result = await runBatch({
      views,
      engine: engine(athena.client).engine,
      watermark: new FixedWatermark(300_500),
      batch,
      control: new InMemoryControlStore(),
      speed: new InMemorySpeedRowStore(views),
      clock: new ManualClock(400_000),
      arrivalBucketMs: 60_000,
    });
    return { athena, batch, result };
  }

  it('feeds text results to the batch layer, which publishes the cells they describe', async () => {
    const { athena, batch, result } = await runOn([
      ['/home', '60000', '3'],
      ['/cart', '120000', '12'],
    ]);
    expect(result).toMatchObject({ status: 'published', version: 1, cutoffMs: 300_000, cells: 2 });
    const sql = String(athena.sent[0].input.QueryString);
    expect(sql).toContain(`FROM "streamfold_db"."events" WHERE dt <= '1970-01-01'`);
    expect(await batch.query(1, views[0], ['/cart'], 0, 1e9)).toEqual([
      { bucketMs: 120_000, state: { n: { kind: 'count', n: 12 } } },
    ]);
  });

  it('reads a key Athena returns without a value as the empty string, never as "null"', async () => {
    // Key columns are never NULL in the batch SQL (the key rule admits scalars only), so a Datum
    // without VarCharValue there is an empty string the result API left out.
    const { batch } = await runOn([[undefined, '60000', '3']]);
    expect(await batch.query(1, views[0], [''], 0, 1e9)).toEqual([
      { bucketMs: 60_000, state: { n: { kind: 'count', n: 3 } } },
    ]);
    expect(await batch.query(1, views[0], ['null'], 0, 1e9)).toEqual([]);
  });
});
