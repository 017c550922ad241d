import { shown } from './shown-value';

/** Bucket widths a view may use, in milliseconds. */
export const GRANULARITIES = {
  '1m': 60_000,
  '5m': 300_000,
  '15m': 900_000,
  '1h': 3_600_000,
  '1d': 86_400_000,
} as const;

export type Granularity = keyof typeof GRANULARITIES;

export function isGranularity(value: unknown): value is Granularity {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(GRANULARITIES, value);
}

export function granularityMs(granularity: Granularity): number {
  return GRANULARITIES[granularity];
}

/** Start of the UTC bucket of width `widthMs` holding `timeMs` (buckets are aligned to the epoch). */
export function bucketStart(timeMs: number, widthMs: number): number {
  return Math.floor(timeMs / widthMs) * widthMs;
}

// ISO-8601 with a date, a time and an explicit zone; Date.parse alone accepts too much (e.g. "1").
const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;

const MONTH_DAYS: readonly number[] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const LEAP_MONTH_DAYS: readonly number[] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Smallest and largest event times accepted (years 1970 to 9999), so every bucket prints as ISO-8601. */
export const MIN_TIME_MS = 0;
export const MAX_TIME_MS = 253_402_300_799_999;

/**
 * Parses an event time given as ISO-8601 (with zone) or epoch milliseconds.
 * Returns the epoch milliseconds, or a message saying what was wrong.
 */
export function parseTime(value: unknown): number | string {
  if (typeof value === 'string') {
    const fast = parseCanonicalIso(value);
    if (fast !== undefined) return fast;
  }
  return parseTimeGenerally(value);
}

/** parseTime without the fast path for the canonical form (exported for the test that compares them). */
export function parseTimeGenerally(value: unknown): number | string {
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) return `must be an integer of epoch milliseconds (given ${value})`;
    if (value < MIN_TIME_MS || value > MAX_TIME_MS) return `is out of range 1970..9999 (given ${value})`;
    // 1e11 ms is March 1973; epoch seconds of any recent date are below it.
    if (value < 1e11) return `looks like epoch seconds; send epoch milliseconds or ISO-8601 (given ${value})`;
    return value;
  }
  if (typeof value === 'string') {
    if (!ISO_8601.test(value)) {
      return `must be ISO-8601 with a zone, e.g. 2026-01-31T12:00:00Z, or epoch milliseconds (given ${shown(value)})`;
    }
    const ms = Date.parse(value);
    // Date.parse rolls a day past the month's end over (2026-02-30 would be March 2): refuse it.
    const year = Number(value.slice(0, 4));
    const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
    const days = (leap ? LEAP_MONTH_DAYS : MONTH_DAYS)[Number(value.slice(5, 7)) - 1];
    if (Number.isNaN(ms) || days === undefined || Number(value.slice(8, 10)) > days)
      return `is not a valid date (given ${shown(value)})`;
    if (ms < MIN_TIME_MS || ms > MAX_TIME_MS) return `is out of range 1970..9999 (given ${shown(value)})`;
    return ms;
  }
  if (value === undefined || value === null) return 'is required';
  return `must be an ISO-8601 string or epoch milliseconds (given ${typeof value})`;
}

/**
 * The form toIso prints (`2026-11-24T10:00:00.000Z`, what producers and the ingestion API mostly
 * send), read by hand without the regular expression and Date.parse: the speed layer parses a
 * time per record. Undefined for anything else, and for what it does not decide alone (years
 * before 1970, hour 24, second 60): parseTime's general path answers those, with the same result.
 */
function parseCanonicalIso(value: string): number | undefined {
  if (value.length !== 24) return undefined;
  for (let i = 0; i < 24; i++) {
    const c = value.charCodeAt(i);
    const separator = CANONICAL_SEPARATORS[i];
    if (separator === 0 ? c < 48 || c > 57 : c !== separator) return undefined;
  }
  const year = number(value, 0, 4);
  const month = number(value, 5, 7);
  const day = number(value, 8, 10);
  const hour = number(value, 11, 13);
  const minute = number(value, 14, 16);
  const second = number(value, 17, 19);
  if (year < 1970 || month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59) return undefined;
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  if (day < 1 || day > (leap ? LEAP_MONTH_DAYS : MONTH_DAYS)[month - 1]) return undefined;
  return Date.UTC(year, month - 1, day, hour, minute, second, number(value, 20, 23));
}

// The character each position of `YYYY-MM-DDTHH:MM:SS.sssZ` must be, 0 where a digit goes.
const CANONICAL_SEPARATORS: readonly number[] = Array.from('0000-00-00T00:00:00.000Z', (c) =>
  c === '0' ? 0 : c.charCodeAt(0),
);

/** The decimal number of value's digits from `start` to `end` (checked to be digits). */
function number(value: string, start: number, end: number): number {
  let n = 0;
  for (let i = start; i < end; i++) n = n * 10 + value.charCodeAt(i) - 48;
  return n;
}

export function toIso(ms: number): string {
  if (!Number.isInteger(ms)) return new Date(ms).toISOString();
  // Stamps of one stream batch share their second: print the second once, add the milliseconds.
  // Two seconds are kept, as callers alternate two stamps (event time and arrival, event time and
  // ingestion): with one, each call of such a pair printed its second anew.
  const second = Math.floor(ms / 1000);
  let prefix: string;
  if (second === isoCache.second) prefix = isoCache.prefix;
  else if (second === isoCache.otherSecond) prefix = isoCache.otherPrefix;
  else {
    prefix = new Date(second * 1000).toISOString().slice(0, -5); // "YYYY-MM-DDTHH:MM:SS"
    isoCache.otherSecond = isoCache.second;
    isoCache.otherPrefix = isoCache.prefix;
    isoCache.second = second;
    isoCache.prefix = prefix;
  }
  const millis = ms - second * 1000;
  return `${prefix}.${millis < 10 ? '00' : millis < 100 ? '0' : ''}${millis}Z`;
}

const isoCache = { second: Number.NaN, prefix: '', otherSecond: Number.NaN, otherPrefix: '' };

const DURATION = /^(\d+)(ms|s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `500ms`, `10s`, `5m`, `1h`, `1d` into milliseconds; throws naming the option when malformed. */
export function parseDuration(text: string, option: string): number {
  const match = DURATION.exec(text.trim());
  if (!match)
    throw new Error(
      `${option} must be a duration like 500ms, 10s, 5m, 1h or 1d (given ${JSON.stringify(text)})`,
    );
  return Number(match[1]) * UNIT_MS[match[2]];
}
