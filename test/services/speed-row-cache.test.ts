import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { StoredSpeedRow } from '../../lambdas/ports/stores';
import { SpeedRowCache } from '../../lambdas/services/speed-row-cache';

const row = (revision: number): StoredSpeedRow => ({ row: { state: {}, fences: {} }, revision });

describe('SpeedRowCache stays bounded', () => {
  it('never holds more than maxRows, whatever the arrivals', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 10_000 })), {
          maxLength: 500,
        }),
        (maxRows, sets) => {
          const cache = new SpeedRowCache(maxRows, Number.MAX_SAFE_INTEGER);
          for (const [id, arrival] of sets) {
            cache.set(`r${id}`, row(id), arrival);
            expect(cache.size).toBeLessThanOrEqual(maxRows);
          }
        },
      ),
    );
  });

  it('drops rows of arrival buckets more than keepArrivalsMs behind the newest, after 100,000 rows of a steady stream', () => {
    // 37 new rows a second with 1 s arrival buckets: the soak's traffic (bench/speed-memory.ts).
    const cache = new SpeedRowCache(10_000, 60_000);
    for (let second = 0; second < 2_703; second++)
      for (let k = 0; k < 37; k++) cache.set(`${second}|${k}`, row(k), second * 1000);
    // The newest arrival bucket and the 60 before it.
    expect(cache.size).toBe(61 * 37);
    expect(cache.take('2641|0')).toBeUndefined();
    expect(cache.take('2642|0')).toEqual(row(0));
  });

  it('keeps a row taken and set back again, at the end of the order', () => {
    const cache = new SpeedRowCache(2, 60_000);
    cache.set('a', row(1), 0);
    cache.set('b', row(2), 0);
    cache.set('a', cache.take('a')!, 0);
    cache.set('c', row(3), 0);
    expect(cache.take('b')).toBeUndefined();
    expect(cache.take('a')).toEqual(row(1));
    expect(cache.take('c')).toEqual(row(3));
  });
});
