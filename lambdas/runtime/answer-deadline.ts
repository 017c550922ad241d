import type { Context } from 'aws-lambda';
import { settleWithin } from '../services/settle-within';

/**
 * How long before the function's own timeout an API handler gives its own answer: enough for the
 * answer to leave the function, so the client reads why instead of a bare 502 (Lambda ended the
 * function) or API Gateway's 504.
 */
export const ANSWER_MARGIN_MS = 1_500;

/**
 * `work`'s answer, or `late`'s when `work` has not answered `marginMs` before the invocation's
 * time runs out (Lambda's `context.getRemainingTimeInMillis()`). Without a context (a handler called
 * directly), `work`'s answer whenever it comes. The abandoned work is not cancelled: Lambda freezes
 * it with the environment, and whatever it reads later is only thrown away.
 */
export async function answerBeforeTimeout<T>(
  context: Pick<Context, 'getRemainingTimeInMillis'> | undefined,
  work: () => Promise<T>,
  late: (allowedMs: number) => T,
  marginMs = ANSWER_MARGIN_MS,
): Promise<T> {
  if (context === undefined || typeof context.getRemainingTimeInMillis !== 'function') return work();
  const allowedMs = Math.max(0, context.getRemainingTimeInMillis() - marginMs);
  return settleWithin(work(), allowedMs, () => late(allowedMs));
}
