import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { NormalizedEvent } from '../../lambdas/core/event';
import { applyToRow, type SpeedRow } from '../../lambdas/core/fencing';
import { finalizeRow } from '../../lambdas/core/measures';
import { compareSequence, padSequence } from '../../lambdas/core/sequence';
import { validateView } from '../../lambdas/core/view';

const digits = fc
  .integer({ min: 1, max: 129 })
  .chain((n) => fc.stringMatching(new RegExp(`^[1-9][0-9]{${n - 1}}$`)));

describe('sequence numbers', () => {
  it('compare like BigInts, across lengths and up to 129 digits', () => {
    fc.assert(
      fc.property(digits, digits, (a, b) => {
        const expected = BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0;
        expect(compareSequence(a, b)).toBe(expected);
      }),
      { numRuns: 500 },
    );
    expect(compareSequence('999', '1000')).toBe(-1);
  });

  it.each(['', '12a', '1'.repeat(130), '-1', '1.5'])('refuses %j', (s) => {
    expect(() => padSequence(s)).toThrow(/1 to 129 decimal digits/);
  });
});

const view = validateView({
  name: 'v',
  eventType: 't',
  key: ['k'],
  granularity: '1m',
  measures: { n: { kind: 'count' }, s: { kind: 'sum', field: 'x' } },
});

function event(seq: bigint, shard = 'shard-0', partitionKey = 'p'): NormalizedEvent {
  return {
    id: `e${seq}`,
    type: 't',
    timeMs: 0,
    arrivedMs: 0,
    shardId: shard,
    seq: seq.toString(),
    partitionKey,
    body: { type: 't', k: 'a', x: Number(seq % 10n) },
  };
}

function applyAll(
  row: SpeedRow | undefined,
  events: NormalizedEvent[],
  fenceBy: 'shard' | 'partitionKey' = 'shard',
): SpeedRow | undefined {
  return applyToRow(view, row, events, fenceBy)?.row ?? row;
}

describe('applyToRow (sequence fences)', () => {
  const base = 10n ** 55n - 5n; // crosses a power of ten: 56-digit sequence numbers follow 55-digit ones
  const events = Array.from({ length: 12 }, (_, i) => event(base + BigInt(i)));

  it('makes a redelivered batch a no-op', () => {
    const once = applyAll(undefined, events.slice(0, 6));
    expect(applyToRow(view, once, events.slice(0, 6), 'shard')).toBeUndefined();
  });

  it('applies each record exactly once over any sequence of overlapping retries (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(11), fc.integer({ min: 1, max: 6 })), { minLength: 1, maxLength: 20 }),
        (deliveries) => {
          let row: SpeedRow | undefined;
          let next = 0;
          for (const [rewind, size] of deliveries) {
            const from = Math.max(0, next - rewind);
            const to = Math.min(events.length, Math.max(next, from + size));
            row = applyAll(row, events.slice(from, to));
            next = Math.max(next, to);
          }
          row = applyAll(row, events.slice(next));
          const expectedSum = events.reduce((s, e) => s + (e.body.x as number), 0);
          expect(finalizeRow(view, row!.state)).toEqual({ n: events.length, s: expectedSum });
        },
      ),
      { numRuns: 200 },
    );
  });

  it('sorts the records of one call by sequence number', () => {
    const row = applyAll(undefined, [...events.slice(0, 5)].reverse());
    expect(row!.fences['shard-0']).toBe(padSequence(events[4].seq));
    expect(finalizeRow(view, row!.state).n).toBe(5);
  });

  it('keeps separate fences per partition key when fenced by partition key', () => {
    const a = event(base + 5n, 'shard-0', 'a');
    const b = event(base + 3n, 'shard-0', 'b'); // lower, but another key: with ParallelizationFactor > 1 it may come later
    const byKey = applyAll(applyAll(undefined, [a], 'partitionKey'), [b], 'partitionKey');
    expect(finalizeRow(view, byKey!.state).n).toBe(2);
    const byShard = applyAll(applyAll(undefined, [a], 'shard'), [b], 'shard');
    expect(finalizeRow(view, byShard!.state).n).toBe(1); // why shard fencing needs ParallelizationFactor 1
  });
});
