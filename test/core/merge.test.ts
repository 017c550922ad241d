import { describe, expect, it } from 'vitest';
import { finalizeBuckets, mergeServing, nextCutoff } from '../../lambdas/core/merge';
import { liftRow, mergeRows } from '../../lambdas/core/measures';
import { validateView } from '../../lambdas/core/view';

const view = validateView({
  name: 'v',
  eventType: 't',
  key: ['k'],
  granularity: '1m',
  measures: { n: { kind: 'count' } },
});
const one = liftRow(view, { type: 't', k: 'a' });
const S = 1_000;

describe('mergeServing', () => {
  const batch = [{ bucketMs: 60_000, state: one }];
  const speed = [
    { bucketMs: 60_000, arrivalBucketMs: 4 * S, state: one }, // before the cutoff: in the batch view already
    { bucketMs: 60_000, arrivalBucketMs: 5 * S, state: one }, // at the cutoff: speed's
    { bucketMs: 0, arrivalBucketMs: 9 * S, state: one }, // a late event for an earlier bucket
  ];

  it('adds speed rows at or after the cutoff to the batch view, in bucket order', () => {
    expect(finalizeBuckets(view, mergeServing(view, batch, speed, 5 * S, S))).toEqual([
      { start: 0, measures: { n: 1 } },
      { start: 60_000, measures: { n: 2 } },
    ]);
  });

  it('serves every speed row, and no batch cell, before the first batch is published', () => {
    expect(finalizeBuckets(view, mergeServing(view, batch, speed, null, S))).toEqual([
      { start: 0, measures: { n: 1 } },
      { start: 60_000, measures: { n: 2 } },
    ]);
  });

  it('fails if the cutoff is not aligned to the arrival buckets', () => {
    expect(() => mergeServing(view, batch, speed, 5 * S + 1, S)).toThrow(/not aligned/);
  });
});

describe('nextCutoff', () => {
  it('aligns down to the arrival bucket and never moves back', () => {
    expect(nextCutoff(12_345, S, null)).toBe(12_000);
    expect(nextCutoff(12_345, S, 15_000)).toBe(15_000);
    expect(nextCutoff(16_999, S, 15_000)).toBe(16_000);
  });
});

describe('reconcileWindow', () => {
  it('finds no difference when both layers hold the same events, and names the cell and measure otherwise', async () => {
    const { reconcileWindow } = await import('../../lambdas/core/reconcile');
    const cell = { view: 'v', key: ['a'], bucketMs: 0 };
    expect(reconcileWindow(view, [{ ...cell, state: one }], [{ ...cell, state: one }]).mismatches).toEqual(
      [],
    );
    const two = mergeRows(view, one, one);
    expect(reconcileWindow(view, [{ ...cell, state: two }], [{ ...cell, state: one }]).mismatches).toEqual([
      { ...cell, measure: 'n' },
    ]);
    expect(reconcileWindow(view, [], [{ ...cell, state: one }]).mismatches).toHaveLength(1);
  });
});
