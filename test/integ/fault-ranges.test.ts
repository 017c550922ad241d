import { describe, expect, it } from 'vitest';
import { rangesOf } from './faults/fault-suite';

const at = (time: string) => ({ time });

describe("the fault suite's query ranges (rangesOf)", () => {
  it('covers every event: the trickle stamped days after BASE is compared too', () => {
    // GIVEN the chaos's events on BASE's day and a trickle that moved on three days
    const ranges = rangesOf([
      at('2026-01-01T10:00:00Z'),
      at('2026-01-01T11:59:59Z'),
      at('2026-01-04T03:00:00Z'),
    ]);
    // THEN one query from BASE's day to the end of the trickle's last day
    expect(ranges).toEqual(['from=2026-01-01T00:00:00.000Z&to=2026-01-05T00:00:00.000Z']);
  });

  it('splits a span longer than 6 days, under the 10,000 one-minute buckets a query answers', () => {
    const ranges = rangesOf([at('2026-01-01T10:00:00Z'), at('2026-01-09T23:59:59.999Z')]);
    expect(ranges).toEqual([
      'from=2026-01-01T00:00:00.000Z&to=2026-01-07T00:00:00.000Z',
      'from=2026-01-07T00:00:00.000Z&to=2026-01-10T00:00:00.000Z',
    ]);
    for (const range of ranges) {
      const [from, to] = range.split('&').map((p) => Date.parse(p.split('=')[1]));
      expect((to - from) / 60_000).toBeLessThanOrEqual(10_000);
    }
  });

  it('asks nothing when there is no event', () => {
    expect(rangesOf([])).toEqual([]);
  });
});
