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
  // Fast path, same result: an integer is exact as it is.
  if (Number.isSafeInteger(value)) return BigInt(value) * SCALE;
  return parseDecimal(String(value));
}

export function formatDecimal(value: Decimal): string {
  const negative = value < BigInt(0);
  const abs = negative ? -value : value;
  const whole = abs / SCALE;
  const fraction = (abs % SCALE).toString().padStart(SUM_SCALE, '0').replace(/0+$/, '');
  return `${negative ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`;
}

export function decimalToNumber(value: Decimal): number {
  return Number(formatDecimal(value));
}
