import type {
  BatchWriteCommandInput,
  BatchWriteCommandOutput,
  DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DynamoDbSpeedRowStore } from '../../lambdas/adapters/aws/dynamodb-speed-row-store';
import { identityRow } from '../../lambdas/core/measures';
import { validateViews } from '../../lambdas/core/view';
import { makeDynamoDocumentClient } from '../../lambdas/runtime/clients/dynamodb';
import { startEmulatedTables, type EmulatedTables } from '../fixtures/emulated-tables';

const [view] = validateViews([
  { name: 'v', eventType: 't', key: ['k'], granularity: '1m', measures: { n: { kind: 'count' } } },
]);
const ROWS = 120;
const CUTOFF = 60_000;

/**
 * A document client on the emulator that counts the calls it sends, by command, and can make
 * DynamoDB leave part of each BatchWriteItem unprocessed, as a throttled table does: the kept part
 * goes to dynalite for real, the rest comes back in UnprocessedItems.
 */
function instrumentedClient(tables: EmulatedTables): {
  doc: DynamoDBDocumentClient;
  calls: Map<string, number>;
  /** How many requests of each BatchWriteItem the table applies; undefined: all of them. */
  setApplied(n: number | undefined): void;
} {
  const doc = makeDynamoDocumentClient(tables.endpoints);
  const calls = new Map<string, number>();
  let applied: number | undefined;
  doc.middlewareStack.add(
    (next, context) => async (args) => {
      calls.set(context.commandName ?? '?', (calls.get(context.commandName ?? '?') ?? 0) + 1);
      if (context.commandName !== 'BatchWriteItemCommand' || applied === undefined) return next(args);
      const input = args.input as BatchWriteCommandInput;
      const [table, requests] = Object.entries(input.RequestItems ?? {})[0];
      const left = requests.slice(applied);
      const unprocessed = left.length > 0 ? { [table]: left } : {};
      // A call the table applies nothing of gets all of it back (DynamoDB refuses an empty one).
      if (applied === 0) return { output: { UnprocessedItems: unprocessed, $metadata: {} }, response: {} };
      const result = await next({
        ...args,
        input: { ...input, RequestItems: { [table]: requests.slice(0, applied) } },
      });
      return {
        ...result,
        output: { ...(result.output as BatchWriteCommandOutput), UnprocessedItems: unprocessed },
      };
    },
    // At initialize, the document client's marshalling has not run yet and its unmarshalling has.
    { step: 'initialize', name: 'countAndLeaveUnprocessed' },
  );
  return { doc, calls, setApplied: (n) => (applied = n) };
}

describe('deleting the speed rows a published cutoff covers (dynalite)', () => {
  let tables: EmulatedTables;
  let client: ReturnType<typeof instrumentedClient>;
  let waits: number[];
  let store: DynamoDbSpeedRowStore;

  beforeAll(async () => {
    tables = await startEmulatedTables('speeddeletes');
  }, 60_000);
  afterAll(async () => {
    client?.doc.destroy();
    await tables.stop();
  });

  beforeEach(async () => {
    client?.doc.destroy();
    client = instrumentedClient(tables);
    waits = [];
    store = new DynamoDbSpeedRowStore(client.doc, tables.names.speedTable, {
      sleep: async (ms) => {
        waits.push(ms);
      },
    });
    // Half the rows arrived before the cutoff, half at or after it.
    for (let i = 0; i < ROWS; i += 20)
      await Promise.all(
        Array.from({ length: 20 }, (_, j) =>
          store.write(
            view,
            { view: 'v', key: [`k${i + j}`], bucketMs: 0, arrivalBucketMs: (i + j) * 1000 },
            { state: identityRow(view), fences: {} },
            undefined,
          ),
        ),
      );
    client.calls.clear();
  }, 60_000);

  async function arrivals(): Promise<number[]> {
    const rows = await store.listArrived(view, 0, 10 * ROWS * 1000);
    return rows.map((r) => r.arrivalBucketMs).sort((a, b) => a - b);
  }

  it('deletes in BatchWriteItem calls of 25, not one DeleteItem per row', async () => {
    expect(await store.deleteArrivedBefore(CUTOFF)).toBe(60);
    expect(await arrivals()).toEqual(Array.from({ length: 60 }, (_, i) => CUTOFF + i * 1000));
    expect(client.calls.get('DeleteItemCommand') ?? 0).toBe(0);
    // 60 rows of one scan page: 3 calls (25 + 25 + 10).
    expect(client.calls.get('BatchWriteItemCommand')).toBe(3);
  });

  it('sends what DynamoDB left unprocessed again, with growing waits', async () => {
    client.setApplied(7);
    expect(await store.deleteArrivedBefore(CUTOFF)).toBe(60);
    client.setApplied(undefined);
    expect(await arrivals()).toEqual(Array.from({ length: 60 }, (_, i) => CUTOFF + i * 1000));
    // 25 rows at 7 a call: 4 calls, 3 waits of 100, 200, 400 ms (twice), 10 rows: 2 calls, 1 wait.
    expect(waits.sort((a, b) => a - b)).toEqual([100, 100, 100, 200, 200, 400, 400]);
  });

  it('fails, naming the table, when DynamoDB keeps leaving writes unprocessed', async () => {
    client.setApplied(0);
    await expect(store.deleteArrivedBefore(CUTOFF)).rejects.toThrow(
      `to ${tables.names.speedTable} unprocessed after 10 attempts`,
    );
    expect(Math.max(...waits)).toBe(5000);
    // Nothing was deleted, and nothing lost: the rows are all there for the next run.
    expect((await arrivals()).length).toBe(ROWS);
  });
});
