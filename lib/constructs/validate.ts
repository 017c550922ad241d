import { Token } from 'aws-cdk-lib';

/** Options of {@link checkRange}. */
export interface RangeOptions {
  /**
   * Refuse fractions.
   * @default true
   */
  readonly integer?: boolean;
  /**
   * Unit named after the bounds in the message, e.g. `seconds`.
   * @default - none
   */
  readonly unit?: string;
  /**
   * Why the range is what it is, appended to the message.
   * @default - none
   */
  readonly why?: string;
}

/**
 * Throws `<name> must be between <min> and <max> (given <value>)` unless `value` is in range (an
 * integer unless `integer: false`; `max` undefined: no upper bound). A value that is an unresolved
 * token (a CfnParameter, an imported value) is not known at synth time: it is left to
 * CloudFormation's own validation, as aws-cdk-lib's constructs do (aws-kinesis's `Stream` checks
 * `retentionPeriod` only when `!Token.isUnresolved(...)`).
 */
export function checkRange(
  name: string,
  value: number,
  min: number,
  max: number | undefined,
  options: RangeOptions = {},
): void {
  if (Token.isUnresolved(value)) return;
  const unit = options.unit ? ` ${options.unit}` : '';
  const allowed = max === undefined ? `at least ${min}${unit}` : `between ${min} and ${max}${unit}`;
  const fits =
    (options.integer === false || Number.isInteger(value)) &&
    value >= min &&
    (max === undefined || value <= max);
  if (!fits)
    throw new Error(`${name} must be ${allowed} (given ${value})${options.why ? `: ${options.why}` : ''}`);
}

/**
 * Throws unless `value` is known at synth time: for the few props the app computes with (a
 * worst-case lag, a fence mode, an alarm threshold), where CloudFormation has no arithmetic to
 * defer the computation to. Says which prop and why, so the caller passes a literal instead.
 */
export function requireResolved(name: string, value: number, why: string): void {
  if (Token.isUnresolved(value))
    throw new Error(`${name} must be a value known at synth time, not a token or CfnParameter: ${why}`);
}

/**
 * Throws unless `value` is a calendar date written `yyyy-MM-dd` (the format Athena's date
 * projection reads), e.g. `archiveStartDate must be a date written yyyy-MM-dd (given "2026-13-01")`.
 */
export function checkDate(name: string, value: string): void {
  if (Token.isUnresolved(value)) return;
  const ms = Date.parse(`${value}T00:00:00Z`);
  // Date.parse rolls 2026-02-30 over to March: the round trip refuses it.
  const valid =
    /^\d{4}-\d{2}-\d{2}$/.test(value) &&
    !Number.isNaN(ms) &&
    new Date(ms).toISOString().slice(0, 10) === value;
  if (!valid) throw new Error(`${name} must be a date written yyyy-MM-dd (given ${JSON.stringify(value)})`);
}
