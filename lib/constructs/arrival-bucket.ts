import { Duration, Token, Tokenization } from 'aws-cdk-lib';

/** Width of arrival buckets when none is given. */
export const DEFAULT_ARRIVAL_BUCKET = Duration.minutes(1);

/**
 * The arrival bucket as `ENV.arrivalBucketMs` carries it (milliseconds, as text), validated: at
 * least 1 second and dividing an hour evenly (the cutoff aligns to it, and an hourly archive
 * partition holds whole buckets). A token (`Duration.millis(param.valueAsNumber)`) is passed
 * through: the handlers check the value again at cold start.
 */
export function arrivalBucketEnv(arrivalBucket: Duration): string {
  const ms = arrivalBucket.toMilliseconds();
  if (!Token.isUnresolved(ms) && (ms < 1000 || 3_600_000 % ms !== 0))
    throw new Error(`arrivalBucket must be at least 1 second and divide an hour evenly (given ${ms} ms)`);
  return Tokenization.stringifyNumber(ms);
}
