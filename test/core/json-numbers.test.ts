import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { inexactNumberPaths, isExactNumberLiteral, pathText } from '../../lambdas/core/json-numbers';

const RUNS = { numRuns: 200 };

describe('inexactNumberPaths', () => {
  it.each([
    ['123456789.123456789'],
    ['1.00000000000000001'],
    ['9007199254740993'],
    ['12345678901234567890'],
    ['1.50'],
    ['15e-1'],
    ['1e-7'],
    ['-0'],
    ['0.1000000000000000000000'],
    ['123456789012345.6'],
  ])('tells whether %s survives a double, as exact decimal arithmetic says', (literal) => {
    // The oracle: the literal's exact decimal against the double's exact decimal, with BigInt.
    const exact = (text: string) => {
      const [m, e = '0'] = text.toLowerCase().split('e');
      const [w, f = ''] = m.replace('-', '').split('.');
      return { digits: BigInt(w + f), exp: Number(e) - f.length };
    };
    const a = exact(literal);
    const b = exact(String(Math.abs(Number(literal))));
    const scale = Math.min(a.exp, b.exp);
    const same = a.digits * 10n ** BigInt(a.exp - scale) === b.digits * 10n ** BigInt(b.exp - scale);
    expect(isExactNumberLiteral(literal)).toBe(same);
  });

  it('finds nothing in any JSON that JavaScript wrote (its numbers always round-trip) (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(inexactNumberPaths(JSON.stringify(value))).toEqual([]);
      }),
      RUNS,
    );
  });

  it('names the path of a long literal put anywhere in a document (property)', () => {
    const keyArb = fc.string({ maxLength: 6 });
    fc.assert(
      fc.property(
        fc.array(fc.oneof(keyArb, fc.nat({ max: 3 })), { maxLength: 4 }),
        fc.jsonValue(),
        (path, filler) => {
          // Build the document around the path: objects for names, arrays (padded) for indices.
          const marker = '__LOSSY__';
          let doc: unknown = marker;
          for (let i = path.length - 1; i >= 0; i--) {
            const step = path[i];
            if (typeof step === 'number') {
              const arr: unknown[] = Array.from({ length: step }, () => filler);
              arr.push(doc);
              doc = arr;
            } else doc = { x: filler, [step]: doc };
          }
          const text = JSON.stringify(doc).replace(`"${marker}"`, '123456789.123456789');
          expect(inexactNumberPaths(text)).toEqual([path]);
        },
      ),
      RUNS,
    );
  });

  it('reads escaped member names', () => {
    expect(inexactNumberPaths('{"a\\"b": {"c\\u0041": 0.12345678901234567891}}')).toEqual([['a"b', 'cA']]);
    expect(pathText(['events', 3, 'geo', 'lat'])).toBe('events[3].geo.lat');
  });
});
