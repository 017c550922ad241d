import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbKappaCellStore } from '../../lambdas/adapters/aws/dynamodb-kappa-cell-store';
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
 * The speed handler, the Kappa processor and the replay write and read their rows and cells
 * through a plain client that resolves each command type's middleware once
 * (makeDynamoDbItemClient). A command type's middleware being reused must not carry one request's
 * key, values or condition into the next: every item written concurrently through it reads back as
 * written, through it and through the document client.
 */
describe('rows and cells through the item client (cacheMiddleware) on dynalite', () => {
  let tables: EmulatedTables;
  let store: DynamoDbSpeedRowStore;
  let plain: DynamoDbSpeedRowStore;
  let cells: DynamoDbKappaCellStore;
  let plainCells: DynamoDbKappaCellStore;
  beforeAll(async () => {
    tables = await startEmulatedTables('itemclient');
    const documents = makeDynamoDocumentClient(tables.endpoints);
    const items = makeDynamoDbItemClient(tables.endpoints);
    store = new DynamoDbSpeedRowStore(documents, tables.names.speedTable, { items });
    plain = new DynamoDbSpeedRowStore(documents, tables.names.speedTable);
    cells = new DynamoDbKappaCellStore(documents, tables.names.kappaTable, { items });
    plainCells = new DynamoDbKappaCellStore(documents, tables.names.kappaTable);
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

  it('Kappa cells too', async () => {
    const written = Array.from({ length: 60 }, (_, r) => {
      const folded = applyToRow(view, undefined, events(r, 1 + (r % 4)), 'shard')!.row;
      return {
        address: { view: 'v', key: [`k${r % 15}`], bucketMs: Math.floor(r / 15) * 60_000 },
        cell: { state: folded.state, fences: folded.fences, chunks: r % 2 ? [`chunk-${r}`] : [] },
      };
    });
    const landed = await Promise.all(written.map((w) => cells.write(3, view, w.address, w.cell, undefined)));
    expect(landed.every(Boolean)).toBe(true);
    const read = await Promise.all(written.map((w) => cells.read(3, view, w.address)));
    read.forEach((stored, i) => {
      expect(stored?.revision).toBe(1);
      expect(encodeRowText(stored!.cell.state)).toBe(encodeRowText(written[i].cell.state));
      expect(stored!.cell.fences).toEqual(written[i].cell.fences);
      expect(stored!.cell.chunks).toEqual(written[i].cell.chunks);
    });
    for (let k = 0; k < 15; k++) {
      const found = await plainCells.query(3, view, [`k${k}`], 0, 240_000);
      const expected = written.filter((w) => w.address.key[0] === `k${k}`);
      expect(found.map((f) => `${f.bucketMs} ${encodeRowText(f.cell.state)}`).sort()).toEqual(
        expected.map((w) => `${w.address.bucketMs} ${encodeRowText(w.cell.state)}`).sort(),
      );
    }
    // Another version's partition is another cell; a stale revision does not land.
    expect(await cells.read(4, view, written[0].address)).toBeUndefined();
    expect(await cells.write(3, view, written[0].address, written[1].cell, 1)).toBe(true);
    expect(await cells.write(3, view, written[0].address, written[2].cell, 1)).toBe(false);
    expect((await cells.read(3, view, written[0].address))?.revision).toBe(2);
  });
});
