import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  encodedKeyBytes,
  keyCertainlyFits,
  keyProblem,
  MAX_ENCODED_KEY_BYTES,
} from '../../lambdas/core/reducer';
import { validateView } from '../../lambdas/core/view';

const view = validateView({
  name: 'v',
  eventType: 't',
  key: ['a', 'b'],
  granularity: '1m',
  measures: { n: { kind: 'count' } },
});

// Characters whose encoding is longest: control characters (\u001f: 6 bytes), quotes and
// backslashes (2), lone surrogates (\ud800: 6), astral pairs (4 bytes for 2 units), BMP text (3).
const unit = fc.constantFrom('\u001f', '"', '\\', '\ud800', '\udfff', '😀', 'é', '中', 'a', '\n');
const keyArb = fc.array(
  fc.array(unit, { maxLength: 200 }).map((units) => units.join('')),
  { minLength: 1, maxLength: 4 },
);

describe('keyCertainlyFits, the shortcut of the key size check', () => {
  it('never says a key fits when its encoding is over the limit (property)', () => {
    fc.assert(
      fc.property(keyArb, (values) => {
        if (keyCertainlyFits(values))
          expect(encodedKeyBytes(values)).toBeLessThanOrEqual(MAX_ENCODED_KEY_BYTES);
        expect(keyProblem(view, values) === undefined).toBe(encodedKeyBytes(values) <= MAX_ENCODED_KEY_BYTES);
      }),
      { numRuns: 2000 },
    );
  });

  it('is tight for the worst character: 170 control characters fit, 171 do not', () => {
    const worst = (n: number) => ['\u001f'.repeat(n)];
    expect(keyCertainlyFits(worst(170))).toBe(true);
    expect(encodedKeyBytes(worst(170))).toBe(1024);
    expect(keyCertainlyFits(worst(171))).toBe(false);
    expect(encodedKeyBytes(worst(171))).toBe(1030);
    expect(keyProblem(view, worst(171))).toMatch(/1030 bytes long/);
  });
});
