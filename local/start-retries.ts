const THROTTLES = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'LimitExceededException',
  'SlowDown',
  'TimeoutError',
]);
const NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN']);

/**
 * An error the same request may not meet again: throttling, a 5xx, the endpoint restarting or
 * unreachable for a moment. A user's mistake (a refused setting, access denied, a malformed
 * request) is not one.
 */
export function isTransientAwsError(error: unknown): boolean {
  const e = error as
    | { name?: string; code?: string; $retryable?: unknown; $metadata?: { httpStatusCode?: number } }
    | undefined;
  if (e === undefined || e === null) return false;
  if (e.$retryable) return true;
  if (e.name !== undefined && THROTTLES.has(e.name)) return true;
  if (e.code !== undefined && NETWORK.has(e.code)) return true;
  return (e.$metadata?.httpStatusCode ?? 0) >= 500;
}

/**
 * Runs one step of the runtime's start (creating the resources, reading the stored settings, the
 * Kappa pointers) again after a transient error, with a doubling pause: the SDK's own 3 attempts
 * (lambdas/runtime/clients/endpoints.ts) span under a second, and a start that gave up on a
 * throttle or on an emulator restarting left the runtime down (the fault suite's SIGKILL phase,
 * 2026-12-04: the 181st restart died on an injected throttle reading the Kappa pointers).
 * @param attempts tries in all (about 15 s of pauses at the defaults).
 */
export async function retryingStart<T>(
  step: () => Promise<T>,
  attempts = 6,
  firstPauseMs = 500,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await step();
    } catch (error) {
      if (attempt >= attempts || !isTransientAwsError(error)) throw error;
      await sleep(firstPauseMs * 2 ** (attempt - 1));
    }
  }
}
