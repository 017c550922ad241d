import { describe, expect, it } from 'vitest';
import { finalizeRow } from '../../lambdas/core/measures';
import { validateViews } from '../../lambdas/core/view';
import { processSpeedBatch, type SpeedRecord } from '../../lambdas/services/speed-layer';
import { MemoryClaims, MemorySpeedRows } from './fakes';

const views = validateViews([
  { name: 'a', eventType: 't', key: ['k'], granularity: '1h', measures: { n: { kind: 'count' } } },
  { name: 'b', eventType: 'u', key: ['k'], granularity: '1h', measures: { n: { kind: 'count' } } },
]);

function record(seq: number, body: unknown, shard = 'shard-0'): SpeedRecord {
  return {
    data: typeof body === 'string' ? body : JSON.stringify(body),
    position: { shardId: shard, sequenceNumber: String(1000 + seq), partitionKey: 'p', arrivedMs: 5_000 },
  };
}
const ev = (i: number, type = 't') => ({ id: `e${i}`, type, time: 1_700_000_000_000, k: 'x' });

function total(rows: MemorySpeedRows, view = 'a'): number {
  return [...rows.rows.values()]
    .filter((r) => r.address.view === view)
    .reduce((n, r) => n + (finalizeRow(views[0], r.stored.row.state).n as number), 0);
}

function deps(rows = new MemorySpeedRows(), claims: MemoryClaims | undefined = new MemoryClaims()) {
  return { views, rows, claims, fenceBy: 'shard' as const, arrivalBucketMs: 1000 };
}

describe('processSpeedBatch', () => {
  it('applies every valid record and reports the poison one as the lowest failure', async () => {
    const d = deps();
    const result = await processSpeedBatch(
      [record(1, ev(1)), record(2, 'not json'), record(3, ev(3)), record(4, { ...ev(4), k: { no: 1 } })],
      d,
    );
    expect(result.failedFrom).toBe('1002');
    expect(result.poison.map((p) => p.sequenceNumber)).toEqual(['1002', '1004']);
    expect(total(d.rows)).toBe(2);
  });

  it('changes nothing when the same batch is delivered again', async () => {
    const d = deps();
    const batch = [record(1, ev(1)), record(2, ev(2)), record(3, ev(3, 'u'))];
    await processSpeedBatch(batch, d);
    const again = await processSpeedBatch(batch, d);
    expect(again).toMatchObject({ applied: 0, rowsWritten: 0, failedFrom: undefined, duplicates: 0 });
    expect(total(d.rows)).toBe(2);
  });

  it('retries a row write that lost a race', async () => {
    const d = deps();
    d.rows.conflictsLeft = 2;
    expect((await processSpeedBatch([record(1, ev(1))], d)).failedFrom).toBeUndefined();
    expect(total(d.rows)).toBe(1);
  });

  it('reports the lowest record of a row that cannot be written, and writes the other rows', async () => {
    const d = deps();
    d.rows.failWritesFor.add('b');
    const result = await processSpeedBatch([record(1, ev(1)), record(2, ev(2, 'u')), record(3, ev(3))], d);
    expect(result.failedFrom).toBe('1002');
    expect(total(d.rows)).toBe(2);
  });

  it('drops a second copy of an event id, but not a redelivery of the first', async () => {
    const d = deps();
    expect((await processSpeedBatch([record(1, ev(1)), record(2, ev(1))], d)).duplicates).toBe(1);
    expect((await processSpeedBatch([record(1, ev(1))], d)).duplicates).toBe(0); // the owner, fenced instead
    expect(total(d.rows)).toBe(1);
  });

  it('holds back the records after a failed claim', async () => {
    const d = deps();
    d.claims!.failFor.add('e2');
    const result = await processSpeedBatch([record(1, ev(1)), record(2, ev(2)), record(3, ev(3))], d);
    expect(result.failedFrom).toBe('1002');
    expect(total(d.rows)).toBe(1);
  });
});
