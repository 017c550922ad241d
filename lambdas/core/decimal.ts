import { SUM_SCALE } from './fields';

/**
 * Exact decimals for sums: a bigint of units of 10^-9 (DECIMAL(38,9) in the generated SQL).
 * Float addition is not associative, so summing doubles would make batch, speed and replay
 * disagree in the last digits; integers of nano-units add up the same in any order.
 */
export type Decimal = bigint;

const SCALE = BigInt(10) ** BigInt(SUM_SCALE);
const DECIMAL_TEXT = /^(-)?(\d+)(?:\.(\d+))?$/;

/** Parses decimal text ("12", "-0.25", "12.500000000") as SQL engines print DECIMALs. */
export function parseDecimal(text: string): Decimal {
  const match = DECIMAL_TEXT.exec(text.trim());
  if (!match) throw new Error(`not a decimal number: ${JSON.stringify(text)}`);
  const [, sign, whole, fraction = ''] = match;
  if (fraction.length > SUM_SCALE && /[1-9]/.test(fraction.slice(SUM_SCALE))) {
    throw new Error(`decimal ${text} has more than ${SUM_SCALE} significant fractional digits`);
  }
  const units = BigInt(whole) * SCALE + BigInt((fraction.slice(0, SUM_SCALE) || '0').padEnd(SUM_SCALE, '0'));
  return sign ? -units : units;
}

/**
 * The exact decimal of a JSON number as it is written in the archive (its shortest round-trip
 * text, which is what SQL casts from). Callers validate with summableProblem() first.
 */
export function decimalFromNumber(value: number): Decimal {
  // Integers, and values below 1e6 (whose nano-units round(v * 1e9) are exact: see fields.ts
  // fitsSumScale), skip the text: the speed layer's hot path.
  if (Number.isSafeInteger(value)) return BigInt(value) * SCALE;
  if (Math.abs(value) < 1e6) return BigInt(Math.round(value * 1e9));
  return parseDecimal(plainDecimalText(value));
}

/**
 * A number's shortest round-trip text without an exponent (`1e-7` -> `0.0000001`), which is the
 * decimal every SQL engine casts the archived JSON number to.
 */
export function plainDecimalText(value: number): string {
  const text = String(value);
  const e = text.indexOf('e');
  if (e < 0) return text;
  const negative = text.startsWith('-');
  const mantissa = text.slice(negative ? 1 : 0, e);
  const exponent = Number(text.slice(e + 1));
  const point = mantissa.indexOf('.');
  const digits = mantissa.replace('.', '');
  // Position of the decimal point within `digits` once the exponent is applied.
  const at = (point < 0 ? mantissa.length : point) + exponent;
  const plain =
    at <= 0
      ? `0.${'0'.repeat(-at)}${digits}`
      : at >= digits.length
        ? digits + '0'.repeat(at - digits.length)
        : `${digits.slice(0, at)}.${digits.slice(at)}`;
  return `${negative ? '-' : ''}${plain}`;
}

const MAX_SAFE_UNITS = BigInt(Number.MAX_SAFE_INTEGER);

export function formatDecimal(value: Decimal): string {
  // Every speed-row write prints its sums: within 2^53 nano-units (9 million) doubles do it exactly.
  if (value <= MAX_SAFE_UNITS && value >= -MAX_SAFE_UNITS) return formatSafeUnits(Number(value));
  const negative = value < BigInt(0);
  const abs = negative ? -value : value;
  const whole = abs / SCALE;
  const fraction = (abs % SCALE).toString().padStart(SUM_SCALE, '0').replace(/0+$/, '');
  return `${negative ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`;
}

/** formatDecimal of a safe integer of nano-units: `%` and the division of a multiple are exact in doubles. */
function formatSafeUnits(units: number): string {
  const negative = units < 0;
  const abs = negative ? -units : units;
  const fraction = abs % 1e9;
  const whole = (abs - fraction) / 1e9;
  const sign = negative ? '-' : '';
  if (fraction === 0) return `${sign}${whole}`;
  let digits = String(fraction).padStart(SUM_SCALE, '0');
  let end = digits.length;
  while (digits.charCodeAt(end - 1) === 48) end--;
  if (end < digits.length) digits = digits.slice(0, end);
  return `${sign}${whole}.${digits}`;
}

/**
 * Adds up the nano-units of summable numbers (each below 1e6 in magnitude, so Math.round(v * 1e9)
 * is its exact nano-units: see decimalFromNumber) in a double while the total stays a safe
 * integer, and moves it into the bigint before it could leave that range: exact, with one bigint
 * operation per flush instead of two per value.
 */
export class DecimalAccumulator {
  private units = 0;

  constructor(private total: Decimal) {}

  add(value: number): void {
    if (value >= 1e6 || value <= -1e6) {
      this.total += decimalFromNumber(value);
      return;
    }
    // |units| <= 8e15 before, |term| <= 1e15: the sum stays below 2^53 (9.007e15), so it is exact.
    this.units += Math.round(value * 1e9);
    if (this.units > 8e15 || this.units < -8e15) this.flush();
  }

  private flush(): void {
    this.total += BigInt(this.units);
    this.units = 0;
  }

  get sum(): Decimal {
    if (this.units !== 0) this.flush();
    return this.total;
  }
}

export function decimalToNumber(value: Decimal): number {
  return Number(formatDecimal(value));
}

/**
 * Fractional digits of the quotient decimalRatioToNumber computes. A mean that is not exactly
 * halfway between two doubles differs from every halfway point by more than 1e-38 of itself
 * (its denominator, the count times 10^9, is far below 10^30), and a halfway point that is a
 * mean of at most 10^12 events ends within 120 digits: the digits kept then round as the exact
 * quotient does.
 */
const QUOTIENT_DIGITS = 120;

/**
 * The double nearest to `sum / n`, computed from the exact decimal: `avg` serves the mean itself
 * (0.1 + 0.2 + 0.3 over 3 is 0.2), where dividing the sum's double by n would round twice
 * (0.6 / 3 is 0.19999999999999998). Every layer serves an avg through this, so they agree.
 */
export function decimalRatioToNumber(sum: Decimal, n: number): number {
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`count must be a positive integer (given ${n})`);
  if (n === 1) return decimalToNumber(sum);
  const numerator = (sum < 0n ? -sum : sum) * 10n ** BigInt(QUOTIENT_DIGITS);
  const divisor = BigInt(n) * SCALE;
  const digits = (numerator / divisor).toString().padStart(QUOTIENT_DIGITS + 1, '0');
  const point = digits.length - QUOTIENT_DIGITS;
  // A remainder past the last digit kept adds a sticky digit, so a quotient just above a halfway
  // point is never read as the halfway point itself (which rounds to even).
  const sticky = numerator % divisor === 0n ? '' : '1';
  return Number(`${sum < 0n ? '-' : ''}${digits.slice(0, point)}.${digits.slice(point)}${sticky}`);
}
