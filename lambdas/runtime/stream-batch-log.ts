import type { Logger } from '@aws-lambda-powertools/logger';
import { logger } from './logger';
import { emitCountMetric } from './metrics';
import type { SpeedBatchResult } from '../services/speed-layer';

/**
 * What the speed layer and the Kappa processor log after each batch: every poison record and
 * every store failure with its cause (a record that reaches the dead-letter destination has its
 * reason in the function's log), and the earlier-copy count as a CloudWatch embedded metric.
 */
export function logStreamBatch(
  result: SpeedBatchResult,
  log: Pick<Logger, 'error'> = logger,
  countMetric: (name: string, value: number) => void = emitCountMetric,
): void {
  for (const poison of result.poison) {
    log.error('poison record', { ...poison });
  }
  for (const failure of result.errors) {
    log.error(`${failure.stage} failed; the event source retries from this record`, { ...failure });
  }
  if (result.earlierCopies > 0) {
    // Copies that batch and replay keep instead of the stream's (README "Exactness": producer
    // retries under other partition keys).
    countMetric('KeptCopyConflicts', result.earlierCopies);
  }
}
