import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  distinctErrorBound,
  HLL_PRECISION,
  HLL_RANK_BITS,
  HLL_REGISTERS,
  HLL_STANDARD_ERROR,
  DENSE_FROM_REGISTERS,
  HyperLogLog,
} from '../../lambdas/core/hyperloglog';

const RUNS = { numRuns: 200 };

/** Register arrays as any sketch may hold them: mostly empty, ranks 1..41 where set. */
const registersArb = fc
  .array(fc.tuple(fc.nat(HLL_REGISTERS - 1), fc.integer({ min: 1, max: HLL_RANK_BITS + 1 })), {
    maxLength: 300,
  })
  .map((sets) => {
    const registers = new Uint8Array(HLL_REGISTERS);
    for (const [index, rank] of sets) registers[index] = rank;
    return registers;
  });

const valuesArb = fc.array(fc.oneof(fc.string(), fc.string({ unit: 'grapheme' })), { maxLength: 60 });

function sketchOf(values: Iterable<string>): HyperLogLog {
  const sketch = new HyperLogLog();
  for (const v of values) sketch.add(v);
  return sketch;
}

describe('HyperLogLog sparse text', () => {
  it('round-trips any registers', () => {
    fc.assert(
      fc.property(registersArb, (registers) => {
        const sketch = new HyperLogLog(registers);
        const text = sketch.toSparse();
        const back = HyperLogLog.fromSparse(text);
        expect(back.equals(sketch)).toBe(true);
        expect(Array.from(back.registers)).toEqual(Array.from(registers));
        expect(back.toSparse()).toBe(text);
      }),
      RUNS,
    );
  });

  it('lists the set registers as index:rank in index order', () => {
    fc.assert(
      fc.property(registersArb, (registers) => {
        const text = new HyperLogLog(registers).toSparse();
        const parts = text === '' ? [] : text.split(',').map((p) => p.split(':').map(Number));
        expect(parts.map(([i]) => i)).toEqual([...parts.map(([i]) => i)].sort((a, b) => a - b));
        expect(parts.length).toBe(registers.filter((r) => r > 0).length);
        for (const [index, rank] of parts) expect(registers[index]).toBe(rank);
      }),
      RUNS,
    );
  });

  it('reads an empty or absent text as the empty sketch', () => {
    expect(new HyperLogLog().toSparse()).toBe('');
    for (const text of ['', null, undefined]) expect(HyperLogLog.fromSparse(text).isEmpty()).toBe(true);
    expect(new HyperLogLog().add('x').isEmpty()).toBe(false);
  });

  it('keeps the larger rank when a register is listed twice', () => {
    expect(HyperLogLog.fromSparse('5:3,5:7,5:2').toSparse()).toBe('5:7');
    expect(HyperLogLog.fromSparse('4095:41,0:1').toSparse()).toBe('0:1,4095:41');
  });

  it.each([
    'x',
    '1',
    '1:',
    ':1',
    '1:0',
    '4096:1',
    '1:42',
    '-1:3',
    '1:-3',
    '1:2:3',
    '0x10:2',
    '1e1:2',
    '1.0:2',
    '1:2.5',
    ' 1:2',
    '1:2 ',
    '1:2,',
    ',1:2',
    '1:2,,3:4',
    '1;2',
    'NaN:1',
  ])('refuses the malformed register list %j', (text) => {
    expect(() => HyperLogLog.fromSparse(text)).toThrow(/malformed HyperLogLog register/);
  });
});

describe('HyperLogLog merge', () => {
  it('is register-wise max, and changes neither input', () => {
    fc.assert(
      fc.property(registersArb, registersArb, (a, b) => {
        const copyA = Uint8Array.from(a);
        const copyB = Uint8Array.from(b);
        const merged = new HyperLogLog(a).merge(new HyperLogLog(b));
        for (let i = 0; i < HLL_REGISTERS; i++) {
          if (merged.registers[i] !== Math.max(a[i], b[i])) {
            expect(merged.registers[i], `register ${i}`).toBe(Math.max(a[i], b[i]));
          }
        }
        expect(Buffer.compare(a, copyA), 'first input unchanged').toBe(0);
        expect(Buffer.compare(b, copyB), 'second input unchanged').toBe(0);
      }),
      RUNS,
    );
  });

  it('of two sets’ sketches equals the sketch of their union', () => {
    fc.assert(
      fc.property(valuesArb, valuesArb, (a, b) => {
        const union = sketchOf([...a, ...b]);
        expect(sketchOf(a).merge(sketchOf(b)).equals(union)).toBe(true);
        expect(sketchOf(b).merge(sketchOf(a)).equals(union)).toBe(true);
      }),
      RUNS,
    );
  });

  it('is idempotent, and the empty sketch is its identity', () => {
    fc.assert(
      fc.property(registersArb, (a) => {
        const s = new HyperLogLog(a);
        expect(s.merge(s).equals(s)).toBe(true);
        expect(s.merge(new HyperLogLog()).equals(s)).toBe(true);
        expect(new HyperLogLog().merge(s).equals(s)).toBe(true);
      }),
      RUNS,
    );
  });

  it('adding a value again changes nothing', () => {
    fc.assert(
      fc.property(valuesArb, (values) => {
        expect(sketchOf([...values, ...values]).equals(sketchOf(values))).toBe(true);
      }),
      RUNS,
    );
  });
});

describe('HyperLogLog hash', () => {
  /** An independent reading of the documented bits: index = first 12 bits of MD5, rank from the next 40. */
  function reference(value: string): { index: number; rank: number } {
    const digest = BigInt(`0x${createHash('md5').update(Buffer.from(value, 'utf8')).digest('hex')}`);
    const index = Number(digest >> BigInt(128 - HLL_PRECISION));
    const word =
      (digest >> BigInt(128 - HLL_PRECISION - HLL_RANK_BITS)) & ((1n << BigInt(HLL_RANK_BITS)) - 1n);
    let rank = 1;
    for (let bit = HLL_RANK_BITS - 1; bit >= 0 && ((word >> BigInt(bit)) & 1n) === 0n; bit--) rank++;
    return { index, rank };
  }

  it('takes the index from the first 12 bits and the rank from the next 40 (41 when all zero)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'grapheme' })), (value) => {
        expect(HyperLogLog.hash(value)).toEqual(reference(value));
      }),
      RUNS,
    );
    // MD5("") = d41d8cd98f00b204e9800998ecf8427e: index 0xd41 = 3393, word 0xd8cd98f00b has its top bit set.
    expect(HyperLogLog.hash('')).toEqual({ index: 0xd41, rank: 1 });
  });
});

describe('HyperLogLog estimate', () => {
  it('documents a standard error of 1.625% and a bound of 4 standard errors, at least 2', () => {
    expect(HLL_STANDARD_ERROR).toBeCloseTo(0.01625, 5);
    expect(distinctErrorBound(0)).toBe(2);
    expect(distinctErrorBound(10)).toBe(2);
    expect(distinctErrorBound(1_000)).toBe(65);
    expect(distinctErrorBound(100_000)).toBe(6_500);
  });

  it.each([0, 1, 10, 100, 1_000, 10_000, 100_000])(
    'estimates %i distinct values within distinctErrorBound',
    (n) => {
      const sketch = new HyperLogLog();
      for (let i = 0; i < n; i++) sketch.add(`user-${i}`);
      const estimate = sketch.estimate();
      expect(Math.abs(estimate - n), `estimate ${estimate}`).toBeLessThanOrEqual(distinctErrorBound(n));
      if (n <= 10) expect(estimate).toBe(n); // linear counting is exact while registers rarely collide
    },
  );

  it('estimates a merged sketch within the bound of the union', () => {
    const a = sketchOf(Array.from({ length: 6_000 }, (_, i) => `id-${i}`));
    const b = sketchOf(Array.from({ length: 6_000 }, (_, i) => `id-${i + 3_000}`));
    expect(Math.abs(a.merge(b).estimate() - 9_000)).toBeLessThanOrEqual(distinctErrorBound(9_000));
  });
});

describe('fromSparse parses exactly the sparse grammar', () => {
  /** The grammar as a regular expression per part (the reference the hand parser must match). */
  function reference(text: string): Uint8Array | 'error' {
    const registers = new Uint8Array(HLL_REGISTERS);
    for (const part of text.split(',')) {
      const match = /^(\d{1,4}):(\d{1,2})$/.exec(part);
      if (!match) return 'error';
      const index = Number(match[1]);
      const rank = Number(match[2]);
      if (index >= HLL_REGISTERS || rank < 1 || rank > 41) return 'error';
      registers[index] = Math.max(registers[index], rank);
    }
    return registers;
  }

  it('accepts and refuses the same texts as the per-part regular expression (property)', () => {
    const token = fc.constantFrom(
      '0',
      '1',
      '4',
      '9',
      '40',
      '41',
      '42',
      '4095',
      '4096',
      '00012',
      ':',
      ',',
      ' ',
      'x',
      'e',
      '-',
    );
    fc.assert(
      fc.property(fc.array(token, { minLength: 1, maxLength: 12 }), (tokens) => {
        const text = tokens.join('');
        const expected = reference(text);
        let actual: Uint8Array | 'error';
        try {
          actual = HyperLogLog.fromSparse(text).registers;
        } catch {
          actual = 'error';
        }
        expect(actual, text).toEqual(expected);
      }),
      { numRuns: 20_000 },
    );
  });
});

describe('HyperLogLog copies share registers until written (copy on write)', () => {
  const opsArb = fc.array(fc.tuple(fc.constantFrom('left', 'right'), fc.string({ maxLength: 6 })), {
    maxLength: 80,
  });

  it('a clone and its source change independently, each as a sketch built on its own would', () => {
    fc.assert(
      fc.property(valuesArb, opsArb, (start, ops) => {
        const left = sketchOf(start);
        const right = left.clone();
        const leftValues = [...start];
        const rightValues = [...start];
        for (const [side, value] of ops) {
          if (side === 'left') {
            left.add(value);
            leftValues.push(value);
          } else {
            right.add(value);
            rightValues.push(value);
          }
        }
        expect(left.equals(sketchOf(leftValues))).toBe(true);
        expect(right.equals(sketchOf(rightValues))).toBe(true);
        expect(left.toSparse()).toBe(sketchOf(leftValues).toSparse());
        expect(right.toSparse()).toBe(sketchOf(rightValues).toSparse());
      }),
      RUNS,
    );
  });

  it('adding to either input after a merge leaves the merged sketch as it was', () => {
    fc.assert(
      fc.property(valuesArb, valuesArb, valuesArb, (a, b, more) => {
        const left = sketchOf(a);
        const right = sketchOf(b);
        const merged = left.merge(right);
        const text = merged.toSparse();
        for (const v of more) {
          left.add(v);
          right.add(`${v}!`);
        }
        expect(merged.toSparse()).toBe(text);
        expect(merged.equals(sketchOf([...a, ...b]))).toBe(true);
      }),
      RUNS,
    );
  });

  it('reads the registers of a sketch, not those of a clone written since', () => {
    const source = sketchOf(['a', 'b']);
    const before = Array.from(source.registers);
    const copy = source.clone();
    for (let i = 0; i < 500; i++) copy.add(`v${i}`);
    expect(Array.from(source.registers)).toEqual(before);
    expect(copy.registers.filter((r) => r > 0).length).toBeGreaterThan(before.filter((r) => r > 0).length);
  });
});

describe('HyperLogLog sparse text, printed per block', () => {
  it('is every set register as index:rank, in index order, whatever the fill and after adds', () => {
    const denseArb = fc.array(fc.integer({ min: 0, max: 41 }), {
      minLength: HLL_REGISTERS,
      maxLength: HLL_REGISTERS,
    });
    fc.assert(
      fc.property(denseArb, fc.array(fc.string(), { maxLength: 50 }), (ranks, values) => {
        const sketch = new HyperLogLog(Uint8Array.from(ranks));
        sketch.toSparse(); // block texts cached, then some blocks changed by the adds
        for (const v of values) sketch.add(v);
        const registers = sketch.registers;
        const expected: string[] = [];
        registers.forEach((r, i) => {
          if (r > 0) expected.push(`${i}:${r}`);
        });
        expect(sketch.toSparse()).toBe(expected.join(','));
      }),
      { numRuns: 100 },
    );
  });
});

describe('HyperLogLog stored text (toText: sparse while few registers are set, dense from then on)', () => {
  const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef';
  /** Registers with any number set, from none to all: both forms are met. */
  const anyFillArb = fc
    .tuple(
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.array(fc.integer({ min: 1, max: 41 }), { minLength: 64, maxLength: 64 }),
    )
    .map(([fill, ranks]) => {
      const registers = new Uint8Array(HLL_REGISTERS);
      // A deterministic spread of about fill * 4,096 set registers.
      for (let i = 0; i < HLL_REGISTERS; i++)
        if (((i * 2654435761) >>> 0) / 2 ** 32 < fill) registers[i] = ranks[i % 64];
      return registers;
    });

  /** What toText must print, written from the definition alone (ADR 029: the packed text). */
  function expectedText(registers: Uint8Array): string {
    const set = registers.filter((r) => r > 0).length;
    if (set === 0) return '';
    if (set < DENSE_FROM_REGISTERS) {
      const base64url = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      let text = 'p';
      registers.forEach((rank, index) => {
        if (rank === 0) return;
        const value = index * 64 + rank; // 12 bits of index, 6 of rank: three base64url digits
        text +=
          base64url[Math.floor(value / 4096)] +
          base64url[Math.floor(value / 64) % 64] +
          base64url[value % 64];
      });
      return text;
    }
    return 'd' + Array.from(registers, (r) => ALPHABET[r]).join('');
  }

  it('prints the packed text below the threshold and d + one character per register from it, and reads both back', () => {
    fc.assert(
      fc.property(anyFillArb, (registers) => {
        const text = new HyperLogLog(registers).toText();
        expect(text).toBe(expectedText(registers));
        // Whichever is shorter: never more than the dense text's 4,097 characters.
        expect(text.length).toBeLessThanOrEqual(1 + HLL_REGISTERS);
        expect(Array.from(HyperLogLog.fromText(text).registers)).toEqual(Array.from(registers));
      }),
      { numRuns: 150 },
    );
  });

  it('is the same text for the same registers however the sketch was built (adds, clones, merges, parses)', () => {
    fc.assert(
      fc.property(
        anyFillArb,
        fc.array(fc.string({ maxLength: 8 }), { maxLength: 700 }),
        anyFillArb,
        (start, values, other) => {
          // Counted as registers are raised (add), copied (clone), recounted (merge, constructor).
          const built = HyperLogLog.fromText(new HyperLogLog(start).toText());
          built.toText();
          const copy = built.clone();
          for (const v of values) copy.add(v);
          const merged = copy.merge(new HyperLogLog(other));
          expect(copy.toText()).toBe(expectedText(copy.registers));
          expect(merged.toText()).toBe(expectedText(merged.registers));
          expect(built.toText()).toBe(expectedText(start));
        },
      ),
      { numRuns: 100 },
    );
  });

  it('crosses to the dense text exactly at the threshold as values are added one by one', () => {
    const sketch = new HyperLogLog();
    for (let i = 0; sketch.registers.filter((r) => r > 0).length < DENSE_FROM_REGISTERS; i++) {
      expect(sketch.toText()).toBe(expectedText(sketch.registers));
      if (i > 0) expect(sketch.toText().startsWith('p')).toBe(true);
      sketch.add(`user-${i}`);
    }
    expect(sketch.toText()).toBe(expectedText(sketch.registers));
    expect(sketch.toText().startsWith('d')).toBe(true);
  });

  it.each([
    ['too short', 'd' + '0'.repeat(HLL_REGISTERS - 1)],
    ['too long', 'd' + '0'.repeat(HLL_REGISTERS + 1)],
    ['a rank above 41', 'd' + 'g' + '0'.repeat(HLL_REGISTERS - 1)],
    ['a character outside the alphabet', 'd' + '0'.repeat(HLL_REGISTERS - 1) + ','],
    ['a character outside ASCII', 'd' + 'é' + '0'.repeat(HLL_REGISTERS - 1)],
  ])('refuses a dense text %s', (_, text) => {
    expect(() => HyperLogLog.fromText(text)).toThrow(/malformed dense HyperLogLog text/);
  });

  it.each([
    ['no register', 'p'],
    ['a partial register', 'pAAB' + 'A'],
    ['a rank of 0', 'pAAA'],
    ['a rank above 41', 'pAAq'],
    ['indexes not rising', 'pABBAAB'],
    ['an index twice', 'pAABAAB'],
    ['a character outside the alphabet', 'pAA+'],
    ['a character outside ASCII', 'pAAé'],
  ])('refuses a packed text with %s', (_, text) => {
    expect(() => HyperLogLog.fromText(text)).toThrow(/malformed packed HyperLogLog text/);
  });

  it('reads the packed text of the largest index and rank', () => {
    const registers = new Uint8Array(HLL_REGISTERS);
    registers[0] = 1;
    registers[HLL_REGISTERS - 1] = HLL_RANK_BITS + 1;
    expect(new HyperLogLog(registers).toText()).toBe('pAAB__p');
    expect(Array.from(HyperLogLog.fromText('pAAB__p').registers)).toEqual(Array.from(registers));
  });

  it('reads sparse texts (rows written before the dense form) as fromSparse does', () => {
    fc.assert(
      fc.property(registersArb, (registers) => {
        const sparse = new HyperLogLog(registers).toSparse();
        expect(HyperLogLog.fromText(sparse).equals(HyperLogLog.fromSparse(sparse))).toBe(true);
      }),
      RUNS,
    );
    expect(() => HyperLogLog.fromText('1:2,')).toThrow(/malformed HyperLogLog register/);
  });
});
