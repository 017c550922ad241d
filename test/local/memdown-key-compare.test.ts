import fc from 'fast-check';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { compareMemdownKeysNatively } from '../../local/memdown-key-compare';

type Compare = (a: unknown, b: unknown) => number;
const ltgt = createRequire(require.resolve('memdown'))('ltgt') as { compare: Compare };

describe("memdown's key order, compared natively", () => {
  it('orders Buffers as ltgt does (prefixes, equal keys, empty keys) and leaves other keys to ltgt', () => {
    const original = ltgt.compare;
    compareMemdownKeysNatively();
    const patched = ltgt.compare;
    expect(patched).not.toBe(original);
    // Keys with a shared prefix, as kinesalite's are (stream, shard, sequence number).
    const key = fc
      .tuple(
        fc.constantFrom('', 'stream/shardId-000000000001/', 'stream/shardId-000000000000/49'),
        fc.uint8Array({ maxLength: 12 }),
      )
      .map(([prefix, rest]) => Buffer.concat([Buffer.from(prefix), rest]));
    fc.assert(
      fc.property(key, key, (a, b) => {
        expect(Math.sign(patched(a, b))).toBe(Math.sign(original(a, b)));
        expect(Math.sign(patched(a, a))).toBe(0);
      }),
      { numRuns: 2_000 },
    );
    expect(patched('a', 'b')).toBe(original('a', 'b'));
    expect(patched('b', 'a')).toBe(original('b', 'a'));
    // Once only: a second call keeps the first replacement.
    compareMemdownKeysNatively();
    expect(ltgt.compare).toBe(patched);
  });
});
