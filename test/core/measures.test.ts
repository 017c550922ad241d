import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatDecimal, parseDecimal } from '../../lambdas/core/decimal';
import { summableProblem } from '../../lambdas/core/fields';
import { isNearestDouble } from '../fixtures/nearest-double';
import { distinctErrorBound, HyperLogLog } from '../../lambdas/core/hyperloglog';
import {
  decodeRow,
  encodeRow,
  encodeRowText,
  finalize,
  finalizeRow,
  foldEvents,
  identity,
  identityRow,
  lift,
  liftRow,
  merge,
  mergeRows,
  sameState,
  type MeasureState,
  type RowState,
} from '../../lambdas/core/measures';
import { validateView, type MeasureKind, type MeasureSpec } from '../../lambdas/core/view';

const RUNS = { numRuns: 200 };
const KINDS: readonly MeasureKind[] = ['count', 'sum', 'min', 'max', 'avg', 'distinct'];
const SCALE = 10n ** 9n;

/** A summable number with its exact value in units of 10^-9, known without the core's decimal code. */
interface Summable {
  readonly value: number;
  readonly units: bigint;
}

// m * 10^-k with at most 15 significant digits: the double's shortest text is that very decimal.
const summableArb: fc.Arbitrary<Summable> = fc
  .record({
    m: fc.oneof(
      fc.integer({ min: -1000, max: 1000 }),
      fc.integer({ min: -999_999_999_999_999, max: 999_999_999_999_999 }),
    ),
    k: fc.integer({ min: 0, max: 9 }),
  })
  .map(({ m, k }) => ({ value: Number(`${m}e-${k}`), units: BigInt(m) * 10n ** BigInt(9 - k) }))
  // Exponent forms (1e-7) are summable when they have at most 9 decimals; the rest is refused at the door.
  .filter(({ value }) => summableProblem(value) === undefined);

const finiteArb = fc.double({ noNaN: true, noDefaultInfinity: true });
const distinctValueArb = fc.oneof(
  fc.string({ maxLength: 4 }),
  fc.string({ unit: 'grapheme', maxLength: 3 }),
  fc.integer({ min: -20, max: 20 }),
  fc.boolean(),
);

/** The field a kind reads, and the values an accepted event may carry in it. */
function valueArb(kind: MeasureKind): fc.Arbitrary<unknown> {
  switch (kind) {
    case 'count':
      return fc.anything();
    case 'sum':
    case 'avg':
      return summableArb.map((s) => s.value);
    case 'min':
    case 'max':
      return finiteArb;
    case 'distinct':
      return distinctValueArb;
  }
}

function specOf(kind: MeasureKind): MeasureSpec {
  return kind === 'count' ? { kind } : { kind, field: 'x' };
}

/** An event body: the field present, null or absent (a measure skips events without its field). */
function bodyArb(kind: MeasureKind): fc.Arbitrary<Record<string, unknown>> {
  return fc.oneof(
    { weight: 6, arbitrary: valueArb(kind).map((x) => ({ x })) },
    { weight: 1, arbitrary: fc.constant({ x: null }) },
    { weight: 1, arbitrary: fc.constant({ y: 1 }) },
  );
}

function foldBodies(spec: MeasureSpec, bodies: readonly Record<string, unknown>[]): MeasureState {
  return bodies.reduce<MeasureState>((s, b) => merge(s, lift(spec, b)), identity(spec));
}

/**
 * States as the layers build them: lifted events merged together; for distinct also a batch
 * cell (registers plus the exact count, as batchRowToCell reads it from SQL).
 */
function stateArb(kind: MeasureKind): fc.Arbitrary<MeasureState> {
  const spec = specOf(kind);
  const lifted = fc.array(bodyArb(kind), { maxLength: 10 }).map((bodies) => foldBodies(spec, bodies));
  if (kind !== 'distinct') return lifted;
  const batch = fc.array(distinctValueArb, { maxLength: 10 }).map((values): MeasureState => {
    const texts = new Set(values.map(String));
    const sketch = new HyperLogLog();
    texts.forEach((t) => sketch.add(t));
    return { kind: 'distinct', sketch, exact: texts.size, empty: texts.size === 0 };
  });
  return fc.oneof(lifted, batch);
}

const json = (s: MeasureState) => JSON.stringify(encodeRow({ s }));

function expectSame(actual: MeasureState, expected: MeasureState) {
  expect(sameState(actual, expected), `${json(actual)} vs ${json(expected)}`).toBe(true);
  expect(json(actual)).toBe(json(expected));
}

describe.each(KINDS)('%s is a commutative monoid', (kind) => {
  const spec = specOf(kind);

  it('has an identity on the left and on the right', () => {
    fc.assert(
      fc.property(stateArb(kind), (a) => {
        expectSame(merge(identity(spec), a), a);
        expectSame(merge(a, identity(spec)), a);
      }),
      RUNS,
    );
  });

  it('is associative', () => {
    fc.assert(
      fc.property(stateArb(kind), stateArb(kind), stateArb(kind), (a, b, c) => {
        expectSame(merge(merge(a, b), c), merge(a, merge(b, c)));
      }),
      RUNS,
    );
  });

  it('is commutative', () => {
    fc.assert(
      fc.property(stateArb(kind), stateArb(kind), (a, b) => {
        expectSame(merge(a, b), merge(b, a));
      }),
      RUNS,
    );
  });

  it('gives the same state however a stream is split into parts and merged', () => {
    fc.assert(
      fc.property(
        fc.array(bodyArb(kind), { maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 5 }),
        (bodies, cuts) => {
          const points = [...new Set(cuts.map((c) => c % (bodies.length + 1)))].sort((x, y) => x - y);
          const parts: Record<string, unknown>[][] = [];
          let from = 0;
          for (const p of [...points, bodies.length]) {
            parts.push(bodies.slice(from, p));
            from = p;
          }
          const merged = parts
            .reverse()
            .map((part) => foldBodies(spec, part))
            .reduce((acc, s) => merge(acc, s), identity(spec));
          expectSame(merged, foldBodies(spec, bodies));
        },
      ),
      RUNS,
    );
  });

  it('survives encodeRow / JSON / decodeRow (how rows are stored)', () => {
    const view = validateView({
      name: 'v',
      eventType: 't',
      key: ['k'],
      granularity: '1m',
      measures: { m: spec },
    });
    fc.assert(
      fc.property(stateArb(kind), (a) => {
        const stored = JSON.parse(JSON.stringify(encodeRow({ m: a }))) as Record<string, unknown>;
        expectSame(decodeRow(view, stored).m, a);
      }),
      RUNS,
    );
  });
});

describe('folded states finalize to what the events say (model check)', () => {
  const events = (kind: MeasureKind) => fc.array(bodyArb(kind), { maxLength: 30 });
  const present = (bodies: readonly Record<string, unknown>[]) =>
    bodies.map((b) => b.x).filter((x) => x !== undefined && x !== null);

  it('count counts every event, with or without fields', () => {
    fc.assert(
      fc.property(events('count'), (bodies) => {
        expect(finalize(foldBodies({ kind: 'count' }, bodies))).toBe(bodies.length);
      }),
      RUNS,
    );
  });

  it('sum adds the decimals exactly, in units of 10^-9', () => {
    fc.assert(
      fc.property(fc.array(fc.option(summableArb), { maxLength: 30 }), (values) => {
        const state = foldBodies(
          { kind: 'sum', field: 'x' },
          values.map((v) => ({ x: v?.value ?? null })),
        );
        const expected = values.reduce((acc, v) => acc + (v?.units ?? 0n), 0n);
        expect(state.kind === 'sum' && state.sum).toBe(expected);
        expect(finalize(state)).toBe(Number(formatDecimal(expected)));
      }),
      RUNS,
    );
  });

  it('avg keeps the exact sum and the number of events with the field', () => {
    fc.assert(
      fc.property(fc.array(fc.option(summableArb), { maxLength: 30 }), (values) => {
        const state = foldBodies(
          { kind: 'avg', field: 'x' },
          values.map((v) => ({ x: v?.value ?? null })),
        );
        const given = values.filter((v) => v !== null);
        const sum = given.reduce((acc, v) => acc + v.units, 0n);
        expect(state).toEqual({ kind: 'avg', sum, n: given.length });
        const served = finalize(state);
        if (given.length === 0) expect(served).toBeNull();
        // The mean itself, rounded once: the double nearest the exact sum over the count.
        else expect(isNearestDouble(served as number, sum, BigInt(given.length) * 1_000_000_000n)).toBe(true);
      }),
      RUNS,
    );
  });

  it.each(['min', 'max'] as const)('%s is the smallest / largest value, null without any', (kind) => {
    fc.assert(
      fc.property(events(kind), (bodies) => {
        const values = present(bodies) as number[];
        const expected =
          values.length === 0 ? null : kind === 'min' ? Math.min(...values) : Math.max(...values);
        expect(finalize(foldBodies({ kind, field: 'x' }, bodies))).toBe(expected);
      }),
      RUNS,
    );
  });

  it('distinct has the registers of the set of values, and an estimate within the bound', () => {
    fc.assert(
      fc.property(events('distinct'), (bodies) => {
        const texts = new Set(present(bodies).map(String));
        const sketch = new HyperLogLog();
        texts.forEach((t) => sketch.add(t));
        const state = foldBodies({ kind: 'distinct', field: 'x' }, bodies);
        if (state.kind !== 'distinct') throw new Error('not a distinct state');
        expect(state.sketch.equals(sketch)).toBe(true);
        expect(state.empty).toBe(texts.size === 0);
        const served = finalize(state) as number;
        expect(Math.abs(served - texts.size)).toBeLessThanOrEqual(distinctErrorBound(texts.size));
      }),
      RUNS,
    );
  });
});

describe('finalize', () => {
  const fold = (spec: MeasureSpec, bodies: Record<string, unknown>[]) => finalize(foldBodies(spec, bodies));
  const bodies = [{ x: 1.5 }, { x: -2 }, {}, { x: null }, { x: 0.25 }];

  it('count: the number of events (0 for the identity)', () => {
    expect(finalize(identity({ kind: 'count' }))).toBe(0);
    expect(fold({ kind: 'count' }, bodies)).toBe(5);
  });

  it('sum: exact decimals (0.1 + 0.2 = 0.3), 0 for the identity', () => {
    const spec: MeasureSpec = { kind: 'sum', field: 'x' };
    expect(finalize(identity(spec))).toBe(0);
    expect(fold(spec, bodies)).toBe(-0.25);
    expect(fold(spec, [{ x: 0.1 }, { x: 0.2 }])).toBe(0.3);
    expect(0.1 + 0.2).not.toBe(0.3); // what summing doubles would serve
    expect(fold(spec, [{ x: 999_999_999_999_999.9 }, { x: 0.1 }])).toBe(1e15);
    expect(fold(spec, [{ x: 0.123456789 }, { x: -0.123456789 }])).toBe(0);
  });

  it('min and max: the extreme value, null for the identity', () => {
    expect(finalize(identity({ kind: 'min', field: 'x' }))).toBeNull();
    expect(finalize(identity({ kind: 'max', field: 'x' }))).toBeNull();
    expect(fold({ kind: 'min', field: 'x' }, bodies)).toBe(-2);
    expect(fold({ kind: 'max', field: 'x' }, bodies)).toBe(1.5);
    expect(fold({ kind: 'max', field: 'x' }, [{ x: -5 }, { x: -7 }])).toBe(-5);
  });

  it('avg: exact sum over the events with the field, null for the identity', () => {
    const spec: MeasureSpec = { kind: 'avg', field: 'x' };
    expect(finalize(identity(spec))).toBeNull();
    expect(fold(spec, bodies)).toBe(-0.25 / 3);
    expect(fold(spec, [{ x: 1 }, { x: 2 }, {}])).toBe(1.5);
  });

  it('distinct: the exact count when known, else the estimate; 0 for the identity', () => {
    const spec: MeasureSpec = { kind: 'distinct', field: 'x' };
    expect(finalize(identity(spec))).toBe(0);
    expect(fold(spec, [{ x: 'a' }, { x: 'b' }, { x: 'a' }, { x: 1 }, { x: '1' }])).toBe(3); // 1 and "1" are one text
    const sketch = new HyperLogLog().add('a');
    expect(finalize({ kind: 'distinct', sketch, exact: 7, empty: false })).toBe(7);
    expect(finalize({ kind: 'distinct', sketch, exact: null, empty: false })).toBe(1);
  });

  it('finalizeRow serves every measure of a view', () => {
    const view = validateView({
      name: 'all',
      eventType: 't',
      key: ['k'],
      granularity: '1m',
      measures: {
        n: { kind: 'count' },
        s: { kind: 'sum', field: 'x' },
        lo: { kind: 'min', field: 'x' },
        hi: { kind: 'max', field: 'x' },
        mean: { kind: 'avg', field: 'x' },
        u: { kind: 'distinct', field: 'u' },
      },
    });
    const row = foldEvents(view, identityRow(view), [{ x: 2, u: 'a' }, { x: 4, u: 'b' }, { u: 'a' }]);
    expect(finalizeRow(view, row)).toEqual({ n: 3, s: 6, lo: 2, hi: 4, mean: 3, u: 2 });
  });
});

describe('distinct: the exact count of the batch layer', () => {
  const spec: MeasureSpec = { kind: 'distinct', field: 'x' };
  const batchArb = fc
    .uniqueArray(fc.string({ maxLength: 5 }), { minLength: 1, maxLength: 30 })
    .map((values): MeasureState => {
      const sketch = new HyperLogLog();
      values.forEach((v) => sketch.add(v));
      return { kind: 'distinct', sketch, exact: values.length, empty: false };
    });

  it('survives merging with the identity, on either side', () => {
    fc.assert(
      fc.property(batchArb, (batch) => {
        const exact = batch.kind === 'distinct' ? batch.exact : null;
        for (const merged of [merge(batch, identity(spec)), merge(identity(spec), batch)]) {
          expect(merged.kind === 'distinct' && merged.exact).toBe(exact);
          expect(finalize(merged)).toBe(exact);
        }
      }),
      RUNS,
    );
  });

  it('is dropped when two non-empty parts meet (they may share values), leaving the sketch of the union', () => {
    fc.assert(
      fc.property(
        batchArb,
        fc.array(fc.string({ maxLength: 5 }), { minLength: 1, maxLength: 10 }),
        (batch, more) => {
          const speed = foldBodies(
            spec,
            more.map((x) => ({ x })),
          );
          for (const merged of [merge(batch, speed), merge(speed, batch)]) {
            if (merged.kind !== 'distinct' || batch.kind !== 'distinct' || speed.kind !== 'distinct')
              throw new Error('not distinct');
            expect(merged.exact).toBeNull();
            expect(merged.empty).toBe(false);
            expect(merged.sketch.equals(batch.sketch.merge(speed.sketch))).toBe(true);
          }
        },
      ),
      RUNS,
    );
  });

  it('counts a value shared by the two parts once', () => {
    const batch: MeasureState = {
      kind: 'distinct',
      sketch: new HyperLogLog().add('a').add('b'),
      exact: 2,
      empty: false,
    };
    const both = merge(batch, lift(spec, { x: 'a' }));
    expect(both.kind === 'distinct' && both.exact).toBeNull();
    expect(finalize(both)).toBe(2);
  });
});

describe('rows', () => {
  const view = validateView({
    name: 'row_view',
    eventType: 't',
    key: ['k'],
    granularity: '1m',
    measures: {
      n: { kind: 'count' },
      s: { kind: 'sum', field: 'a' },
      lo: { kind: 'min', field: 'b' },
      hi: { kind: 'max', field: 'b' },
      mean: { kind: 'avg', field: 'a' },
      u: { kind: 'distinct', field: 'c' },
    },
  });
  const rowBodyArb = fc.record(
    {
      a: summableArb.map((s) => s.value),
      b: finiteArb,
      c: distinctValueArb,
    },
    { requiredKeys: [] },
  );
  const rowsEqual = (x: RowState, y: RowState) => {
    for (const name of Object.keys(view.measures)) expectSame(x[name], y[name]);
  };

  it('foldEvents equals merging liftRow of each event (the speed layer hot path)', () => {
    fc.assert(
      fc.property(
        fc.array(rowBodyArb, { maxLength: 15 }),
        fc.array(rowBodyArb, { maxLength: 15 }),
        (first, then) => {
          const start = foldEvents(view, identityRow(view), first);
          const slow = then.reduce((row, b) => mergeRows(view, row, liftRow(view, b)), start);
          rowsEqual(foldEvents(view, start, then), slow);
        },
      ),
      RUNS,
    );
  });

  it('round-trip through encodeRow, JSON and decodeRow', () => {
    fc.assert(
      fc.property(fc.array(rowBodyArb, { maxLength: 15 }), (bodies) => {
        const row = foldEvents(view, identityRow(view), bodies);
        const stored = JSON.parse(JSON.stringify(encodeRow(row))) as Record<string, unknown>;
        rowsEqual(decodeRow(view, stored), row);
      }),
      RUNS,
    );
  });

  it('decodes a measure added after the row was written as its identity', () => {
    const stored = encodeRow({ n: { kind: 'count', n: 4 } });
    const row = decodeRow(view, stored);
    expect(finalizeRow(view, row)).toEqual({ n: 4, s: 0, lo: null, hi: null, mean: null, u: 0 });
  });

  it('refuses to decode a state whose kind changed, naming the view, the measure and what to do', () => {
    const stored = encodeRow({ hi: identity({ kind: 'min', field: 'b' }) });
    expect(() => decodeRow(view, stored)).toThrow(
      "stored state of row_view.hi is min but the view declares max: rebuild the view (replay) after changing a measure's kind",
    );
    expect(() => decodeRow(view, { s: { k: 'avg', s: '1', n: 1 } })).toThrow(
      /row_view\.s is avg.*declares sum/,
    );
  });

  it('refuses to merge states of different kinds', () => {
    expect(() => merge(identity({ kind: 'count' }), identity({ kind: 'sum', field: 'x' }))).toThrow(
      /cannot merge a count state with a sum state/,
    );
    expect(() => merge(identity({ kind: 'min', field: 'x' }), identity({ kind: 'max', field: 'x' }))).toThrow(
      /cannot merge a min state with a max state/,
    );
  });
});

describe('exact decimals', () => {
  it('print and parse back any value of DECIMAL(38, 9) range', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 27n), max: 10n ** 27n }), (units) => {
        expect(parseDecimal(formatDecimal(units))).toBe(units);
      }),
      RUNS,
    );
  });

  it('read the text SQL engines print', () => {
    expect(parseDecimal('0.300000000')).toBe((3n * SCALE) / 10n);
    expect(parseDecimal('-12.5')).toBe(-12_500_000_000n);
    expect(parseDecimal(' 7 ')).toBe(7n * SCALE);
    expect(parseDecimal('1.0000000000000')).toBe(SCALE); // trailing zeros beyond 9 digits are fine
    expect(formatDecimal(-250_000_000n)).toBe('-0.25');
    expect(formatDecimal(0n)).toBe('0');
  });

  it.each(['', 'abc', '1e-7', '0.0000000001', '1,5', '--1'])('refuse %j', (text) => {
    expect(() => parseDecimal(text)).toThrow(/decimal/);
  });
});

describe('the speed layer fast paths', () => {
  const view = validateView({
    name: 'fast_view',
    eventType: 't',
    key: ['k'],
    granularity: '1m',
    measures: {
      n: { kind: 'count' },
      s: { kind: 'sum', field: 'a' },
      lo: { kind: 'min', field: 'b' },
      hi: { kind: 'max', field: 'b' },
      mean: { kind: 'avg', field: 'a' },
      u: { kind: 'distinct', field: 'c' },
    },
  });
  const bodyOfRowArb = fc.record(
    { a: summableArb.map((s) => s.value), b: finiteArb, c: distinctValueArb },
    { requiredKeys: [] },
  );

  it.each(KINDS)('encodeRowText is JSON.stringify(encodeRow(...)) for %s states', (kind) => {
    fc.assert(
      fc.property(stateArb(kind), stateArb(kind), (a, b) => {
        const row = { first: a, Second_2: b };
        expect(encodeRowText(row)).toBe(JSON.stringify(encodeRow(row)));
        expect(encodeRowText({})).toBe(JSON.stringify(encodeRow({})));
      }),
      RUNS,
    );
  });

  it('encodeRowText is JSON.stringify(encodeRow(...)) for folded rows', () => {
    fc.assert(
      fc.property(fc.array(bodyOfRowArb, { maxLength: 15 }), (bodies) => {
        const row = foldEvents(view, identityRow(view), bodies);
        expect(encodeRowText(row)).toBe(JSON.stringify(encodeRow(row)));
      }),
      RUNS,
    );
  });

  it('stores the sketch of a busy row as the dense text, and reads it back (ADR 018)', () => {
    const bodies = Array.from({ length: 3000 }, (_, i) => ({ a: i % 7, b: i, c: `user-${i}` }));
    const row = foldEvents(view, identityRow(view), bodies);
    const encoded = encodeRow(row) as Record<string, { h?: string }>;
    expect(encoded.u.h).toMatch(/^d[0-9A-Za-f]{4096}$/);
    expect(encodeRowText(row)).toBe(JSON.stringify(encodeRow(row)));
    const back = decodeRow(view, JSON.parse(encodeRowText(row)) as Record<string, unknown>);
    for (const name of Object.keys(view.measures)) expect(sameState(back[name], row[name])).toBe(true);
  });

  it('folding in place gives the state folding a copy gives', () => {
    fc.assert(
      fc.property(
        fc.array(bodyOfRowArb, { maxLength: 15 }),
        fc.array(bodyOfRowArb, { maxLength: 15 }),
        fc.array(bodyOfRowArb, { maxLength: 15 }),
        (first, second, third) => {
          // As the speed layer does: a decoded row, folded in place batch after batch.
          const stored = JSON.parse(encodeRowText(foldEvents(view, identityRow(view), first))) as Record<
            string,
            unknown
          >;
          const copied = foldEvents(view, foldEvents(view, decodeRow(view, stored), second), third);
          const inPlace = foldEvents(
            view,
            foldEvents(view, decodeRow(view, stored), second, true),
            third,
            true,
          );
          expect(encodeRowText(inPlace)).toBe(encodeRowText(copied));
        },
      ),
      RUNS,
    );
  });
});
