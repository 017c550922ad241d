import {
  DecimalAccumulator,
  decimalFromNumber,
  decimalRatioToNumber,
  decimalToNumber,
  formatDecimal,
  parseDecimal,
  type Decimal,
} from './decimal';
import { admits, getField, measureRule, scalarText } from './fields';
import { HyperLogLog } from './hyperloglog';
import type { MeasureSpec, ViewDefinition } from './view';

/**
 * The partial aggregate of one measure. Every kind is a commutative monoid: `identity` and
 * `merge` below satisfy the laws (property-tested), so partial aggregates can be combined in any
 * grouping and order: per batch, per row, per arrival bucket, batch view with speed rows.
 */
export type MeasureState =
  | { readonly kind: 'count'; readonly n: number }
  | { readonly kind: 'sum'; readonly sum: Decimal }
  | { readonly kind: 'min' | 'max'; readonly value: number | null }
  | { readonly kind: 'avg'; readonly sum: Decimal; readonly n: number }
  | {
      readonly kind: 'distinct';
      readonly sketch: HyperLogLog;
      /** Exact count, known only while the state comes from the batch layer alone. */
      readonly exact: number | null;
      /** True for the identity: merging it keeps the other side's exact count. */
      readonly empty: boolean;
    };

/** Partial aggregates of a view's measures, by measure name. */
export type RowState = Readonly<Record<string, MeasureState>>;

/** A served value. Distinct is an integer estimate unless exact. */
export type MeasureValue = number | null;

export function identity(spec: MeasureSpec): MeasureState {
  switch (spec.kind) {
    case 'count':
      return { kind: 'count', n: 0 };
    case 'sum':
      return { kind: 'sum', sum: BigInt(0) };
    case 'min':
    case 'max':
      return { kind: spec.kind, value: null };
    case 'avg':
      return { kind: 'avg', sum: BigInt(0), n: 0 };
    case 'distinct':
      return { kind: 'distinct', sketch: new HyperLogLog(), exact: 0, empty: true };
  }
}

function mismatch(a: MeasureState, b: MeasureState): Error {
  return new Error(`cannot merge a ${a.kind} state with a ${b.kind} state`);
}

export function merge(a: MeasureState, b: MeasureState): MeasureState {
  switch (a.kind) {
    case 'count':
      if (b.kind !== 'count') throw mismatch(a, b);
      return { kind: 'count', n: a.n + b.n };
    case 'sum':
      if (b.kind !== 'sum') throw mismatch(a, b);
      return { kind: 'sum', sum: a.sum + b.sum };
    case 'min':
    case 'max': {
      if (b.kind !== a.kind) throw mismatch(a, b);
      if (a.value === null) return b;
      if (b.value === null) return a;
      return {
        kind: a.kind,
        value: a.kind === 'min' ? Math.min(a.value, b.value) : Math.max(a.value, b.value),
      };
    }
    case 'avg':
      if (b.kind !== 'avg') throw mismatch(a, b);
      return { kind: 'avg', sum: a.sum + b.sum, n: a.n + b.n };
    case 'distinct':
      if (b.kind !== 'distinct') throw mismatch(a, b);
      if (a.empty) return b;
      if (b.empty) return a;
      // Two non-empty parts may share values: only the sketch can say how many are distinct.
      return { kind: 'distinct', sketch: a.sketch.merge(b.sketch), exact: null, empty: false };
  }
}

/** The state of one event for one measure (identity when the event lacks the field). */
export function lift(spec: MeasureSpec, body: Readonly<Record<string, unknown>>): MeasureState {
  if (spec.kind === 'count') return { kind: 'count', n: 1 };
  const value = getField(body, spec.field as string);
  // Missing, null, or (in events archived before the view existed) a value the measure cannot
  // take: skipped by this measure, as the generated SQL skips it.
  if (!admits(measureRule(spec.kind), value)) return identity(spec);
  switch (spec.kind) {
    case 'sum':
      return { kind: 'sum', sum: decimalFromNumber(value as number) };
    case 'min':
    case 'max':
      return { kind: spec.kind, value: value as number };
    case 'avg':
      return { kind: 'avg', sum: decimalFromNumber(value as number), n: 1 };
    case 'distinct': {
      const text = scalarText(value) as string;
      return { kind: 'distinct', sketch: new HyperLogLog().add(text), exact: null, empty: false };
    }
  }
}

export function finalize(state: MeasureState): MeasureValue {
  switch (state.kind) {
    case 'count':
      return state.n;
    case 'sum':
      return decimalToNumber(state.sum);
    case 'min':
    case 'max':
      return state.value;
    case 'avg':
      return state.n === 0 ? null : decimalRatioToNumber(state.sum, state.n);
    case 'distinct':
      if (state.empty) return 0;
      return state.exact ?? state.sketch.estimate();
  }
}

// A view's measures as [name, spec] pairs, listed once per definition: the fold and the event
// checks run per row and per event, and Object.entries() would build the list each time.
const measureLists = new WeakMap<ViewDefinition['measures'], readonly (readonly [string, MeasureSpec])[]>();

export function measureEntries(view: ViewDefinition): readonly (readonly [string, MeasureSpec])[] {
  let list = measureLists.get(view.measures);
  if (list === undefined) {
    list = Object.entries(view.measures);
    measureLists.set(view.measures, list);
  }
  return list;
}

export function identityRow(view: ViewDefinition): RowState {
  const row: Record<string, MeasureState> = {};
  for (const [name, spec] of measureEntries(view)) row[name] = identity(spec);
  return row;
}

export function mergeRows(view: ViewDefinition, a: RowState, b: RowState): RowState {
  const row: Record<string, MeasureState> = {};
  for (const name of Object.keys(view.measures)) row[name] = merge(a[name], b[name]);
  return row;
}

export function liftRow(view: ViewDefinition, body: Readonly<Record<string, unknown>>): RowState {
  const row: Record<string, MeasureState> = {};
  for (const [name, spec] of measureEntries(view)) row[name] = lift(spec, body);
  return row;
}

/**
 * Folds many events into a row at once: the same result as merging liftRow of each event, but a
 * distinct sketch is copied once per call instead of once per event (the speed layer's hot path).
 *
 * `inPlace`: the caller holds `row` alone and drops it if what it does with the result fails
 * (the speed layer with a row it took from its cache or just read): its sketches then grow in
 * place, with no copy of their block lists and no copy of a block the row already owns. `row`
 * itself must not be used afterwards.
 */
export function foldEvents(
  view: ViewDefinition,
  row: RowState,
  bodies: readonly Readonly<Record<string, unknown>>[],
  inPlace = false,
): RowState {
  if (bodies.length === 0) return row;
  const out: Record<string, MeasureState> = {};
  for (const [name, spec] of measureEntries(view)) {
    let state = row[name];
    if (state.kind === 'distinct') {
      let sketch: HyperLogLog | undefined;
      for (const body of bodies) {
        const text = scalarText(getField(body, spec.field as string));
        if (text === undefined) continue;
        sketch ??= inPlace ? state.sketch : state.sketch.clone();
        sketch.add(text);
      }
      // The sketch started from the state's registers and only grew: it is already the union, which
      // is what merge() would compute (and no longer exact, as merge says of two non-empty parts).
      if (sketch) state = { kind: 'distinct', sketch, exact: null, empty: false };
    } else {
      state = foldPlain(spec, state, bodies);
    }
    out[name] = state;
  }
  return out;
}

/**
 * Folds the events into a count, sum, min, max or avg state with plain arithmetic: the same result
 * as merging lift() of each event (property-tested), without a state object per event.
 */
function foldPlain(
  spec: MeasureSpec,
  state: MeasureState,
  bodies: readonly Readonly<Record<string, unknown>>[],
): MeasureState {
  switch (state.kind) {
    case 'count':
      return { kind: 'count', n: state.n + bodies.length };
    case 'sum':
    case 'avg': {
      const sum = new DecimalAccumulator(state.sum);
      let n = state.kind === 'avg' ? state.n : 0;
      for (const body of bodies) {
        const value = getField(body, spec.field as string);
        if (!admits('summable', value)) continue;
        sum.add(value as number);
        n++;
      }
      return state.kind === 'sum' ? { kind: 'sum', sum: sum.sum } : { kind: 'avg', sum: sum.sum, n };
    }
    case 'min':
    case 'max': {
      let best = state.value;
      for (const body of bodies) {
        const value = getField(body, spec.field as string);
        if (!admits('number', value)) continue;
        const v = value as number;
        // Math.min/max, as merge() uses: the same answer for -0 and 0.
        best = best === null ? v : state.kind === 'min' ? Math.min(best, v) : Math.max(best, v);
      }
      return best === state.value ? state : { kind: state.kind, value: best };
    }
    case 'distinct':
      throw new Error('distinct is folded by its sketch');
  }
}

export function finalizeRow(view: ViewDefinition, row: RowState): Record<string, MeasureValue> {
  const out: Record<string, MeasureValue> = {};
  for (const name of Object.keys(view.measures)) out[name] = finalize(row[name]);
  return out;
}

/** Measure states as JSON (bigints as decimal text, sketches as HyperLogLog.toText()): how rows are stored. */
export type EncodedRow = Record<string, unknown>;

export function encodeRow(row: RowState): EncodedRow {
  const out: EncodedRow = {};
  // for-in rather than Object.entries(): no pair array per measure on every row write. Row states
  // are plain objects, so only their own measures are enumerated.
  for (const name in row) {
    const s = row[name];
    switch (s.kind) {
      case 'count':
        out[name] = { k: 'count', n: s.n };
        break;
      case 'sum':
        out[name] = { k: 'sum', s: formatDecimal(s.sum) };
        break;
      case 'min':
      case 'max':
        out[name] = { k: s.kind, v: s.value };
        break;
      case 'avg':
        out[name] = { k: 'avg', s: formatDecimal(s.sum), n: s.n };
        break;
      case 'distinct':
        out[name] = { k: 'distinct', h: s.sketch.toText(), x: s.exact, e: s.empty };
        break;
    }
  }
  return out;
}

/**
 * JSON.stringify(encodeRow(row)), written directly (property-tested to be the same text): every
 * speed-row write stores its states as JSON, and this skips the object per measure and the
 * second pass over the sketch text. Sketch and decimal texts hold only digits, `-`, `.`, `:` and
 * `,`, so they need no escaping; measure names are quoted by JSON.stringify (once per name).
 */
export function encodeRowText(row: RowState): string {
  let text = '{';
  for (const name in row) {
    const s = row[name];
    if (text.length > 1) text += ',';
    text += quotedName(name);
    switch (s.kind) {
      case 'count':
        text += `{"k":"count","n":${jsonNumber(s.n)}}`;
        break;
      case 'sum':
        text += `{"k":"sum","s":"${formatDecimal(s.sum)}"}`;
        break;
      case 'min':
      case 'max':
        text += `{"k":"${s.kind}","v":${s.value === null ? 'null' : jsonNumber(s.value)}}`;
        break;
      case 'avg':
        text += `{"k":"avg","s":"${formatDecimal(s.sum)}","n":${jsonNumber(s.n)}}`;
        break;
      case 'distinct':
        text += `{"k":"distinct","h":"${s.sketch.toText()}","x":${s.exact === null ? 'null' : jsonNumber(s.exact)},"e":${s.empty}}`;
        break;
    }
  }
  return text + '}';
}

/** A number as JSON.stringify prints it (non-finite numbers become null). */
function jsonNumber(value: number): string {
  return Number.isFinite(value) ? String(value) : 'null';
}

const quotedNames = new Map<string, string>();

function quotedName(name: string): string {
  let quoted = quotedNames.get(name);
  if (quoted === undefined) {
    quoted = `${JSON.stringify(name)}:`;
    // Names come from view definitions: few. Bounded anyway, should rows carry arbitrary names.
    if (quotedNames.size >= 1024) quotedNames.clear();
    quotedNames.set(name, quoted);
  }
  return quoted;
}

export function decodeRow(view: ViewDefinition, encoded: EncodedRow): RowState {
  const row: Record<string, MeasureState> = {};
  for (const [name, spec] of Object.entries(view.measures)) {
    // Own properties only: a measure named `constructor` that a stored row lacks is missing.
    const raw = Object.prototype.hasOwnProperty.call(encoded, name)
      ? (encoded[name] as Record<string, unknown> | undefined)
      : undefined;
    if (raw === undefined) {
      row[name] = identity(spec); // a measure added to the view after the row was written
      continue;
    }
    if (raw.k !== spec.kind) {
      throw new Error(
        `stored state of ${view.name}.${name} is ${String(raw.k)} but the view declares ${spec.kind}: rebuild the view (replay) after changing a measure's kind`,
      );
    }
    switch (spec.kind) {
      case 'count':
        row[name] = { kind: 'count', n: Number(raw.n) };
        break;
      case 'sum':
        row[name] = { kind: 'sum', sum: parseDecimal(String(raw.s)) };
        break;
      case 'min':
      case 'max':
        row[name] = { kind: spec.kind, value: raw.v === null ? null : Number(raw.v) };
        break;
      case 'avg':
        row[name] = { kind: 'avg', sum: parseDecimal(String(raw.s)), n: Number(raw.n) };
        break;
      case 'distinct':
        row[name] = {
          kind: 'distinct',
          sketch: HyperLogLog.fromText(raw.h as string),
          exact: raw.x === null || raw.x === undefined ? null : Number(raw.x),
          empty: raw.e === true,
        };
        break;
    }
  }
  return row;
}

/** Equality of states (tests, and to skip writes that change nothing). */
export function sameState(a: MeasureState, b: MeasureState): boolean {
  if (a.kind === 'distinct' && b.kind === 'distinct') {
    return a.empty === b.empty && a.exact === b.exact && a.sketch.equals(b.sketch);
  }
  return JSON.stringify(encodeRow({ x: a })) === JSON.stringify(encodeRow({ x: b }));
}
