/** Reads a dotted path (`geo.country`) from a JSON object; undefined when any step is missing. */
export function getField(body: Readonly<Record<string, unknown>>, path: string): unknown {
  let current: unknown = body;
  for (const step of path.split('.')) {
    if (typeof current !== 'object' || current === null || Array.isArray(current)) return undefined;
    current = (current as Record<string, unknown>)[step];
  }
  return current;
}

/**
 * The text form of a scalar used for keys, filters and distinct values. It equals what
 * `json_extract_string` (DuckDB) and `json_extract_scalar` (Athena) return for the same JSON value,
 * which is why key and distinct values are limited to strings, booleans and safe integers.
 */
export function scalarText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  return undefined;
}

/** Largest magnitude a summed value may have, and its most digits after the point (DECIMAL(38,9) in SQL). */
export const SUM_MAX_ABS = 1e18;
export const SUM_SCALE = 9;

/** Why a number cannot be summed exactly in every layer, or undefined when it can. */
export function summableProblem(value: number): string | undefined {
  if (!Number.isFinite(value)) return 'must be a finite number';
  if (Math.abs(value) >= SUM_MAX_ABS) return `must be smaller than 1e18 in magnitude (given ${value})`;
  const text = String(value);
  if (text.includes('e')) return `has more than ${SUM_SCALE} digits after the decimal point (given ${text})`;
  const point = text.indexOf('.');
  if (point >= 0 && text.length - point - 1 > SUM_SCALE) {
    return `has more than ${SUM_SCALE} digits after the decimal point (given ${text})`;
  }
  return undefined;
}
