import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { distinctErrorBound, HLL_STANDARD_ERROR, HyperLogLog } from '../../lambdas/core/hyperloglog';

describe('HyperLogLog', () => {
  it.each([0, 1, 10, 100, 1_000, 10_000, 100_000])(
    'estimates %i distinct values within the documented bound',
    (n) => {
      const sketch = new HyperLogLog();
      for (let i = 0; i < n; i++) sketch.add(`user-${i}`).add(`user-${i}`);
      expect(Math.abs(sketch.estimate() - n)).toBeLessThanOrEqual(distinctErrorBound(n));
    },
  );

  it('documents a standard error of 1.625%', () => {
    expect(HLL_STANDARD_ERROR).toBeCloseTo(0.01625, 5);
  });

  it('merges as the sketch of the union, register by register', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string(), { maxLength: 50 }),
        fc.array(fc.string(), { maxLength: 50 }),
        (a, b) => {
          const sa = new HyperLogLog();
          a.forEach((v) => sa.add(v));
          const sb = new HyperLogLog();
          b.forEach((v) => sb.add(v));
          const union = new HyperLogLog();
          [...a, ...b].forEach((v) => union.add(v));
          expect(sa.merge(sb).equals(union)).toBe(true);
          expect(HyperLogLog.fromSparse(union.toSparse()).equals(union)).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('ranks from the 40 bits after the index, 41 when they are all zero', () => {
    const { index, rank } = HyperLogLog.hash('a');
    expect(index).toBeGreaterThanOrEqual(0);
    expect(index).toBeLessThan(4096);
    expect(rank).toBeGreaterThanOrEqual(1);
    expect(rank).toBeLessThanOrEqual(41);
  });

  it.each(['x', '1:0', '4096:1', '1:42', '-1:3'])('refuses the malformed register list %s', (text) => {
    expect(() => HyperLogLog.fromSparse(text)).toThrow(/malformed HyperLogLog register/);
  });
});
