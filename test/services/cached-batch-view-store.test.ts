import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CachedBatchViewStore } from '../../lambdas/adapters/cache/cached-batch-view-store';
import { liftRow } from '../../lambdas/core/measures';
import { validateViews } from '../../lambdas/core/view';
import type { BatchViewStore } from '../../lambdas/ports/stores';
import { InMemoryBatchViewStore } from './in-memory-stores';

const [view] = validateViews([
  {
    name: 'clicks',
    eventType: 'click',
    key: ['page'],
    granularity: '1h',
    measures: { n: { kind: 'count' }, users: { kind: 'distinct', field: 'user' } },
  },
]);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 0, 1);

async function store() {
  const inner = new InMemoryBatchViewStore();
  const cells = Array.from({ length: 24 * 5 }, (_, i) => ({
    key: ['/home'],
    bucketMs: T0 + i * HOUR,
    state: liftRow(view, { user: `u${i}` }),
  }));
  await inner.writeCells(1, view, cells);
  await inner.writeCells(2, view, cells.slice(0, 10));
  return inner;
}

describe('CachedBatchViewStore: a published version read once per key and day', () => {
  it('answers every range exactly as the store does (property)', async () => {
    const inner = await store();
    const cached = new CachedBatchViewStore(inner);
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: -30, max: 24 * 6 }),
        fc.integer({ min: 1, max: 24 * 4 }),
        fc.constantFrom(1, 2, 3),
        async (from, span, version) => {
          const range = [T0 + from * HOUR, T0 + (from + span) * HOUR] as const;
          expect(await cached.query(version, view, ['/home'], ...range)).toEqual(
            await inner.query(version, view, ['/home'], ...range),
          );
        },
      ),
      { numRuns: 200 },
    );
  });

  it('reads a day once, then serves it from memory; a new version is read afresh', async () => {
    const inner = await store();
    const cached = new CachedBatchViewStore(inner);
    await cached.query(1, view, ['/home'], T0, T0 + 24 * HOUR);
    await cached.query(1, view, ['/home'], T0 + HOUR, T0 + 5 * HOUR);
    expect([cached.misses, cached.hits]).toEqual([1, 1]);
    await cached.query(2, view, ['/home'], T0, T0 + 24 * HOUR);
    expect(cached.misses).toBe(2);
  });

  it('holds no more than its byte bound', async () => {
    const inner = await store();
    // One day of 24 buckets with one distinct measure is counted at about 106 KB.
    const cached = new CachedBatchViewStore(inner, 150_000);
    await cached.query(1, view, ['/home'], T0, T0 + 24 * HOUR);
    await cached.query(1, view, ['/home'], T0 + 24 * HOUR, T0 + 48 * HOUR);
    await cached.query(1, view, ['/home'], T0, T0 + 24 * HOUR);
    expect(cached.misses).toBe(3); // the first day was evicted for the second
  });

  it('reads the days it misses as runs of consecutive days, one query at a time', async () => {
    // GIVEN a store that counts its queries and how many run at once
    const inner = await store();
    let queries = 0;
    let running = 0;
    let mostAtOnce = 0;
    const counting: BatchViewStore = {
      writeCells: (...args) => inner.writeCells(...args),
      deleteVersion: (version) => inner.deleteVersion(version),
      deleteSegmentsBefore: (segment) => inner.deleteSegmentsBefore(segment),
      deleteSegmentsPage: (segments, cursor) => inner.deleteSegmentsPage(segments, cursor),
      async query(...args) {
        queries++;
        mostAtOnce = Math.max(mostAtOnce, ++running);
        await new Promise((resolve) => setTimeout(resolve, 1));
        running--;
        return inner.query(...args);
      },
    };
    const cached = new CachedBatchViewStore(counting);
    // WHEN a year-long range is asked with nothing held (a 1d view's query asks up to 10,000 days)
    const year = await cached.query(1, view, ['/home'], T0 - 200 * DAY, T0 + 165 * DAY);
    // THEN one query reads the whole range (one per day, all at once, ran out of the SDK's sockets)
    expect([queries, mostAtOnce]).toEqual([1, 1]);
    expect(year).toEqual(await inner.query(1, view, ['/home'], T0 - 200 * DAY, T0 + 165 * DAY));
    // WHEN days in the middle are held and the rest are not: one query per run of missing days
    const other = new CachedBatchViewStore(counting);
    queries = 0;
    await other.query(1, view, ['/home'], T0 + DAY, T0 + 2 * DAY);
    await other.query(1, view, ['/home'], T0 + 3 * DAY, T0 + 4 * DAY);
    const around = await other.query(1, view, ['/home'], T0 - 5 * DAY, T0 + 10 * DAY);
    expect([queries, mostAtOnce]).toEqual([2 + 3, 1]);
    expect(around).toEqual(await inner.query(1, view, ['/home'], T0 - 5 * DAY, T0 + 10 * DAY));
    expect(other.misses).toBe(2 + 13);
  });
});
