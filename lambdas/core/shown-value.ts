/** Characters of a given value an error message repeats. */
const MAX_SHOWN = 100;

/**
 * A value as an error message quotes it: its JSON text (numbers as JavaScript prints them, so
 * `1e999` shows as Infinity, not null), cut at 100 characters so a 1 MB field is not echoed back.
 */
export function shown(value: unknown): string {
  const text = typeof value === 'number' ? String(value) : (JSON.stringify(value) ?? String(value));
  return text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN)}... (${text.length} characters)` : text;
}
