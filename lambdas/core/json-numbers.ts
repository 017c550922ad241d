/**
 * JSON numbers that `JSON.parse` cannot keep. Every layer reads numbers as doubles (JavaScript,
 * DuckDB, Trino), so a literal such as `123456789.123456789` (18 significant digits) silently
 * becomes 123456789.12345679. For summed fields that would break the promise of exact sums, so
 * the door refuses them; this finds them from the JSON text, which is the only place the
 * original digits still exist.
 */

/** A path into a JSON value: object member names and array indices. */
export type JsonPath = readonly (string | number)[];

// A literal with at most 15 significant digits always survives a double (DBL_DIG = 15): only
// texts holding a run of 16 or more digits (a point may sit among them) can hold a lossy number.
const MAYBE_LONG_NUMBER = /[0-9][0-9.]{15}/;
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

/** The decimal value of a number literal as sign, significant digits and exponent (value = digits x 10^exp). */
function canonical(literal: string): string {
  const match = /^(-?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?$/.exec(literal);
  if (!match) return literal;
  const [, sign, whole, fraction = '', exponent = '0'] = match;
  let digits = whole + fraction;
  let exp = Number(exponent) - fraction.length;
  digits = digits.replace(/^0+/, '');
  if (digits === '') return '0';
  const trailing = /0+$/.exec(digits)?.[0].length ?? 0;
  digits = digits.slice(0, digits.length - trailing);
  exp += trailing;
  return `${sign}${digits}e${exp}`;
}

/** Does the literal's decimal value survive the round trip through a double? */
export function isExactNumberLiteral(literal: string): boolean {
  return canonical(literal) === canonical(String(Number(literal)));
}

/**
 * Paths of the number literals in a JSON text whose value a double does not hold exactly.
 * The text must be valid JSON (call after JSON.parse succeeded). Linear, and only run when the
 * text holds a run of 16 digits at all.
 */
export function inexactNumberPaths(text: string): JsonPath[] {
  if (!MAYBE_LONG_NUMBER.test(text)) return [];
  const found: JsonPath[] = [];
  // One frame per open container: the member name or index the next value gets.
  const stack: { array: boolean; at: string | number; expectKey: boolean }[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '{') {
      stack.push({ array: false, at: '', expectKey: true });
      i++;
    } else if (c === '[') {
      stack.push({ array: true, at: 0, expectKey: false });
      i++;
    } else if (c === '}' || c === ']') {
      stack.pop();
      i++;
    } else if (c === ',') {
      const top = stack[stack.length - 1];
      if (top.array) top.at = (top.at as number) + 1;
      else top.expectKey = true;
      i++;
    } else if (c === '"') {
      let j = i + 1;
      let escaped = false;
      while (j < text.length && text[j] !== '"') {
        if (text[j] === '\\') {
          escaped = true;
          j++;
        }
        j++;
      }
      const top = stack[stack.length - 1];
      if (top && !top.array && top.expectKey) {
        const raw = text.slice(i, j + 1);
        top.at = escaped ? (JSON.parse(raw) as string) : raw.slice(1, -1);
        top.expectKey = false;
      }
      i = j + 1;
    } else if (c === '-' || (c >= '0' && c <= '9')) {
      NUMBER.lastIndex = i;
      const literal = NUMBER.exec(text)?.[0] ?? c;
      if (
        literal.replace(/[-.]|[eE].*$/g, '').replace(/^0+/, '').length > 15 &&
        !isExactNumberLiteral(literal)
      ) {
        found.push(stack.map((frame) => frame.at));
      }
      i += literal.length;
    } else i++;
  }
  return found;
}

/** A path as the event validator names fields (`a.b`, arrays as `[i]`). */
export function pathText(path: JsonPath): string {
  return path
    .map((step, i) => (typeof step === 'number' ? `[${step}]` : i === 0 ? step : `.${step}`))
    .join('');
}
