import type { KinesisBatchHandler } from '../../../local/lambda-invocation';
import type { Random } from './seeded-random';

/** Fault rates around the speed handler, each a probability per invocation. */
export interface InvokeFaultRates {
  /** The function dies before it touches DynamoDB: the batch fails, nothing applied. */
  readonly crashBeforeWrite: number;
  /** The function applies the batch, then dies before answering: the batch is retried. */
  readonly crashAfterWrite: number;
  /**
   * The invocation times out: the event source gives up after a short random delay and retries,
   * while the timed-out invocation keeps writing (its requests in flight still land).
   */
  readonly timeout: number;
  /** The batch succeeds and is delivered again at once (a checkpoint lost after success). */
  readonly redelivery: number;
}

export interface InvokeFaultCounts {
  crashBeforeWrite: number;
  crashAfterWrite: number;
  timeout: number;
  redelivery: number;
}

/**
 * Wraps the event source's invocation of the speed handler with seeded faults, as Lambda would
 * inflict them on the deployed function: the handler's code is untouched.
 */
export function faultyInvoke(
  rates: InvokeFaultRates,
  random: Random,
  counts: InvokeFaultCounts,
  enabled: () => boolean,
): (invoke: KinesisBatchHandler) => KinesisBatchHandler {
  return (invoke) => async (event, context) => {
    if (!enabled()) return invoke(event, context);
    const roll = random.next();
    let edge = rates.crashBeforeWrite;
    if (roll < edge) {
      counts.crashBeforeWrite++;
      throw new Error('injected: the function crashed before writing');
    }
    if (roll < (edge += rates.crashAfterWrite)) {
      await invoke(event, context);
      counts.crashAfterWrite++;
      throw new Error('injected: the function crashed after writing');
    }
    if (roll < (edge += rates.timeout)) {
      counts.timeout++;
      const running = invoke(event, context);
      running.catch(() => undefined); // a timed-out invocation's outcome is never seen
      await new Promise((r) => setTimeout(r, random.int(40)));
      throw new Error('injected: Task timed out');
    }
    if (roll < (edge += rates.redelivery)) {
      await invoke(event, context);
      counts.redelivery++;
      return invoke(structuredClone(event), context);
    }
    return invoke(event, context);
  };
}
