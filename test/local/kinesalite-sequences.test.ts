import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  bigintHashKey,
  bigintSequences,
  kinesaliteOriginals,
  type KinesaliteDb,
} from '../../local/kinesalite-sequences';

// kinesalite's own conversions (bignumber.js), even when local/emulators.ts has replaced them.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- CommonJS without types
const original = kinesaliteOriginals(require('kinesalite/db') as KinesaliteDb);
const fast = bigintSequences(original);

const hex = (length: number) =>
  fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: length, maxLength: length });
// Times and indexes over the ranges kinesalite produces and accepts.
const sequence = fc.record({
  shardCreateTime: fc.integer({ min: 0, max: 16_025_174_999 }).map((s) => s * 1000 + 999),
  shardIx: fc.integer({ min: 0, max: 2_147_483_647 }),
  seqIx: fc.oneof(
    fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }).map(String),
  ),
  seqTime: fc.integer({ min: 0, max: 16_025_174_999 }).map((s) => s * 1000),
  byte1: hex(2),
});

describe('kinesalite hash keys with BigInt', () => {
  it('orders a partition key against shard bounds exactly as kinesalite does', () => {
    const bound = fc.oneof(
      fc.bigInt({ min: 0n, max: 2n ** 128n - 1n }),
      fc.constantFrom(0n, 2n ** 127n, 2n ** 128n - 1n, 170141183460469231731687303715884105727n),
    );
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 256 }), bound, (key, b) => {
        const mine = bigintHashKey(key);
        const theirs = original.partitionKeyToHashKey(key);
        expect(mine.toFixed()).toBe(theirs.toFixed());
        expect(mine.comparedTo(b.toString())).toBe(theirs.comparedTo(b.toString()));
        // Against its own value: equal, as each shard's bounds are inclusive.
        expect(mine.comparedTo(theirs.toFixed())).toBe(0);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('kinesalite sequence numbers with BigInt', () => {
  it('stringifies, parses and increments exactly as kinesalite does (version 2)', () => {
    fc.assert(
      fc.property(sequence, (obj) => {
        const text = original.stringifySequence(obj);
        expect(fast.stringifySequence(obj)).toBe(text);
        expect(fast.parseSequence(text)).toEqual(original.parseSequence(text));
        expect(fast.incrementSequence(text)).toBe(original.incrementSequence(text));
        const parsed = original.parseSequence(text);
        expect(fast.incrementSequence(parsed, obj.seqTime)).toBe(
          original.incrementSequence(parsed, obj.seqTime),
        );
      }),
      { numRuns: 2000 },
    );
  });

  it('parses the older versions 0 and 1 as kinesalite does', () => {
    fc.assert(
      fc.property(sequence, fc.constantFrom(0, 1), hex(16), (obj, version, seqRand) => {
        const text = original.stringifySequence({
          ...obj,
          seqIx: Number(BigInt(obj.seqIx) % 256n),
          seqRand: version === 1 ? seqRand.slice(0, 14) : seqRand,
          version,
        });
        expect(fast.parseSequence(text)).toEqual(original.parseSequence(text));
      }),
      { numRuns: 1000 },
    );
  });

  it('fails on bad input as kinesalite does (its own function answers)', () => {
    for (const bad of ['', 'abc', '12x', '1', '0', String(2n ** 200n)]) {
      let expected: unknown;
      let actual: unknown;
      try {
        expected = original.parseSequence(bad);
      } catch (error) {
        expected = (error as Error).message;
      }
      try {
        actual = fast.parseSequence(bad);
      } catch (error) {
        actual = (error as Error).message;
      }
      expect(actual).toEqual(expected);
    }
  });
});
