import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeRow,
  encodeRow,
  finalize,
  identity,
  lift,
  merge,
  sameState,
  type MeasureState,
} from '../../lambdas/core/measures';
import { HyperLogLog } from '../../lambdas/core/hyperloglog';
import type { MeasureKind, MeasureSpec } from '../../lambdas/core/view';
import { validateView } from '../../lambdas/core/view';

const RUNS = { numRuns: 200 };
const KINDS: MeasureKind[] = ['count', 'sum', 'min', 'max', 'avg', 'distinct'];

const bodyArb = fc.record(
  {
    x: fc.oneof(
      fc.integer({ min: -1_000_000, max: 1_000_000 }).map((c) => c / 1000),
      fc.integer({ min: -5, max: 5 }),
    ),
    u: fc.oneof(fc.string({ maxLength: 6 }), fc.integer({ min: 0, max: 30 }), fc.boolean()),
  },
  { requiredKeys: [] },
);

function specOf(kind: MeasureKind): MeasureSpec {
  if (kind === 'count') return { kind };
  return { kind, field: kind === 'distinct' ? 'u' : 'x' };
}

/** A state built the way the layers build them: lifting events and merging. */
function stateArb(spec: MeasureSpec): fc.Arbitrary<MeasureState> {
  return fc
    .array(bodyArb, { maxLength: 8 })
    .map((bodies) => bodies.reduce<MeasureState>((s, b) => merge(s, lift(spec, b)), identity(spec)));
}

describe.each(KINDS)('%s is a commutative monoid', (kind) => {
  const spec = specOf(kind);
  const eq = (a: MeasureState, b: MeasureState) =>
    expect(
      sameState(a, b),
      `${JSON.stringify(encodeRow({ a }))} vs ${JSON.stringify(encodeRow({ b }))}`,
    ).toBe(true);

  it('has an identity on both sides', () => {
    fc.assert(
      fc.property(stateArb(spec), (a) => {
        eq(merge(identity(spec), a), a);
        eq(merge(a, identity(spec)), a);
      }),
      RUNS,
    );
  });

  it('is associative', () => {
    fc.assert(
      fc.property(stateArb(spec), stateArb(spec), stateArb(spec), (a, b, c) => {
        eq(merge(merge(a, b), c), merge(a, merge(b, c)));
      }),
      RUNS,
    );
  });

  it('is commutative', () => {
    fc.assert(
      fc.property(stateArb(spec), stateArb(spec), (a, b) => {
        eq(merge(a, b), merge(b, a));
      }),
      RUNS,
    );
  });

  it('survives encoding for storage', () => {
    const view = validateView({
      name: 'v',
      eventType: 't',
      key: ['k'],
      granularity: '1m',
      measures: { m: spec },
    });
    fc.assert(
      fc.property(stateArb(spec), (a) => {
        const decoded = decodeRow(
          view,
          JSON.parse(JSON.stringify(encodeRow({ m: a }))) as Record<string, unknown>,
        );
        eq(decoded.m, a);
      }),
      RUNS,
    );
  });
});

describe('measure values', () => {
  it('count counts every event; sum, min, max, avg skip events without the field', () => {
    const bodies = [{ x: 1.5 }, { x: -2 }, {}, { x: null }, { x: 0.25 }];
    const fold = (spec: MeasureSpec) =>
      finalize(bodies.reduce<MeasureState>((s, b) => merge(s, lift(spec, b)), identity(spec)));
    expect(fold({ kind: 'count' })).toBe(5);
    expect(fold({ kind: 'sum', field: 'x' })).toBe(-0.25);
    expect(fold({ kind: 'min', field: 'x' })).toBe(-2);
    expect(fold({ kind: 'max', field: 'x' })).toBe(1.5);
    expect(fold({ kind: 'avg', field: 'x' })).toBeCloseTo(-0.25 / 3, 12);
  });

  it('adds decimals exactly (0.1 + 0.2 = 0.3)', () => {
    const spec: MeasureSpec = { kind: 'sum', field: 'x' };
    expect(finalize(merge(lift(spec, { x: 0.1 }), lift(spec, { x: 0.2 })))).toBe(0.3);
  });

  it('serves empty min/max/avg as null and an empty distinct as 0', () => {
    expect(finalize(identity({ kind: 'min', field: 'x' }))).toBeNull();
    expect(finalize(identity({ kind: 'avg', field: 'x' }))).toBeNull();
    expect(finalize(identity({ kind: 'distinct', field: 'u' }))).toBe(0);
  });

  it('keeps an exact distinct count merged with the identity, and drops it when two parts meet', () => {
    const batch: MeasureState = {
      kind: 'distinct',
      sketch: new HyperLogLog().add('a').add('b'),
      exact: 2,
      empty: false,
    };
    const speed = lift({ kind: 'distinct', field: 'u' }, { u: 'a' });
    expect(finalize(merge(batch, identity({ kind: 'distinct', field: 'u' })))).toBe(2);
    const both = merge(batch, speed);
    expect(both.kind === 'distinct' && both.exact).toBeNull();
    expect(finalize(both)).toBe(2); // 'a' is in both parts: the sketch's union counts it once
  });

  it('fails to decode a state whose kind changed, saying what to do', () => {
    const view = validateView({
      name: 'v',
      eventType: 't',
      key: ['k'],
      granularity: '1m',
      measures: { m: { kind: 'max', field: 'x' } },
    });
    expect(() => decodeRow(view, { m: { k: 'min', v: 1 } })).toThrow(/declares max.*rebuild the view/);
  });

  it('refuses to merge states of different kinds', () => {
    expect(() => merge(identity({ kind: 'count' }), identity({ kind: 'sum', field: 'x' }))).toThrow(
      /cannot merge a count state with a sum state/,
    );
  });
});
