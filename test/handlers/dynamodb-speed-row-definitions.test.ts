import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbSpeedRowStore } from '../../lambdas/adapters/aws/dynamodb-speed-row-store';
import { viewFingerprint } from '../../lambdas/core/batch-lineage';
import { identityRow } from '../../lambdas/core/measures';
import { validateViews } from '../../lambdas/core/view';
import { SpeedRowsOfAnotherDefinition } from '../../lambdas/ports/stores';
import { makeDynamoDocumentClient } from '../../lambdas/runtime/clients/dynamodb';
import { startEmulatedTables, type EmulatedTables } from '../fixtures/emulated-tables';

const [before] = validateViews([
  { name: 'v', eventType: 't', key: ['k'], granularity: '1m', measures: { n: { kind: 'count' } } },
]);
// The same view with its measure changed in kind: a row of `before` does not even decode under it.
const [after] = validateViews([
  {
    name: 'v',
    eventType: 't',
    key: ['k'],
    granularity: '1m',
    measures: { n: { kind: 'distinct', field: 'u' } },
  },
]);
const [added] = validateViews([
  { name: 'w', eventType: 't', key: ['k'], granularity: '1m', measures: { n: { kind: 'count' } } },
]);
const address = (bucketMs: number, arrivalBucketMs: number) => ({
  view: 'v',
  key: ['a'],
  bucketMs,
  arrivalBucketMs,
});

/**
 * A speed row keeps the definition it was created under through every later write, and a query
 * under another definition refuses it before decoding; the origin item keeps the first
 * definitions the speed layer wrote with (found by a black-box probe, 2026-12-04: a view changed
 * before any batch version was served from rows of its old definition).
 */
describe('speed rows and the definitions they were written under (dynalite)', () => {
  let tables: EmulatedTables;
  let store: DynamoDbSpeedRowStore;
  beforeAll(async () => {
    tables = await startEmulatedTables('rowdefinitions');
    store = new DynamoDbSpeedRowStore(makeDynamoDocumentClient(tables.endpoints), tables.names.speedTable);
  }, 60_000);
  afterAll(() => tables?.stop());

  it('refuses rows created under another definition, also after a write under the new one, and not those below the cutoff', async () => {
    const created = await store.write(
      before,
      address(0, 1_000),
      { state: identityRow(before), fences: {} },
      undefined,
    );
    expect(created).toBeDefined();
    expect(await store.query(before, ['a'], 0, 60_000)).toHaveLength(1);
    await expect(store.query(after, ['a'], 0, 60_000)).rejects.toBeInstanceOf(SpeedRowsOfAnotherDefinition);
    // A writer under the new definition folding into the row does not make it the new one's.
    const rewritten = await store.write(
      after,
      address(0, 1_000),
      { state: identityRow(after), fences: {} },
      created,
    );
    expect(rewritten).toBeDefined();
    await expect(store.query(after, ['a'], 0, 60_000)).rejects.toBeInstanceOf(SpeedRowsOfAnotherDefinition);
    // A row the published batch covers (arrived before its cutoff) is not served, so not refused.
    expect(await store.query(after, ['a'], 0, 60_000, 2_000)).toEqual([]);
    // A row created under the new definition is served under it.
    await store.write(after, address(60_000, 3_000), { state: identityRow(after), fences: {} }, undefined);
    expect(await store.query(after, ['a'], 60_000, 120_000)).toHaveLength(1);
    expect(await store.count()).toBe(2);
  });

  it('keeps the first origin recorded, and counts only rows', async () => {
    expect(await store.readOrigin()).toBeUndefined();
    await store.recordOrigin([before]);
    await store.recordOrigin([after, added]);
    expect(await store.readOrigin()).toEqual({ v: viewFingerprint(before) });
    expect(await store.count()).toBe(2);
    // Deleting every row leaves the origin.
    expect(await store.deleteArrivedBefore(Number.MAX_SAFE_INTEGER)).toBe(2);
    expect(await store.readOrigin()).toEqual({ v: viewFingerprint(before) });
  });
});
