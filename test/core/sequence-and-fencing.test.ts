import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalCopies, isEarlierCopy } from '../../lambdas/core/dedupe';
import type { NormalizedEvent } from '../../lambdas/core/event';
import {
  applyToRow,
  fenceKey,
  groupForSpeed,
  speedRowId,
  type FenceBy,
  type SpeedRow,
} from '../../lambdas/core/fencing';
import { finalizeRow, foldEvents, identityRow, sameState, type RowState } from '../../lambdas/core/measures';
import {
  compareSequence,
  compareSequenceGenerally,
  fenceSequence,
  padSequence,
  SEQUENCE_DIGITS,
} from '../../lambdas/core/sequence';
import { validateView, validateViews } from '../../lambdas/core/view';

const RUNS = { numRuns: 200 };

/** Decimal digit strings of 1 to 129 digits, leading zeros allowed. */
const digitsArb = fc
  .integer({ min: 1, max: SEQUENCE_DIGITS })
  .chain((n) => fc.array(fc.integer({ min: 0, max: 9 }), { minLength: n, maxLength: n }))
  .map((ds) => ds.join(''));

/** A value and a neighbour: equal, one apart, or across a power of ten (999... vs 1000...). */
const pairArb: fc.Arbitrary<[string, string]> = fc.oneof(
  fc.tuple(digitsArb, digitsArb),
  fc
    .tuple(digitsArb, fc.integer({ min: -2, max: 2 }))
    .map(([a, d]): [string, string] => [
      a,
      (BigInt(a) + BigInt(d) < 0n ? 0n : BigInt(a) + BigInt(d)).toString(),
    ]),
  fc
    .tuple(fc.integer({ min: 1, max: SEQUENCE_DIGITS - 1 }), fc.integer({ min: -3, max: 3 }), fc.boolean())
    .map(([k, d, swap]): [string, string] => {
      const power = 10n ** BigInt(k);
      const pair: [string, string] = [(power - 1n).toString(), (power + BigInt(d)).toString()];
      return swap ? [pair[1], pair[0]] : pair;
    }),
);

/** padSequence(text), or the text as is when it is no sequence number. */
function padSequenceOr(text: string): string {
  try {
    return padSequence(text);
  } catch {
    return text;
  }
}

describe('sequence numbers', () => {
  it('compare exactly as BigInts, across lengths, up to 129 digits (property)', () => {
    fc.assert(
      fc.property(pairArb, ([a, b]) => {
        const x = BigInt(a);
        const y = BigInt(b);
        expect(compareSequence(a, b)).toBe(x < y ? -1 : x > y ? 1 : 0);
        expect(compareSequence(b, a)).toBe(x < y ? 1 : x > y ? -1 : 0);
        expect(padSequence(a) < padSequence(b)).toBe(x < y);
      }),
      RUNS,
    );
  });

  it('compare in one pass as the general path does, padded or not, and refuse what it refuses (property)', () => {
    const textArb = fc.oneof(
      digitsArb,
      digitsArb.map(padSequence),
      fc.string({ maxLength: 140 }),
      digitsArb.map((d) => `${d}x`),
    );
    fc.assert(
      fc.property(fc.oneof(pairArb, fc.tuple(textArb, textArb)), ([a, b]) => {
        const general = (x: string, y: string) => {
          try {
            return compareSequenceGenerally(x, y);
          } catch (error) {
            return (error as Error).message;
          }
        };
        const fast = (x: string, y: string) => {
          try {
            return compareSequence(x, y);
          } catch (error) {
            return (error as Error).message;
          }
        };
        expect(fast(a, b)).toBe(general(a, b));
        expect(fast(b, a)).toBe(general(b, a));
        expect(fast(a, padSequenceOr(b))).toBe(general(a, padSequenceOr(b)));
      }),
      { numRuns: 500 },
    );
    // Characters just outside '0'-'9', in the part of the longer text that the shorter one lacks too.
    for (const bad of ['/1', '1/', ':1', '1:', '0/11', '/', ':'])
      for (const other of ['1', '11', '111', '1111'])
        for (const [x, y] of [
          [bad, other],
          [other, bad],
        ])
          expect(() => compareSequence(x, y)).toThrow(/1 to 129 decimal digits/);
  });

  it('are stored in fences without leading zeros, keeping the value', () => {
    fc.assert(
      fc.property(digitsArb, (a) => {
        const stored = fenceSequence(a);
        expect(BigInt(stored)).toBe(BigInt(a));
        expect(stored === '0' || !stored.startsWith('0')).toBe(true);
        expect(fenceSequence(padSequence(a))).toBe(stored);
        expect(compareSequence(stored, padSequence(a))).toBe(0);
      }),
      RUNS,
    );
    expect(fenceSequence('000')).toBe('0');
    expect(() => fenceSequence('12a')).toThrow(/1 to 129 decimal digits/);
  });

  it('pad to 129 digits, keeping the value', () => {
    fc.assert(
      fc.property(digitsArb, (a) => {
        const padded = padSequence(a);
        expect(padded).toHaveLength(SEQUENCE_DIGITS);
        expect(BigInt(padded)).toBe(BigInt(a));
        expect(padSequence(padded)).toBe(padded);
      }),
      RUNS,
    );
  });

  it('order where strings and doubles do not', () => {
    expect(compareSequence('999', '1000')).toBe(-1);
    expect('999' < '1000').toBe(false); // what an unpadded comparison would say
    const a = '49590338271490256608559692538361571095921575989136588818';
    const b = '49590338271490256608559692538361571095921575989136588819';
    expect(Number(a)).toBe(Number(b)); // what a JavaScript or DynamoDB number would say
    expect(compareSequence(a, b)).toBe(-1);
    expect(compareSequence('007', '7')).toBe(0);
    expect(compareSequence('9'.repeat(129), '1' + '0'.repeat(128))).toBe(1);
  });

  it.each(['', '12a', '1'.repeat(130), '-1', '1.5', ' 1', '1 ', '1\n', '1e5', '0x1f', '+1', '١٢'])(
    'refuses %j',
    (s) => {
      expect(() => padSequence(s)).toThrow(/a Kinesis sequence number is 1 to 129 decimal digits/);
      expect(() => compareSequence(s, '1')).toThrow(/1 to 129 decimal digits/);
      expect(() => compareSequence('1', s)).toThrow(/1 to 129 decimal digits/);
    },
  );
});

const view = validateView({
  name: 'v',
  eventType: 't',
  key: ['k'],
  granularity: '1m',
  measures: {
    n: { kind: 'count' },
    s: { kind: 'sum', field: 'x' },
    u: { kind: 'distinct', field: 'u' },
  },
});

function event(seq: bigint, shard = 'shard-0', partitionKey = 'p', x = Number(seq % 10n)): NormalizedEvent {
  return {
    id: `${shard}/${seq}`,
    type: 't',
    timeMs: 0,
    arrivedMs: 0,
    shardId: shard,
    seq: seq.toString(),
    partitionKey,
    body: { type: 't', k: 'a', x, u: `${shard}/${partitionKey}/${seq}` },
  };
}

function expectSameRow(actual: RowState, expected: RowState) {
  for (const name of Object.keys(view.measures)) {
    expect(sameState(actual[name], expected[name]), name).toBe(true);
  }
}

const once = (events: readonly NormalizedEvent[]) =>
  foldEvents(
    view,
    identityRow(view),
    events.map((e) => e.body),
  );

describe('applyToRow (sequence fences)', () => {
  const base = 10n ** 55n - 5n; // crosses a power of ten: 56-digit sequence numbers follow 55-digit ones
  const events = Array.from({ length: 12 }, (_, i) => event(base + BigInt(i)));

  it('applies a first batch wholly and fences it at its highest sequence number', () => {
    const result = applyToRow(view, undefined, events.slice(0, 6), 'shard')!;
    expect(result.applied).toEqual(events.slice(0, 6));
    expect(result.row.fences).toEqual({ 'shard-0': fenceSequence(events[5].seq) });
    expectSameRow(result.row.state, once(events.slice(0, 6)));
  });

  it('makes a redelivered batch, or any part of it, a no-op (undefined)', () => {
    const row = applyToRow(view, undefined, events.slice(0, 6), 'shard')!.row;
    expect(applyToRow(view, row, events.slice(0, 6), 'shard')).toBeUndefined();
    expect(applyToRow(view, row, events.slice(2, 4), 'shard')).toBeUndefined();
    expect(applyToRow(view, row, [events[5]], 'shard')).toBeUndefined();
    expect(applyToRow(view, row, [], 'shard')).toBeUndefined();
  });

  it('applies just the records above the fence of a partly overlapping retry', () => {
    const first = applyToRow(view, undefined, events.slice(0, 6), 'shard')!.row;
    const retry = applyToRow(view, first, events.slice(3, 9), 'shard')!;
    expect(retry.applied.map((e) => e.seq)).toEqual(events.slice(6, 9).map((e) => e.seq));
    expect(retry.row.fences['shard-0']).toBe(fenceSequence(events[8].seq));
    expectSameRow(retry.row.state, once(events.slice(0, 9)));
    expect(finalizeRow(view, retry.row.state).n).toBe(9);
  });

  it('leaves the row it was given unchanged', () => {
    const first = applyToRow(view, undefined, events.slice(0, 3), 'shard')!.row;
    const fences = { ...first.fences };
    const encoded = JSON.stringify(finalizeRow(view, first.state));
    applyToRow(view, first, events.slice(0, 8), 'shard');
    expect(first.fences).toEqual(fences);
    expect(JSON.stringify(finalizeRow(view, first.state))).toBe(encoded);
  });

  it('compares fences as 129-digit numbers: 1000 is above a fence at 999', () => {
    const row = applyToRow(view, undefined, [event(999n)], 'shard')!.row;
    const next = applyToRow(view, row, [event(1000n), event(998n)], 'shard')!;
    expect(next.applied.map((e) => e.seq)).toEqual(['1000']);
    expect(next.row.fences['shard-0']).toBe('1000');
  });

  it('continues a row whose fences an earlier version stored padded to 129 digits, and stores them unpadded', () => {
    for (const path of ['tail', 'general'] as const) {
      const padded: SpeedRow = {
        state: applyToRow(view, undefined, [event(997n), event(999n)], 'shard')!.row.state,
        fences: { 'shard-0': padSequence('999') },
      };
      // Two fence keys take the general path; one shard's rising records the tail path.
      const records =
        path === 'tail'
          ? [event(998n), event(999n), event(1000n)]
          : [event(998n), event(1000n), event(5n, 'shard-1')];
      const next = applyToRow(view, padded, records, 'shard')!;
      expect(next.applied.map((e) => e.seq)).toEqual(path === 'tail' ? ['1000'] : ['5', '1000']);
      expect(next.row.fences['shard-0']).toBe('1000');
      expect(applyToRow(view, next.row, [event(1000n)], 'shard')).toBeUndefined();
    }
  });

  it('sorts the records of one call by sequence number before fencing', () => {
    const shuffled = [events[4], events[0], events[3], events[1], events[2]];
    const result = applyToRow(view, undefined, shuffled, 'shard')!;
    expect(result.applied.map((e) => e.seq)).toEqual(events.slice(0, 5).map((e) => e.seq));
    expect(result.row.fences['shard-0']).toBe(fenceSequence(events[4].seq));
    expect(finalizeRow(view, result.row.state).n).toBe(5);
  });

  it('keeps one fence per shard', () => {
    const a = event(base + 5n, 'shard-0');
    const b = event(base + 3n, 'shard-1');
    const row = applyToRow(view, applyToRow(view, undefined, [a], 'shard')!.row, [b], 'shard')!.row;
    expect(row.fences).toEqual({ 'shard-0': fenceSequence(a.seq), 'shard-1': fenceSequence(b.seq) });
    expect(finalizeRow(view, row.state).n).toBe(2);
  });

  it("keeps separate fences per partition key with fenceBy 'partitionKey'", () => {
    const a = event(base + 5n, 'shard-0', 'a');
    const b = event(base + 3n, 'shard-0', 'b'); // lower, but another key: with ParallelizationFactor > 1 it may come later
    const byKey = applyToRow(
      view,
      applyToRow(view, undefined, [a], 'partitionKey')!.row,
      [b],
      'partitionKey',
    )!.row;
    expect(byKey.fences).toEqual({ 'shard-0|a': fenceSequence(a.seq), 'shard-0|b': fenceSequence(b.seq) });
    expect(finalizeRow(view, byKey.state).n).toBe(2);
    expect(applyToRow(view, byKey, [a, b], 'partitionKey')).toBeUndefined();
    // One fence per shard would drop b: why 'shard' fencing needs ParallelizationFactor 1.
    const byShard = applyToRow(view, undefined, [a], 'shard')!.row;
    expect(applyToRow(view, byShard, [b], 'shard')).toBeUndefined();
    expect(fenceKey(a, 'shard')).toBe('shard-0');
    expect(fenceKey(a, 'partitionKey')).toBe('shard-0|a');
  });

  /**
   * Lambda's deliveries of a shard (or, per partition key, of a key): in order, each call a run of
   * records, a retry restarting some records back (a retried batch, or a retry after a
   * partial-batch checkpoint), calls of different streams interleaved, records shuffled inside a call.
   */
  function deliveriesArb(streams: number, fenceBy: FenceBy) {
    return fc
      .record({
        lengths: fc.array(fc.integer({ min: 1, max: 12 }), { minLength: streams, maxLength: streams }),
        gaps: fc.array(fc.oneof(fc.constant(1n), fc.bigInt({ min: 1n, max: 10n ** 30n })), {
          minLength: 40,
          maxLength: 40,
        }),
        plan: fc.array(fc.record({ size: fc.integer({ min: 1, max: 6 }), rewind: fc.nat(8) }), {
          minLength: 30,
          maxLength: 30,
        }),
        picks: fc.array(fc.nat(streams - 1), { minLength: 80, maxLength: 80 }),
        shuffles: fc.array(fc.nat(), { minLength: 80, maxLength: 80 }),
      })
      .map(({ lengths, gaps, plan, picks, shuffles }) => {
        // Streams: with 'shard' each its own shard; with 'partitionKey' all on one shard, one key each.
        // Sequence numbers are handed out round-robin, so streams sharing a shard interleave.
        let seq = 10n ** 20n - 3n;
        let g = 0;
        const records: NormalizedEvent[][] = lengths.map(() => []);
        for (let i = 0; i < Math.max(...lengths); i++) {
          lengths.forEach((length, s) => {
            if (i >= length) return;
            seq += gaps[g++ % gaps.length];
            records[s].push(
              fenceBy === 'shard'
                ? event(seq, `shard-${s}`, 'p', Number(seq % 7n))
                : event(seq, 'shard-0', `pk-${s}`, Number(seq % 7n)),
            );
          });
        }
        const queues = records.map((recs) => {
          const calls: NormalizedEvent[][] = [];
          let next = 0;
          let step = 0;
          while (next < recs.length) {
            const { size, rewind } = plan[step++ % plan.length];
            const from = Math.max(0, next - rewind);
            const to = Math.min(recs.length, Math.max(from + size, next + 1));
            calls.push(recs.slice(from, to));
            next = to;
          }
          return calls;
        });
        const calls: NormalizedEvent[][] = [];
        let p = 0;
        while (queues.some((q) => q.length > 0)) {
          const q =
            queues[picks[p % picks.length]].length > 0
              ? queues[picks[p % picks.length]]
              : queues.find((x) => x.length > 0)!;
          const call = [...q.shift()!];
          const turn = shuffles[p++ % shuffles.length] % (call.length + 1);
          calls.push([...call.slice(turn), ...call.slice(0, turn).reverse()]);
        }
        return { all: records.flat(), calls };
      });
  }

  it.each(['shard', 'partitionKey'] as const)(
    "applies each record exactly once over any retries and interleavings (fenceBy '%s', property)",
    (fenceBy) => {
      fc.assert(
        fc.property(deliveriesArb(3, fenceBy), ({ all, calls }) => {
          let row: SpeedRow | undefined;
          const model = new Map<string, bigint>(); // fence per key, as BigInt
          for (const call of calls) {
            const expected = call
              .filter((e) => {
                const fence = model.get(fenceKey(e, fenceBy));
                return fence === undefined || BigInt(e.seq) > fence;
              })
              .sort((a, b) => (BigInt(a.seq) < BigInt(b.seq) ? -1 : 1));
            const result = applyToRow(view, row, call, fenceBy);
            if (expected.length === 0) {
              expect(result).toBeUndefined();
              continue;
            }
            expect(result?.applied.map((e) => e.id)).toEqual(expected.map((e) => e.id));
            for (const e of expected) model.set(fenceKey(e, fenceBy), BigInt(e.seq));
            expect(result!.row.fences).toEqual(
              Object.fromEntries([...model].map(([k, v]) => [k, v.toString()])),
            );
            row = result!.row;
          }
          expectSameRow(row!.state, once(all));
          expect(finalizeRow(view, row!.state).n).toBe(all.length);
        }),
        RUNS,
      );
    },
  );
});

describe('groupForSpeed', () => {
  const views = validateViews([
    { name: 'a', eventType: 't', key: ['k'], granularity: '1m', measures: { n: { kind: 'count' } } },
    {
      name: 'b',
      eventType: 't',
      key: ['k'],
      granularity: '1h',
      where: { x: 1 },
      measures: { n: { kind: 'count' } },
    },
  ]);
  const at = (
    timeMs: number,
    arrivedMs: number,
    body: Record<string, unknown>,
    seq = 1n,
  ): NormalizedEvent => ({
    ...event(seq),
    timeMs,
    arrivedMs,
    body: { type: 't', k: 'a', ...body },
  });

  it('groups a batch by view, key, event bucket and arrival bucket, keeping stream order', () => {
    const events = [
      at(60_000, 120_000, { x: 1 }, 1n),
      at(119_999, 179_999, { x: 2 }, 2n),
      at(60_000, 180_000, { x: 1 }, 3n),
      at(0, 0, { type: 'other' }, 4n),
    ];
    const groups = groupForSpeed(views, events, 60_000);
    expect(groups.map((g) => [speedRowId(g.address), g.events.map((e) => e.seq)])).toEqual([
      ['a|["a"]|60000|120000', ['1', '2']],
      ['b|["a"]|0|120000', ['1']],
      ['a|["a"]|60000|180000', ['3']],
      ['b|["a"]|0|180000', ['3']],
    ]);
  });
});

describe('one copy per event id (dedupe)', () => {
  const copyArb = fc.record({
    id: fc.constantFrom('a', 'b', 'c'),
    arrivedMs: fc.integer({ min: 0, max: 3 }),
    shardId: fc.constantFrom('shard-0', 'shard-1'),
    seq: fc.constantFrom('9', '10', '99', '100', '1000'),
    n: fc.nat(),
  });

  it('keeps the earliest copy (arrival, then shard, then sequence number) whatever the input order', () => {
    fc.assert(
      fc.property(fc.array(copyArb, { maxLength: 20 }), (copies) => {
        const events = copies.map((c): NormalizedEvent => ({
          id: c.id,
          type: 't',
          timeMs: 0,
          arrivedMs: c.arrivedMs,
          shardId: c.shardId,
          seq: c.seq,
          partitionKey: c.id,
          body: { n: c.n },
        }));
        const rank = (e: NormalizedEvent) => [e.arrivedMs, e.shardId, BigInt(e.seq)] as const;
        const earlier = (x: NormalizedEvent, y: NormalizedEvent) => {
          const [a, b] = [rank(x), rank(y)];
          return a[0] !== b[0] ? a[0] < b[0] : a[1] !== b[1] ? a[1] < b[1] : a[2] < b[2];
        };
        const expected = new Map<string, NormalizedEvent>();
        for (const e of events)
          if (!expected.has(e.id) || earlier(e, expected.get(e.id)!)) expected.set(e.id, e);
        const kept = canonicalCopies([...events].reverse());
        expect(kept.length).toBe(expected.size);
        for (const e of kept) expect(rank(e)).toEqual(rank(expected.get(e.id)!));
      }),
      RUNS,
    );
  });

  it('compares sequence numbers as numbers, not text', () => {
    const copy = (seq: string): NormalizedEvent => ({ ...event(1n), seq });
    expect(isEarlierCopy(copy('999'), copy('1000'))).toBe(true);
    expect(isEarlierCopy(copy('1000'), copy('999'))).toBe(false);
  });
});
