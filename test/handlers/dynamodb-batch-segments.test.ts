import { PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbBatchViewStore } from '../../lambdas/adapters/aws/dynamodb-batch-view-store';
import { DynamoDbControlStore } from '../../lambdas/adapters/aws/dynamodb-control-store';
import { batchPartition, padTime } from '../../lambdas/adapters/aws/dynamodb-keys';
import { encodeRow, type RowState } from '../../lambdas/core/measures';
import { validateViews } from '../../lambdas/core/view';
import { startEmulatedTables, type EmulatedTables } from '../fixtures/emulated-tables';

const [view] = validateViews([
  { name: 'v', eventType: 't', key: ['k'], granularity: '1m', measures: { n: { kind: 'count' } } },
]);
const count = (n: number): RowState => ({ n: { kind: 'count', n } });
const cell = (bucketMs: number, n: number) => ({ key: ['x'], bucketMs, state: count(n) });
/** 600 cells of about 1 KB each: two segments of them fill two Scan pages (1 MB each). */
const wideCells = (prefix: string) =>
  Array.from({ length: 600 }, (_, i) => ({
    key: [`${prefix}-${String(i).padStart(4, '0')}-${'k'.repeat(900)}`],
    bucketMs: 0,
    state: count(i + 1),
  }));

describe('batch cells by segment in DynamoDB (dynalite)', () => {
  let tables: EmulatedTables;
  let doc: DynamoDBDocumentClient;
  let names: EmulatedTables['names'];
  let store: DynamoDbBatchViewStore;

  beforeAll(async () => {
    tables = await startEmulatedTables('segments');
    ({ doc, names } = tables);
    store = new DynamoDbBatchViewStore(doc, names.batchTable);
  }, 60_000);
  afterAll(async () => {
    await tables.stop();
  });

  it('serves per bucket the newest segment of the lineage, skipping runs that never published', async () => {
    await store.writeCells(1, view, [cell(0, 1), cell(60_000, 1), cell(120_000, 1)]); // full run: base 1
    await store.writeCells(2, view, [cell(60_000, 2)]); // incremental
    await store.writeCells(3, view, [cell(0, 99), cell(120_000, 99)]); // a run that failed
    await store.writeCells(4, view, [cell(120_000, 4)]); // incremental on top of 2
    const lineage = { base: 1, skip: [[3, 4]] as [number, number][] };
    const at = async (version: number, selection = lineage) =>
      (await store.query(version, view, ['x'], 0, 180_000, selection)).map((b) => [b.bucketMs, b.state]);
    expect(await at(4)).toEqual([
      [0, count(1)],
      [60_000, count(2)],
      [120_000, count(4)],
    ]);
    // The previous version, kept for rollback, is unchanged by the later segments.
    expect(await at(2)).toEqual([
      [0, count(1)],
      [60_000, count(2)],
      [120_000, count(1)],
    ]);
    // A range ending inside the data: the last bucket's copies are all in range, none after it.
    expect(await store.query(4, view, ['x'], 60_000, 120_001, lineage)).toEqual([
      { bucketMs: 60_000, state: count(2) },
      { bucketMs: 120_000, state: count(4) },
    ]);
    // A new full run (base 5) hides everything below it.
    await store.writeCells(5, view, [cell(0, 5)]);
    expect(await at(5, { base: 5, skip: [] })).toEqual([[0, count(5)]]);
    expect(await store.deleteSegmentsBefore(5)).toBe(7);
    expect(await at(4)).toEqual([]);
    expect(await at(5, { base: 5, skip: [] })).toEqual([[0, count(5)]]);
  });

  it('retires a segment a scan page at a time, deleting before it reads the next page', async () => {
    // About 2 MB of cells: two scan pages (1 MB each). A store that gathered every key first
    // would send no BatchWriteItem before the last Scan; at millions of cells it ran out of memory.
    const wide = wideCells('wide');
    await store.writeCells(20, view, wide);
    await store.writeCells(21, view, wide);
    await store.writeCells(22, view, [cell(0, 22)]);
    const sent: string[] = [];
    doc.middlewareStack.add(
      (next, context) => (args) => {
        sent.push(String(context.commandName));
        return next(args);
      },
      { step: 'initialize', name: 'recordCommands' },
    );
    try {
      // And what the tests before left below 22.
      expect(await store.deleteSegmentsBefore(22)).toBeGreaterThanOrEqual(1200);
    } finally {
      doc.middlewareStack.remove('recordCommands');
    }
    const scans = sent.flatMap((name, i) => (name === 'ScanCommand' ? [i] : []));
    expect(scans.length).toBeGreaterThan(1);
    expect(sent.slice(0, scans[scans.length - 1]).some((name) => name === 'BatchWriteItemCommand')).toBe(
      true,
    );
    expect(await store.query(22, view, ['x'], 0, 60_000, { base: 20, skip: [] })).toEqual([
      { bucketMs: 0, state: count(22) },
    ]);
  });

  it('deletes one segment page by page, its cursor handed from one call to the next as the Cleanup steps hand it on', async () => {
    const wide = wideCells('page');
    await store.writeCells(30, view, wide);
    await store.writeCells(31, view, wide);
    const first = await store.deleteSegmentsPage({ version: 30 }, undefined);
    // About 1.2 MB to scan: the first page ends before the table does.
    expect(first.cursor).toBeDefined();
    let deleted = first.deleted;
    let cursor = first.cursor;
    let calls = 1;
    while (cursor !== undefined) {
      const page = await store.deleteSegmentsPage(
        { version: 30 },
        JSON.parse(JSON.stringify(cursor)) as string,
      );
      deleted += page.deleted;
      cursor = page.cursor;
      calls++;
    }
    expect(calls).toBeGreaterThan(1);
    expect(deleted).toBe(600);
    const left = async (version: number) =>
      (
        await Promise.all(
          wide
            .slice(0, 50)
            .map((c) => store.query(version, view, c.key, 0, 60_000, { base: version, skip: [] })),
        )
      ).flat();
    expect(await left(30)).toEqual([]);
    expect(await left(31)).toHaveLength(50);
  });

  it('reads a version written before incremental runs (no lineage) from the old layout', async () => {
    await doc.send(
      new PutCommand({
        TableName: names.batchTable,
        Item: {
          pk: batchPartition(9, 'v', ['old']),
          sk: padTime(60_000),
          ver: 9,
          b: 60_000,
          m: JSON.stringify(encodeRow(count(7))),
        },
      }),
    );
    expect(await store.query(9, view, ['old'], 0, 120_000)).toEqual([{ bucketMs: 60_000, state: count(7) }]);
  });

  it('round-trips the pointer with its lineage and the previous one', async () => {
    const control = new DynamoDbControlStore(doc, names.controlTable);
    const lineage = { views: { v: { base: 1, definition: 'abc' } }, skip: [[3, 4]] as [number, number][] };
    const pointer = {
      version: 4,
      cutoffMs: 1000,
      publishedAt: '2026-01-01T00:00:00.000Z',
      lineage,
      previous: { version: 2, cutoffMs: 500, lineage: { views: lineage.views, skip: [] } },
    };
    expect(await control.publish(pointer, null)).toBe(true);
    expect(await control.readPointer()).toEqual(pointer);
  });
});
