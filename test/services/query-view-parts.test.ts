import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { foldEvents, identityRow, type RowState } from '../../lambdas/core/measures';
import { validateViews } from '../../lambdas/core/view';
import { queryView, type QueryDeps } from '../../lambdas/services/query-view';
import { queryViewParts, type PartsBucket } from '../../lambdas/services/query-view-parts';
import {
  InMemoryBatchViewStore,
  InMemoryControlStore,
  InMemorySpeedRowStore,
  ManualClock,
} from './in-memory-stores';

const [clicks] = validateViews([
  {
    name: 'clicks',
    eventType: 'click',
    key: ['page'],
    granularity: '1m',
    measures: { n: { kind: 'count' }, amount: { kind: 'sum', field: 'amount' } },
  },
]);
const MIN = 60_000;
const T0 = Date.UTC(2026, 0, 31, 12, 0, 0);
const iso = (ms: number) => new Date(ms).toISOString();
const range = { page: '/home', from: iso(T0), to: iso(T0 + 10 * MIN) };

function state(amounts: number[]): RowState {
  return foldEvents(
    clicks,
    identityRow(clicks),
    amounts.map((amount) => ({ type: 'click', amount })),
  );
}

function setup() {
  const batch = new InMemoryBatchViewStore();
  const speed = new InMemorySpeedRowStore([clicks]);
  const control = new InMemoryControlStore();
  const deps: QueryDeps = {
    views: [clicks],
    batch,
    speed,
    control,
    clock: new ManualClock(T0 + 30 * MIN),
    arrivalBucketMs: MIN,
  };
  return { batch, speed, control, deps };
}

describe('queryViewParts: GET /views/{view}/parts', () => {
  it('answers each bucket with its batch part and its speed part beside the merged value', async () => {
    const { batch, speed, control, deps } = setup();
    const cutoff = T0 + 5 * MIN;
    await batch.writeCells(3, clicks, [
      { key: ['/home'], bucketMs: T0, state: state([1, 2, 3]) },
      { key: ['/home'], bucketMs: T0 + MIN, state: state([10]) },
    ]);
    control.pointer = { version: 3, cutoffMs: cutoff, publishedAt: iso(cutoff), previous: null };
    const row = (bucketMs: number, arrivalBucketMs: number, amounts: number[]) =>
      speed.seed({ view: 'clicks', key: ['/home'], bucketMs, arrivalBucketMs }, state(amounts));
    row(T0, cutoff - MIN, [1, 2, 3]); // before the cutoff: in the batch part already, not in the speed part
    row(T0, cutoff, [100]); // a late event at the cutoff: the speed part of an older bucket
    row(T0 + 6 * MIN, cutoff + MIN, [7, 8]);

    const res = await queryViewParts('clicks', range, deps);

    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ view: 'clicks', cutoff: iso(cutoff), batchVersion: 3 });
    expect((res.body as { buckets: PartsBucket[] }).buckets).toEqual([
      {
        start: iso(T0),
        measures: { n: 4, amount: 106 },
        batch: { n: 3, amount: 6 },
        speed: { n: 1, amount: 100 },
      },
      { start: iso(T0 + MIN), measures: { n: 1, amount: 10 }, batch: { n: 1, amount: 10 }, speed: null },
      { start: iso(T0 + 6 * MIN), measures: { n: 2, amount: 15 }, batch: null, speed: { n: 2, amount: 15 } },
    ]);
  });

  it('has no batch part while no batch version is published', async () => {
    const { batch, speed, deps } = setup();
    await batch.writeCells(1, clicks, [{ key: ['/home'], bucketMs: T0, state: state([5]) }]);
    speed.seed({ view: 'clicks', key: ['/home'], bucketMs: T0, arrivalBucketMs: T0 }, state([2]));
    const res = await queryViewParts('clicks', range, deps);
    expect(res.body).toMatchObject({
      cutoff: null,
      buckets: [{ start: iso(T0), measures: { n: 1, amount: 2 }, batch: null, speed: { n: 1, amount: 2 } }],
    });
  });

  it('refuses what GET /views/{view} refuses, with the same answers', async () => {
    const { deps } = setup();
    for (const [view, params] of [
      ['nope', range],
      ['clicks', { from: range.from }],
      ['clicks', { page: 'x', from: 'yesterday' }],
    ] as const) {
      expect(await queryViewParts(view, params, deps)).toEqual(await queryView(view, params, deps));
    }
  });

  it('serves the same merged values as GET /views/{view}, and batch + speed add up to them for count and sum', async () => {
    const cell = fc.record({
      bucket: fc.integer({ min: 0, max: 9 }),
      arrival: fc.integer({ min: 0, max: 12 }),
      amounts: fc.array(fc.integer({ min: -1000, max: 1000 }), { minLength: 1, maxLength: 4 }),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(cell, { maxLength: 12 }),
        fc.array(cell, { maxLength: 12 }),
        fc.option(fc.integer({ min: 0, max: 12 })),
        async (batchCells, speedRows, cutoffMinutes) => {
          const { batch, speed, control, deps } = setup();
          const seen = new Set<number>();
          await batch.writeCells(
            1,
            clicks,
            batchCells
              .filter((c) => !seen.has(c.bucket) && seen.add(c.bucket))
              .map((c) => ({ key: ['/home'], bucketMs: T0 + c.bucket * MIN, state: state(c.amounts) })),
          );
          const rows = new Set<string>();
          for (const r of speedRows) {
            if (rows.has(`${r.bucket}/${r.arrival}`)) continue;
            rows.add(`${r.bucket}/${r.arrival}`);
            speed.seed(
              {
                view: 'clicks',
                key: ['/home'],
                bucketMs: T0 + r.bucket * MIN,
                arrivalBucketMs: T0 + r.arrival * MIN,
              },
              state(r.amounts),
            );
          }
          control.pointer =
            cutoffMinutes === null
              ? null
              : { version: 1, cutoffMs: T0 + cutoffMinutes * MIN, publishedAt: iso(T0), previous: null };
          const parts = (await queryViewParts('clicks', range, deps)).body as { buckets: PartsBucket[] };
          const plain = (await queryView('clicks', range, deps)).body as {
            buckets: { start: string; measures: Record<string, number> }[];
          };
          expect(parts.buckets.map((b) => ({ start: b.start, measures: b.measures }))).toEqual(plain.buckets);
          for (const b of parts.buckets) {
            for (const m of ['n', 'amount'] as const)
              expect((b.batch?.[m] ?? 0) + (b.speed?.[m] ?? 0)).toBe(b.measures[m]);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
