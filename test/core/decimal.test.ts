import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DecimalAccumulator,
  decimalFromNumber,
  decimalRatioToNumber,
  formatDecimal,
  parseDecimal,
} from '../../lambdas/core/decimal';
import { isNearestDouble } from '../fixtures/nearest-double';
import { summableProblem } from '../../lambdas/core/fields';

const RUNS = { numRuns: 500 };
const SCALE = 10n ** 9n;

/** The bigint-only printing, as formatDecimal did before its double fast path: the reference. */
function reference(value: bigint): string {
  const negative = value < 0n;
  const abs = negative ? -value : value;
  const fraction = (abs % SCALE).toString().padStart(9, '0').replace(/0+$/, '');
  return `${negative ? '-' : ''}${abs / SCALE}${fraction ? `.${fraction}` : ''}`;
}

const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

describe('formatDecimal', () => {
  it('prints safe nano-unit counts (the double fast path) as the bigint reference does (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.bigInt({ min: -SAFE, max: SAFE }),
          fc.bigInt({ min: -(10n ** 12n), max: 10n ** 12n }),
          fc.integer({ min: -1000, max: 1000 }).map((k) => BigInt(k) * SCALE),
        ),
        (units) => {
          expect(formatDecimal(units)).toBe(reference(units));
        },
      ),
      RUNS,
    );
  });

  it.each([0n, 1n, -1n, SCALE, -SCALE, SCALE - 1n, SAFE, -SAFE, SAFE + 1n, -SAFE - 1n, 10n ** 27n])(
    'prints %s as the reference does, at the edges of the fast path',
    (units) => {
      expect(formatDecimal(units)).toBe(reference(units));
    },
  );
});

describe('DecimalAccumulator', () => {
  const summable = fc
    .oneof(
      fc.integer({ min: -999_999_999, max: 999_999_999 }).map((m) => m / 1000),
      fc.double({ min: -999_999.999, max: 999_999.999, noNaN: true }).map((v) => Math.round(v * 1e6) / 1e6),
      fc.integer({ min: -(10 ** 15), max: 10 ** 15 }),
      fc.constantFrom(999_999.999999999, -999_999.999999999, 1e-9, -1e-9, 5e17, -5e17),
    )
    .filter((v) => summableProblem(v) === undefined);

  it('adds exactly what the sum of decimalFromNumber is, flushes included (property)', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: -(10n ** 20n), max: 10n ** 20n }),
        fc.array(summable, { maxLength: 60 }),
        (start, values) => {
          const acc = new DecimalAccumulator(start);
          let expected = start;
          for (const v of values) {
            acc.add(v);
            expected += decimalFromNumber(v);
          }
          expect(acc.sum).toBe(expected);
        },
      ),
      RUNS,
    );
  });

  it('stays exact past 2^53 nano-units of small values (a flush)', () => {
    const acc = new DecimalAccumulator(0n);
    let expected = 0n;
    for (let i = 0; i < 40; i++) {
      acc.add(999_999.999999999);
      expected += decimalFromNumber(999_999.999999999);
    }
    expect(expected > SAFE).toBe(true);
    expect(acc.sum).toBe(expected);
  });
});

describe('decimalRatioToNumber (what avg serves)', () => {
  it('serves the mean rounded once, not the rounded sum divided again', () => {
    expect(decimalRatioToNumber(parseDecimal('0.6'), 3)).toBe(0.2); // 0.6 / 3 is 0.19999999999999998
    expect(decimalRatioToNumber(parseDecimal('-0.6'), 3)).toBe(-0.2);
    expect(decimalRatioToNumber(parseDecimal('1'), 3)).toBe(1 / 3);
    expect(decimalRatioToNumber(parseDecimal('0.000000001'), 1_000_000_000)).toBe(1e-18);
    expect(decimalRatioToNumber(parseDecimal('0'), 7)).toBe(0);
    expect(() => decimalRatioToNumber(1n, 0)).toThrow('count must be a positive integer');
  });

  it('is the double nearest the exact quotient (property, checked in exact rationals)', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: -(10n ** 27n), max: 10n ** 27n }),
        fc.oneof(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 2_000_000_000 })),
        (units, n) => {
          expect(isNearestDouble(decimalRatioToNumber(units, n), units, BigInt(n) * SCALE)).toBe(true);
        },
      ),
      RUNS,
    );
  });

  it('rounds a quotient exactly halfway between two doubles to even, and one just past it away', () => {
    // 2^53 + 1 is halfway between 2^53 and 2^53 + 2: as a mean of two events, it rounds to even.
    const halfway = (2n ** 53n + 1n) * 2n * SCALE;
    expect(decimalRatioToNumber(halfway, 2)).toBe(2 ** 53);
    expect(decimalRatioToNumber(halfway + 1n, 2)).toBe(2 ** 53 + 2);
  });
});
