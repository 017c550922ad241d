import type { BatchWriteCommandInput, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbKappaCellStore } from '../../lambdas/adapters/aws/dynamodb-kappa-cell-store';
import { identityRow } from '../../lambdas/core/measures';
import { validateViews } from '../../lambdas/core/view';
import { makeDynamoDocumentClient } from '../../lambdas/runtime/clients/dynamodb';
import { startEmulatedTables, type EmulatedTables } from '../fixtures/emulated-tables';

const [view] = validateViews([
  { name: 'v', eventType: 't', key: ['k'], granularity: '1m', measures: { n: { kind: 'count' } } },
]);
const CELLS = 60;

/** A client on dynalite whose BatchWriteItem calls, while `refusing`, apply nothing and return every request unprocessed (a throttled table). */
function throttledClient(tables: EmulatedTables): { doc: DynamoDBDocumentClient; refuse(on: boolean): void } {
  const doc = makeDynamoDocumentClient(tables.endpoints);
  let refusing = false;
  doc.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName !== 'BatchWriteItemCommand' || !refusing) return next(args);
      const input = args.input as BatchWriteCommandInput;
      return { output: { UnprocessedItems: input.RequestItems, $metadata: {} }, response: {} };
    },
    { step: 'initialize', name: 'refuseBatchWrites' },
  );
  return { doc, refuse: (on) => (refusing = on) };
}

describe('dropping a Kappa version (dynalite)', () => {
  let tables: EmulatedTables;
  let client: ReturnType<typeof throttledClient>;
  let store: DynamoDbKappaCellStore;

  beforeAll(async () => {
    tables = await startEmulatedTables('kappadel');
    client = throttledClient(tables);
    store = new DynamoDbKappaCellStore(client.doc, tables.names.kappaTable, {
      sleep: () => Promise.resolve(),
    });
    for (let i = 0; i < CELLS; i++)
      await store.write(
        7,
        view,
        { view: 'v', key: ['x'], bucketMs: i * 60_000 },
        { state: identityRow(view), fences: {}, chunks: [] },
        undefined,
      );
  }, 60_000);
  afterAll(async () => {
    await tables.stop();
  });

  it('fails, naming the table, when the table leaves deletes unprocessed, rather than reporting them done', async () => {
    client.refuse(true);
    await expect(store.deleteVersion(7, 'v')).rejects.toThrow(/unprocessed.*kappa|kappa.*unprocessed/);
    client.refuse(false);
    expect(await store.query(7, view, ['x'], 0, CELLS * 60_000)).toHaveLength(CELLS);
    expect(await store.deleteVersion(7, 'v')).toBe(CELLS);
    expect(await store.query(7, view, ['x'], 0, CELLS * 60_000)).toHaveLength(0);
  });
});
