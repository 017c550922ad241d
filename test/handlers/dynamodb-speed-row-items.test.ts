import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbSpeedRowStore } from '../../lambdas/adapters/aws/dynamodb-speed-row-store';
import type { NormalizedEvent } from '../../lambdas/core/event';
import { applyToRow, type SpeedRow, type SpeedRowAddress } from '../../lambdas/core/fencing';
import { encodeRowText } from '../../lambdas/core/measures';
import { validateViews } from '../../lambdas/core/view';
import { makeDynamoDbItemClient, makeDynamoDocumentClient } from '../../lambdas/runtime/clients/dynamodb';
import { startEmulatedTables, type EmulatedTables } from '../fixtures/emulated-tables';

const [view] = validateViews([
  {
    name: 'v',
    eventType: 't',
    key: ['k'],
    granularity: '1m',
    measures: {
      n: { kind: 'count' },
      total: { kind: 'sum', field: 'x' },
      top: { kind: 'max', field: 'x' },
      users: { kind: 'distinct', field: 'u' },
    },
  },
]);

function events(row: number, count: number): NormalizedEvent[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `e${row}-${i}`,
    type: 't',
    timeMs: 1_000,
    arrivedMs: 2_000,
    shardId: `shard-${row % 3}`,
    seq: String(1_000 + row * 100 + i),
    partitionKey: `p${row}`,
    body: { k: `k${row}`, x: row * 1.25 + i, u: `u${(row * 7 + i) % 11}` },
  }));
}

/**
 * The speed handler writes and reads its rows through a plain client that resolves each command
 * type's middleware once (makeDynamoDbItemClient). A command type's middleware being reused must
 * not carry one request's key, values or condition into the next: every row written concurrently
 * through it reads back as written, through it and through the document client.
 */
describe('speed rows through the item client (cacheMiddleware) on dynalite', () => {
  let tables: EmulatedTables;
  let store: DynamoDbSpeedRowStore;
  let plain: DynamoDbSpeedRowStore;
  beforeAll(async () => {
    tables = await startEmulatedTables('rowitems');
    const documents = makeDynamoDocumentClient(tables.endpoints);
    store = new DynamoDbSpeedRowStore(documents, tables.names.speedTable, {
      items: makeDynamoDbItemClient(tables.endpoints),
    });
    plain = new DynamoDbSpeedRowStore(documents, tables.names.speedTable);
  }, 60_000);
  afterAll(() => tables?.stop());

  it('reads back every row as written, and refuses a stale revision', async () => {
    const rows = 60;
    const written: { address: SpeedRowAddress; row: SpeedRow }[] = [];
    for (let r = 0; r < rows; r++) {
      const folded = applyToRow(view, undefined, events(r, 1 + (r % 5)), 'shard');
      written.push({
        address: {
          view: 'v',
          key: [`k${r % 20}`],
          bucketMs: Math.floor(r / 20) * 60_000,
          arrivalBucketMs: r * 1_000,
        },
        row: folded!.row,
      });
    }
    const revisions = await Promise.all(written.map((w) => store.write(view, w.address, w.row, undefined)));
    for (const revision of revisions) expect(revision).toBeGreaterThan(0);

    const read = await Promise.all(written.map((w) => store.read(view, w.address)));
    read.forEach((stored, i) => {
      expect(stored?.revision).toBe(revisions[i]);
      expect(encodeRowText(stored!.row.state)).toBe(encodeRowText(written[i].row.state));
      expect(stored!.row.fences).toEqual(written[i].row.fences);
    });
    // The document client's Query reads the same items.
    for (let k = 0; k < 20; k++) {
      const buckets = await plain.query(view, [`k${k}`], 0, 180_000);
      const expected = written.filter((w) => w.address.key[0] === `k${k}`);
      expect(buckets.map((b) => encodeRowText(b.state)).sort()).toEqual(
        expected.map((w) => encodeRowText(w.row.state)).sort(),
      );
    }

    // A write on the current revision lands; one on a stale revision, or creating an existing row, does not.
    const first = written[0];
    const created = revisions[0]!;
    expect(await store.write(view, first.address, written[1].row, created)).toBe(created + 1);
    expect(await store.write(view, first.address, written[2].row, created)).toBeUndefined();
    expect(await store.write(view, first.address, written[2].row, undefined)).toBeUndefined();
    const after = await store.read(view, first.address);
    expect(after?.revision).toBe(created + 1);
    expect(encodeRowText(after!.row.state)).toBe(encodeRowText(written[1].row.state));
    expect(await store.read(view, { ...first.address, arrivalBucketMs: 999_999 })).toBeUndefined();
  });
});
