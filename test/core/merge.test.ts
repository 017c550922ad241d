import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HyperLogLog } from '../../lambdas/core/hyperloglog';
import {
  finalizeRow,
  foldEvents,
  identityRow,
  liftRow,
  mergeRows,
  sameState,
  type RowState,
} from '../../lambdas/core/measures';
import { finalizeBuckets, mergeServing, nextCutoff, type SpeedBucket } from '../../lambdas/core/merge';
import { reconcileWindow } from '../../lambdas/core/reconcile';
import { validateView } from '../../lambdas/core/view';

const RUNS = { numRuns: 200 };
const view = validateView({
  name: 'v',
  eventType: 't',
  key: ['k'],
  granularity: '1m',
  measures: { n: { kind: 'count' }, s: { kind: 'sum', field: 'x' } },
});
const S = 1_000; // arrival bucket width in these examples
const row = (x: number): RowState => liftRow(view, { type: 't', k: 'a', x });

describe('mergeServing', () => {
  const batch = [{ bucketMs: 60_000, state: row(1) }];
  const speed: SpeedBucket[] = [
    { bucketMs: 60_000, arrivalBucketMs: 4 * S, state: row(10) }, // before the cutoff: in the batch view already
    { bucketMs: 60_000, arrivalBucketMs: 5 * S, state: row(100) }, // exactly at the cutoff: speed's
    { bucketMs: 60_000, arrivalBucketMs: 6 * S, state: row(1_000) }, // after the cutoff: speed's
    { bucketMs: 0, arrivalBucketMs: 9 * S, state: row(10_000) }, // a late event for an earlier bucket
  ];

  it('drops speed rows that arrived before the cutoff and adds those at or after it', () => {
    expect(finalizeBuckets(view, mergeServing(view, batch, speed, 5 * S, S))).toEqual([
      { start: 0, measures: { n: 1, s: 10_000 } },
      { start: 60_000, measures: { n: 3, s: 1_101 } },
    ]);
  });

  it('with a cutoff past every speed row, serves the batch view alone', () => {
    expect(finalizeBuckets(view, mergeServing(view, batch, speed, 10 * S, S))).toEqual([
      { start: 60_000, measures: { n: 1, s: 1 } },
    ]);
  });

  it('serves every speed row, and ignores batch cells, while no batch is published (null cutoff)', () => {
    expect(finalizeBuckets(view, mergeServing(view, batch, speed, null, S))).toEqual([
      { start: 0, measures: { n: 1, s: 10_000 } },
      { start: 60_000, measures: { n: 3, s: 1_110 } },
    ]);
    expect(mergeServing(view, batch, [], null, S)).toEqual([]);
  });

  it('returns the buckets sorted by start, whatever the input order', () => {
    const buckets = [5, 1, 4, 2, 3].map((m) => m * 60_000);
    const served = mergeServing(
      view,
      buckets.map((b) => ({ bucketMs: b + 60_000, state: row(1) })),
      buckets.map((b) => ({ bucketMs: b, arrivalBucketMs: 7 * S, state: row(2) })),
      7 * S,
      S,
    );
    expect(served.map((b) => b.start)).toEqual([1, 2, 3, 4, 5, 6].map((m) => m * 60_000));
  });

  it('accepts a cutoff of 0 and refuses one not aligned to the arrival buckets', () => {
    expect(mergeServing(view, batch, speed, 0, S)).toHaveLength(2);
    expect(() => mergeServing(view, batch, speed, 5 * S + 1, S)).toThrow(
      'cutoff 5001 is not aligned to the arrival bucket width 1000 ms: a speed row would straddle it',
    );
    expect(() => mergeServing(view, [], [], 59_999, 60_000)).toThrow(/not aligned/);
  });

  it('counts every event exactly once at any aligned cutoff (property)', () => {
    const eventArb = fc.record({
      bucket: fc.integer({ min: 0, max: 3 }),
      arrival: fc.integer({ min: 0, max: 20 * S - 1 }),
      x: fc.integer({ min: -1_000, max: 1_000 }),
    });
    fc.assert(
      fc.property(fc.array(eventArb, { maxLength: 40 }), fc.integer({ min: 0, max: 21 }), (events, c) => {
        const cutoff = c * S;
        const body = (e: (typeof events)[number]) => ({ type: 't', k: 'a', x: e.x });
        // The batch view: every event that arrived before the cutoff, per bucket.
        const batchCells = [0, 1, 2, 3].map((b) => ({
          bucketMs: b * 60_000,
          state: foldEvents(
            view,
            identityRow(view),
            events.filter((e) => e.bucket === b && e.arrival < cutoff).map(body),
          ),
        }));
        // Speed rows: one per (bucket, arrival bucket), holding every event.
        const rows = new Map<string, SpeedBucket>();
        for (const e of events) {
          const arrivalBucketMs = Math.floor(e.arrival / S) * S;
          const id = `${e.bucket}|${arrivalBucketMs}`;
          const state = mergeRows(view, rows.get(id)?.state ?? identityRow(view), liftRow(view, body(e)));
          rows.set(id, { bucketMs: e.bucket * 60_000, arrivalBucketMs, state });
        }
        const served = mergeServing(view, batchCells, [...rows.values()], cutoff, S);
        for (const b of served) {
          const expected = foldEvents(
            view,
            identityRow(view),
            events.filter((e) => e.bucket * 60_000 === b.start).map(body),
          );
          expect(finalizeRow(view, b.state)).toEqual(finalizeRow(view, expected));
          for (const name of Object.keys(view.measures))
            expect(sameState(b.state[name], expected[name])).toBe(true);
        }
        const withEvents = new Set(events.map((e) => e.bucket * 60_000));
        for (const start of withEvents) expect(served.some((b) => b.start === start)).toBe(true);
      }),
      RUNS,
    );
  });
});

describe('nextCutoff', () => {
  it('aligns down to the arrival bucket and never moves back', () => {
    expect(nextCutoff(12_345, S, null)).toBe(12_000);
    expect(nextCutoff(12_000, S, null)).toBe(12_000);
    expect(nextCutoff(12_345, S, 15_000)).toBe(15_000);
    expect(nextCutoff(16_999, S, 15_000)).toBe(16_000);
    expect(nextCutoff(999, S, null)).toBe(0);
  });

  it('is aligned, at or after the previous cutoff, and covers no unarchived arrival time (property)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(1_000, 60_000, 300_000),
        fc.integer({ min: 0, max: 10 ** 13 }),
        fc.option(fc.integer({ min: 0, max: 10 ** 8 })),
        (width, archivedBeforeMs, previousBuckets) => {
          const previous = previousBuckets === null ? null : previousBuckets * width;
          const next = nextCutoff(archivedBeforeMs, width, previous);
          expect(next % width).toBe(0);
          if (previous !== null) expect(next).toBeGreaterThanOrEqual(previous);
          if (previous === null || next > previous) {
            expect(next).toBeLessThanOrEqual(archivedBeforeMs);
            expect(archivedBeforeMs - next).toBeLessThan(width);
          }
          // Advancing the archive never moves the cutoff back.
          expect(nextCutoff(archivedBeforeMs + width, width, next)).toBeGreaterThanOrEqual(next);
          expect(nextCutoff(0, width, next)).toBe(next);
        },
      ),
      RUNS,
    );
  });
});

describe('reconcileWindow', () => {
  const cell = { view: 'v', key: ['a'], bucketMs: 0 };

  it('finds no difference when both layers hold the same events, and names the cell and measure otherwise', () => {
    expect(
      reconcileWindow(view, [{ ...cell, state: row(1) }], [{ ...cell, state: row(1) }]).mismatches,
    ).toEqual([]);
    const two = mergeRows(view, row(1), row(1));
    expect(reconcileWindow(view, [{ ...cell, state: two }], [{ ...cell, state: row(1) }]).mismatches).toEqual(
      [
        { ...cell, measure: 'n', batch: 2, speed: 1 },
        { ...cell, measure: 's', batch: 2, speed: 1 },
      ],
    );
    // A cell only the speed layer holds: the batch side is the empty cell (count 0, sum 0).
    expect(reconcileWindow(view, [], [{ ...cell, state: row(1) }]).mismatches).toEqual([
      { ...cell, measure: 'n', batch: 0, speed: 1 },
      { ...cell, measure: 's', batch: 0, speed: 1 },
    ]);
  });

  it('merges the speed rows of a cell (one per arrival bucket) before comparing', () => {
    const result = reconcileWindow(
      view,
      [{ ...cell, state: mergeRows(view, row(1), row(2)) }],
      [
        { ...cell, state: row(1) },
        { ...cell, state: row(2) },
      ],
    );
    expect(result).toEqual({ cellsCompared: 1, mismatches: [] });
  });

  it('compares distinct on its registers: the batch side’s exact count has no speed twin', () => {
    const dview = validateView({
      name: 'd',
      eventType: 't',
      key: ['k'],
      granularity: '1m',
      measures: { u: { kind: 'distinct', field: 'u' } },
    });
    const batchState: RowState = {
      u: { kind: 'distinct', sketch: new HyperLogLog().add('x').add('y'), exact: 2, empty: false },
    };
    const speedState = foldEvents(dview, identityRow(dview), [{ u: 'x' }, { u: 'y' }, { u: 'x' }]);
    const dcell = { view: 'd', key: ['a'], bucketMs: 0 };
    expect(
      reconcileWindow(dview, [{ ...dcell, state: batchState }], [{ ...dcell, state: speedState }]).mismatches,
    ).toEqual([]);
    const other = foldEvents(dview, identityRow(dview), [{ u: 'z' }]);
    expect(
      reconcileWindow(dview, [{ ...dcell, state: batchState }], [{ ...dcell, state: other }]).mismatches,
    ).toHaveLength(1);
  });
});
