const hasOwn = Object.prototype.hasOwnProperty;

/**
 * Reads a dotted path (`geo.country`) from a JSON object; undefined when any step is missing.
 * Only own properties count: a field named `constructor` or `toString` that an event lacks is
 * missing, as it is for the SQL engines' JSON paths, not an inherited function.
 */
export function getField(body: Readonly<Record<string, unknown>>, path: string): unknown {
  if (!path.includes('.')) return hasOwn.call(body, path) ? body[path] : undefined; // the common case
  let current: unknown = body;
  for (const step of path.split('.')) {
    if (typeof current !== 'object' || current === null || Array.isArray(current)) return undefined;
    if (!hasOwn.call(current, step)) return undefined;
    current = (current as Record<string, unknown>)[step];
  }
  return current;
}

/** What a key, `distinct` or `where` value must be (scalarText's rule), as error messages say it. */
export const SCALAR_RULE = 'a string, a boolean or an integer within ±(2^53 − 1)';

/**
 * The text form of a scalar used for keys and distinct values. It equals what
 * `json_extract_string` (DuckDB) and `json_extract_scalar` (Athena) return for the same JSON value,
 * which is why key and distinct values are limited to strings, booleans and safe integers.
 * Keys are identified by this text: `1` and `"1"`, `true` and `"true"` are the same key in every
 * layer (the query API, whose parameters are text, could not tell them apart anyway).
 */
export function scalarText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  return undefined;
}

/**
 * Filter equality, types included: a `where` value matches a JSON value of the same type with the
 * same value (`'1.5'` matches the string "1.5" only, never the number 1.5; `1` matches the number
 * 1, never "1"). The SQL side is `filterSql` in batch-sql.ts, built from the same rule.
 */
export function filterMatches(actual: unknown, expected: string | number | boolean): boolean {
  return typeof actual === typeof expected && actual === expected;
}

/** Largest magnitude a summed value may have, and its most digits after the point (DECIMAL(38,9) in SQL). */
export const SUM_MAX_ABS = 1e18;
export const SUM_SCALE = 9;

/**
 * Digits after the decimal point of a number's shortest round-trip text, exponent form included
 * (`1e-7` has 7, `1.25e-8` has 10, `1.5e+21` has 0).
 */
export function fractionDigits(value: number): number {
  const text = String(Math.abs(value));
  const [mantissa, exponent = '0'] = text.split('e');
  const point = mantissa.indexOf('.');
  const mantissaFraction = point < 0 ? 0 : mantissa.length - point - 1;
  return Math.max(0, mantissaFraction - Number(exponent));
}

/**
 * fractionDigits(value) <= SUM_SCALE, without printing the number in the common case: below 1e6
 * a double has at most 9 decimals exactly when round(v * 1e9) / 1e9 gives it back (its shortest
 * text is then that decimal; the product's rounding error stays far below half a unit).
 */
function fitsSumScale(value: number): boolean {
  if (Number.isInteger(value)) return true;
  if (Math.abs(value) < 1e6) return Math.round(value * 1e9) / 1e9 === value;
  return fractionDigits(value) <= SUM_SCALE;
}

/** Why a number cannot be summed exactly in every layer, or undefined when it can. */
export function summableProblem(value: number): string | undefined {
  if (!Number.isFinite(value)) return 'must be a finite number';
  if (Math.abs(value) >= SUM_MAX_ABS) return `must be smaller than 1e18 in magnitude (given ${value})`;
  if (!fitsSumScale(value)) {
    return `has more than ${SUM_SCALE} digits after the decimal point (given ${value})`;
  }
  return undefined;
}

/**
 * What a measure or key accepts of a field's value. Ingestion refuses events that break these for
 * a view they feed; the archive may still hold events that were accepted before a view existed
 * (or changed), and every layer then treats them alike: a key that breaks its rule keeps the event
 * out of the view, a measure value that breaks its rule counts as missing for that measure. The
 * SQL of the same rules is `fieldRuleSql` in batch-sql.ts.
 */
export type FieldRule = 'scalar' | 'summable' | 'number';

export function admits(rule: FieldRule, value: unknown): boolean {
  switch (rule) {
    case 'scalar':
      return scalarText(value) !== undefined;
    case 'summable':
      return typeof value === 'number' && summableProblem(value) === undefined;
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
  }
}

/** The rule a measure reads its field with. */
export function measureRule(kind: 'sum' | 'avg' | 'min' | 'max' | 'distinct'): FieldRule {
  return kind === 'distinct' ? 'scalar' : kind === 'sum' || kind === 'avg' ? 'summable' : 'number';
}
