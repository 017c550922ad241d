import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decimalFromNumber, formatDecimal, plainDecimalText } from '../../lambdas/core/decimal';
import { fractionDigits, summableProblem } from '../../lambdas/core/fields';
import { toIso } from '../../lambdas/core/time';

/** Doubles near and far from 9 decimals: m x 10^-k, and arbitrary doubles. */
const valueArb = fc.oneof(
  fc
    .record({ m: fc.integer({ min: -1e15, max: 1e15 }), k: fc.integer({ min: 0, max: 14 }) })
    .map(({ m, k }) => Number(`${m}e-${k}`)),
  fc.double({ noNaN: true, noDefaultInfinity: true, min: -2e6, max: 2e6 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);

describe('the fast paths of the decimal rules agree with the rules on the number text', () => {
  it('summableProblem says "more than 9 decimals" exactly when the shortest text has more (property)', () => {
    fc.assert(
      fc.property(valueArb, (v) => {
        const byText = Math.abs(v) >= 1e18 ? 'big' : fractionDigits(v) > 9 ? 'decimals' : 'ok';
        const problem = summableProblem(v);
        const fast = problem === undefined ? 'ok' : problem.includes('1e18') ? 'big' : 'decimals';
        expect(fast, String(v)).toBe(byText);
      }),
      { numRuns: 20_000 },
    );
  });

  it('decimalFromNumber is the exact decimal of the shortest text for every summable value (property)', () => {
    fc.assert(
      fc.property(valueArb, (v) => {
        if (summableProblem(v) !== undefined) return;
        expect(formatDecimal(decimalFromNumber(v)), String(v)).toBe(normalized(plainDecimalText(v)));
      }),
      { numRuns: 20_000 },
    );
  });
});

/** Decimal text as formatDecimal prints it: no trailing zeros, no "-0". */
function normalized(text: string): string {
  let out = text.includes('.') ? text.replace(/0+$/, '').replace(/\.$/, '') : text;
  if (/^-0$/.test(out)) out = '0';
  return out;
}

describe('toIso', () => {
  it('prints what Date#toISOString prints, whatever the order of calls (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 253_402_300_799_999 }), { maxLength: 20 }), (times) => {
        for (const ms of [...times, ...times.map((t) => t - (t % 1000) + 999)]) {
          expect(toIso(ms)).toBe(new Date(ms).toISOString());
        }
      }),
      { numRuns: 2_000 },
    );
  });
});
