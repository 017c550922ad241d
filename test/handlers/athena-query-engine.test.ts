import type { AthenaClient } from '@aws-sdk/client-athena';
import { describe, expect, it } from 'vitest';
import { AthenaQueryEngine } from '../../lambdas/adapters/aws/athena-query-engine';

type Command = { constructor: { name: string }; input: Record<string, unknown> };

/** A fake Athena client: answers by command name, records what was sent. */
function fakeAthena(
  states: { state: string; scanned?: number; reason?: string }[],
  pages: { rows: string[][]; next?: string }[],
) {
  const sent: Command[] = [];
  let poll = 0;
  let page = 0;
  const client = {
    send: async (command: Command) => {
      sent.push(command);
      switch (command.constructor.name) {
        case 'StartQueryExecutionCommand':
          return { QueryExecutionId: 'q1' };
        case 'GetQueryExecutionCommand': {
          const s = states[Math.min(poll++, states.length - 1)];
          return {
            QueryExecution: {
              Status: { State: s.state, StateChangeReason: s.reason },
              Statistics: { DataScannedInBytes: s.scanned ?? 0 },
            },
          };
        }
        case 'GetQueryResultsCommand': {
          const p = pages[page++];
          return {
            ResultSet: {
              ResultSetMetadata: { ColumnInfo: [{ Name: 'k0' }, { Name: 'm0' }] },
              Rows: p.rows.map((r) => ({ Data: r.map((v) => ({ VarCharValue: v })) })),
            },
            NextToken: p.next,
          };
        }
        default:
          return {};
      }
    },
  };
  return { client: client as unknown as AthenaClient, sent };
}

const options = {
  workgroup: 'wg',
  database: 'db',
  table: 'events',
  maxBytesScanned: 1000,
  sleep: async () => undefined,
};

describe('AthenaQueryEngine', () => {
  it('polls until the query succeeds, then pages through the results, skipping only the header row', async () => {
    const { client, sent } = fakeAthena(
      [{ state: 'QUEUED' }, { state: 'RUNNING' }, { state: 'SUCCEEDED' }],
      [
        {
          rows: [
            ['k0', 'm0'],
            ['a', '1'],
          ],
          next: 't1',
        },
        { rows: [['b', '2']] },
      ],
    );
    const rows = await new AthenaQueryEngine(client, options).run('SELECT 1');
    expect(rows).toEqual([
      { k0: 'a', m0: '1' },
      { k0: 'b', m0: '2' },
    ]);
    expect(sent[0].input).toMatchObject({ WorkGroup: 'wg', QueryExecutionContext: { Database: 'db' } });
    expect(sent.filter((c) => c.constructor.name === 'GetQueryExecutionCommand')).toHaveLength(3);
  });

  it('fails with Athena’s reason', async () => {
    const { client } = fakeAthena([{ state: 'FAILED', reason: 'SYNTAX_ERROR: line 1' }], []);
    await expect(new AthenaQueryEngine(client, options).run('SELEC')).rejects.toThrow(
      /FAILED: SYNTAX_ERROR: line 1/,
    );
  });

  it('cancels a query that scans more than the limit', async () => {
    const { client, sent } = fakeAthena([{ state: 'RUNNING', scanned: 5000 }], []);
    await expect(new AthenaQueryEngine(client, options).run('SELECT *')).rejects.toThrow(
      /scanned 5000 bytes, over the limit of 1000: cancelled/,
    );
    expect(sent.map((c) => c.constructor.name)).toContain('StopQueryExecutionCommand');
  });

  it('prunes partitions to the cutoff day', async () => {
    const { client } = fakeAthena([], []);
    expect(await new AthenaQueryEngine(client, options).source(Date.UTC(2026, 10, 24, 12))).toBe(
      `SELECT line FROM "db"."events" WHERE dt <= '2026-11-24'`,
    );
  });
});
