import { DeleteCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbBatchViewStore } from '../../lambdas/adapters/aws/dynamodb-batch-view-store';
import { DynamoDbControlStore } from '../../lambdas/adapters/aws/dynamodb-control-store';
import { padTime, speedPartition } from '../../lambdas/adapters/aws/dynamodb-keys';
import { DynamoDbSpeedRowStore } from '../../lambdas/adapters/aws/dynamodb-speed-row-store';
import { CachedBatchViewStore } from '../../lambdas/adapters/cache/cached-batch-view-store';
import { DecodedSpeedRows } from '../../lambdas/adapters/cache/decoded-speed-rows';
import { encodeRowText, foldEvents, identityRow, type RowState } from '../../lambdas/core/measures';
import { validateViews } from '../../lambdas/core/view';
import { systemClock } from '../../lambdas/ports/clock';
import { queryView, type QueryDeps } from '../../lambdas/services/query-view';
import { ServedBucketMemo } from '../../lambdas/services/served-bucket-memo';
import { startEmulatedTables, type EmulatedTables } from '../fixtures/emulated-tables';

const [view] = validateViews([
  {
    name: 'pages',
    eventType: 'view',
    key: ['page'],
    granularity: '1m',
    measures: { n: { kind: 'count' }, users: { kind: 'distinct', field: 'user' } },
  },
]);
const MIN = 60_000;
const T0 = Date.UTC(2026, 0, 31, 0, 0, 0);
const params = { page: '/a', from: new Date(T0).toISOString(), to: new Date(T0 + 10 * MIN).toISOString() };

/** The state of `users.length` views by these users. */
const views = (users: readonly number[]): RowState =>
  foldEvents(
    view,
    identityRow(view),
    users.map((u) => ({ type: 'view', user: `u${u}` })),
  );

describe('the query function caches (decoded speed rows, served buckets) against dynalite', () => {
  let tables: EmulatedTables;
  let doc: DynamoDBDocumentClient;
  let names: EmulatedTables['names'];
  let writer: DynamoDbSpeedRowStore;
  let control: DynamoDbControlStore;
  let batch: DynamoDbBatchViewStore;

  beforeAll(async () => {
    tables = await startEmulatedTables('querycaches');
    ({ doc, names } = tables);
    writer = new DynamoDbSpeedRowStore(doc, names.speedTable);
    control = new DynamoDbControlStore(doc, names.controlTable);
    batch = new DynamoDbBatchViewStore(doc, names.batchTable);
  }, 60_000);
  afterAll(async () => {
    await tables.stop();
  });

  /** Query deps as the query handler builds them (cached), or with no cache at all. */
  function deps(cached: boolean): QueryDeps & { decoded?: DecodedSpeedRows; served?: ServedBucketMemo } {
    const decoded = cached ? new DecodedSpeedRows() : undefined;
    return {
      views: [view],
      batch: cached ? new CachedBatchViewStore(batch) : batch,
      speed: new DynamoDbSpeedRowStore(doc, names.speedTable, { decoded }),
      control,
      clock: systemClock,
      arrivalBucketMs: 1_000,
      served: cached ? new ServedBucketMemo() : undefined,
      decoded,
    };
  }
  const answer = async (d: QueryDeps) => (await queryView('pages', params, d)).body;

  const revisions = new Map<string, number>();
  const rowKey = (page: string, bucket: number, arrival: number) => ({
    pk: speedPartition('pages', [page]),
    sk: `${padTime(T0 + bucket * MIN)}#${padTime(T0 + arrival * 1_000)}`,
  });
  /** Writes the row through the speed layer's store, on its current revision. */
  async function write(
    page: string,
    bucket: number,
    arrival: number,
    users: readonly number[],
  ): Promise<void> {
    const address = {
      view: 'pages',
      key: [page],
      bucketMs: T0 + bucket * MIN,
      arrivalBucketMs: T0 + arrival * 1_000,
    };
    const id = JSON.stringify(rowKey(page, bucket, arrival));
    const revision = await writer.write(
      view,
      address,
      { state: views(users), fences: {} },
      revisions.get(id),
    );
    if (revision === undefined) throw new Error('the test lost track of a revision');
    revisions.set(id, revision);
  }
  async function remove(page: string, bucket: number, arrival: number): Promise<void> {
    await doc.send(new DeleteCommand({ TableName: names.speedTable, Key: rowKey(page, bucket, arrival) }));
    revisions.delete(JSON.stringify(rowKey(page, bucket, arrival)));
  }

  it('serves a row changed under the revision it had when cached (a deleted row written again) with its new value', async () => {
    const cached = deps(true);
    await write('/a', 0, 1, [1, 2, 3]);
    const before = await answer(cached);
    expect(await answer(cached)).toEqual(before);
    expect(cached.decoded!.hits).toBeGreaterThan(0);
    expect(cached.served!.hits).toBeGreaterThan(0);
    // Same key, same revision, other content: only the text tells the change.
    const key = rowKey('/a', 0, 1);
    const rev = revisions.get(JSON.stringify(key))!;
    await doc.send(
      new PutCommand({
        TableName: names.speedTable,
        Item: { ...key, m: encodeRowText(views([1, 2, 3, 4, 5])), f: '{}', rev, b: T0, a: T0 + 1_000 },
      }),
    );
    const after = (await answer(cached)) as { buckets: { measures: { n: number } }[] };
    expect(after.buckets[0].measures.n).toBe(5);
    expect(after).toEqual(await answer(deps(false)));
    await remove('/a', 0, 1);
  });

  it('stores a busy row as dense sketch text (ADR 018) in dynalite, reads it back and serves its estimate', async () => {
    const users = Array.from({ length: 3_000 }, (_, i) => i);
    const page = '/dense';
    await write(page, 0, 1, users);
    const stored = await writer.read(view, {
      view: 'pages',
      key: [page],
      bucketMs: T0,
      arrivalBucketMs: T0 + 1_000,
    });
    const users3000 = views(users).users;
    const read = stored!.row.state.users;
    if (read.kind !== 'distinct' || users3000.kind !== 'distinct') throw new Error('not a distinct state');
    expect(encodeRowText(stored!.row.state)).toContain('"h":"d');
    expect(read.sketch.equals(users3000.sketch)).toBe(true);
    const served = (await queryView('pages', { ...params, page }, deps(false))).body as {
      buckets: { measures: { users: number } }[];
    };
    expect(served.buckets[0].measures.users).toBe(users3000.sketch.estimate());
    await remove(page, 0, 1);
  });

  it('answers exactly what an uncached query function answers, through writes, deletes and a published batch', async () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('write' as const),
        bucket: fc.integer({ min: 0, max: 3 }),
        arrival: fc.integer({ min: 0, max: 3 }),
        users: fc.array(fc.integer({ min: 0, max: 50 }), { minLength: 1, maxLength: 6 }),
      }),
      fc.record({
        kind: fc.constant('delete' as const),
        bucket: fc.integer({ min: 0, max: 3 }),
        arrival: fc.integer({ min: 0, max: 3 }),
      }),
      fc.record({ kind: fc.constant('query' as const) }),
    );
    let version = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(op, { minLength: 1, maxLength: 14 }),
        fc.boolean(),
        async (ops, withBatch) => {
          // A fresh table state per run: no row of an earlier run stays.
          for (const id of [...revisions.keys()]) {
            const { pk, sk } = JSON.parse(id) as { pk: string; sk: string };
            await doc.send(new DeleteCommand({ TableName: names.speedTable, Key: { pk, sk } }));
          }
          revisions.clear();
          if (withBatch) {
            // A published batch with a cell in bucket 1 and a cutoff at arrival second 2.
            version = await control.nextVersion();
            await batch.writeCells(version, view, [
              { key: ['/a'], bucketMs: T0 + MIN, state: views([7, 8]) },
            ]);
            const pointer = await control.readPointer();
            const published = await control.publish(
              { version, cutoffMs: T0 + 2_000, publishedAt: new Date().toISOString(), previous: null },
              pointer?.version ?? null,
            );
            expect(published).toBe(true);
          }
          const cached = deps(true);
          for (const o of [...ops, { kind: 'query' as const }]) {
            if (o.kind === 'write') await write('/a', o.bucket, o.arrival, o.users);
            else if (o.kind === 'delete') await remove('/a', o.bucket, o.arrival);
            else expect(await answer(cached)).toEqual(await answer(deps(false)));
          }
        },
      ),
      { numRuns: 25 },
    );
  }, 120_000);
});
