import { describe, expect, it } from 'vitest';
import type { StoredSpeedRow } from '../../lambdas/ports/stores';
import { SpeedRowCache } from '../../lambdas/services/speed-row-cache';

const row = (revision: number): StoredSpeedRow => ({ row: { state: {}, fences: {} }, revision });

describe('SpeedRowCache', () => {
  it('hands a row out once: taken, it is a miss until set back', () => {
    const cache = new SpeedRowCache();
    cache.set('a', row(1));
    expect(cache.take('a')?.revision).toBe(1);
    expect(cache.take('a')).toBeUndefined();
    expect(cache.size).toBe(0);
    cache.set('a', row(2));
    expect(cache.size).toBe(1);
    expect(cache.take('a')?.revision).toBe(2);
    expect([cache.hits, cache.misses]).toEqual([2, 1]);
  });

  it('forgets a deleted row, taken or not', () => {
    const cache = new SpeedRowCache();
    cache.set('a', row(1));
    cache.set('b', row(1));
    cache.take('b');
    cache.delete('a');
    cache.delete('b');
    expect(cache.size).toBe(0);
    expect(cache.take('a')).toBeUndefined();
    expect(cache.take('b')).toBeUndefined();
  });

  it('holds at most maxRows slots, dropping the first inserted', () => {
    const cache = new SpeedRowCache(2);
    cache.set('a', row(1));
    cache.set('b', row(1));
    cache.take('b'); // out: its slot still counts against the bound
    cache.set('c', row(1));
    expect(cache.take('a')).toBeUndefined();
    expect(cache.size).toBe(1);
    cache.set('b', row(2));
    expect(cache.take('b')?.revision).toBe(2);
    expect(cache.take('c')?.revision).toBe(1);
  });
});
