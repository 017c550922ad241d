import { describe, expect, it } from 'vitest';
import type { RowState } from '../../lambdas/core/measures';
import { validateViews } from '../../lambdas/core/view';
import { ServedBucketMemo } from '../../lambdas/services/served-bucket-memo';

const [view] = validateViews([
  { name: 'v', eventType: 't', key: ['k'], granularity: '1m', measures: { n: { kind: 'count' } } },
]);
const count = (n: number): RowState => ({ n: { kind: 'count', n } });

describe('ServedBucketMemo', () => {
  it('merges again when a part is another object, even one of equal value', () => {
    const memo = new ServedBucketMemo();
    const a = count(1);
    const b = count(2);
    expect(memo.of(view, ['x']).bucket(0, [a, b]).measures).toEqual({ n: 3 });
    expect(memo.of(view, ['x']).bucket(0, [a, b]).measures).toEqual({ n: 3 });
    expect(memo.hits).toBe(1);
    expect(memo.of(view, ['x']).bucket(0, [a, count(5)]).measures).toEqual({ n: 6 });
    expect(memo.of(view, ['x']).bucket(0, [a]).measures).toEqual({ n: 1 });
    expect(memo.of(view, ['x']).bucket(0, [a, count(2)]).measures).toEqual({ n: 3 });
    expect(memo.hits).toBe(1);
  });

  it('holds at most maxBuckets buckets, over keys and within one', () => {
    const memo = new ServedBucketMemo(10);
    for (let k = 0; k < 5; k++)
      for (let b = 0; b < 4; b++) memo.of(view, [`k${k}`]).bucket(b * 60_000, [count(b)]);
    expect(memo.size).toBeLessThanOrEqual(10);
    const parts = Array.from({ length: 25 }, (_, b) => [count(b)]);
    for (let b = 0; b < 25; b++) memo.of(view, ['one']).bucket(b * 60_000, parts[b]);
    expect(memo.size).toBeLessThanOrEqual(10);
    // What it dropped is really gone: the first bucket is merged again.
    const misses = memo.misses;
    memo.of(view, ['one']).bucket(0, parts[0]);
    expect(memo.misses).toBe(misses + 1);
  });

  it("keeps a bucket's JSON text while its parts are the same objects, and writes a changed bucket anew", () => {
    const memo = new ServedBucketMemo();
    const a = count(1);
    const first = memo.of(view, ['x']).bucket(0, [a]);
    const text = memo.json(first);
    expect(text).toBe(JSON.stringify(first));
    // Unchanged parts: the same answer object, so the very same string (not serialized again).
    expect(memo.json(memo.of(view, ['x']).bucket(0, [a]))).toBe(text);
    const changed = memo.of(view, ['x']).bucket(0, [a, count(4)]);
    expect(memo.json(changed)).toBe(JSON.stringify({ start: first.start, measures: { n: 5 } }));
    // Objects the memo did not hand out are serialized as they are.
    expect(memo.json({ start: 'x', measures: { n: 1 } })).toBe('{"start":"x","measures":{"n":1}}');
  });
});
