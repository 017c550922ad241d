import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { copyOrderKey, isEarlierCopy } from '../../lambdas/core/dedupe';

// Kinesis: shard ids match [a-zA-Z0-9_.-]+, sequence numbers are 1 to 129 digits without a
// leading zero (API_Record, API_SequenceNumberRange).
const shardArb = fc.oneof(
  fc.constantFrom('shardId-000000000000', 'shardId-000000000001', 'shardId-000000000010', 's', 's0'),
  fc.stringMatching(/^[a-zA-Z0-9_.-]{1,24}$/),
);
const seqArb = fc.oneof(
  fc.constantFrom('0', '9', '10', '99', '100', '49590338271490256608559692538361571095921575989136588898'),
  fc.bigInt({ min: 0n, max: 10n ** 129n - 1n }).map(String),
);
const copyArb = fc.record({
  arrivedMs: fc.oneof(fc.constantFrom(0, 1, 9, 10, 1_764_000_000_000), fc.nat({ max: 2 ** 52 })),
  shardId: shardArb,
  seq: seqArb,
});
const objectArb = fc.constantFrom(
  'events/a.ndjson',
  'events/b.ndjson',
  'events/dt=2026-11-24/hour=09/x 1.ndjson',
);

describe('copyOrderKey', () => {
  it('sorts as text in the order isEarlierCopy gives, the object key breaking ties', () => {
    fc.assert(
      fc.property(copyArb, copyArb, objectArb, objectArb, (a, b, ka, kb) => {
        const x = copyOrderKey(a, ka);
        const y = copyOrderKey(b, kb);
        const samePosition = !isEarlierCopy(a, b) && !isEarlierCopy(b, a);
        if (samePosition) expect(x < y).toBe(ka < kb);
        else expect(x < y).toBe(isEarlierCopy(a, b));
      }),
      { numRuns: 2000 },
    );
  });

  it('reads a sequence number written with leading zeros as its value', () => {
    const at = { arrivedMs: 5, shardId: 's' };
    expect(copyOrderKey({ ...at, seq: '0099' }, 'k')).toBe(copyOrderKey({ ...at, seq: '99' }, 'k'));
    expect(copyOrderKey({ ...at, seq: '000' }, 'k')).toBe(copyOrderKey({ ...at, seq: '0' }, 'k'));
  });

  it('refuses an arrival time it cannot order', () => {
    expect(() => copyOrderKey({ arrivedMs: -1, shardId: 's', seq: '1' }, 'k')).toThrow(/whole number of ms/);
    expect(() => copyOrderKey({ arrivedMs: 1.5, shardId: 's', seq: '1' }, 'k')).toThrow(/whole number/);
  });
});
