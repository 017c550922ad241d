/** One part of the runtime to stop, named for the log when it outlasts the grace period. */
export interface StopStep {
  readonly name: string;
  readonly stop: () => Promise<unknown>;
}

/** What a bounded stop did: the step under way when the grace period ran out, or null. */
export interface StopOutcome {
  readonly abandoned: string | null;
  readonly ms: number;
}

/**
 * Runs `steps` one after another (each waits for the work it owns: a batch run, a speed
 * invocation, the archive's last flush), for at most `graceMs`. Past it, the step under way and
 * the ones after it are abandoned: their promises go on but nothing waits for them. Abandoning is
 * safe because the runtime is built to survive SIGKILL: every part checkpoints only after its
 * effect is durable (the archiver after the object is written, the poller after the handler's
 * fenced writes, a batch run publishes with one conditional write), so what a killed step had not
 * checkpointed is redone at the next start and changes nothing twice.
 */
export async function stopWithin(steps: readonly StopStep[], graceMs: number): Promise<StopOutcome> {
  const started = Date.now();
  let current: string | null = null;
  const graceful = (async () => {
    for (const step of steps) {
      current = step.name;
      // A part that fails to stop cleanly must not keep the rest from stopping.
      await step.stop().catch(() => undefined);
    }
    current = null;
  })();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<'expired'>((resolve) => {
    timer = setTimeout(() => resolve('expired'), graceMs);
  });
  try {
    const outcome = await Promise.race([graceful.then(() => 'done' as const), expired]);
    return { abandoned: outcome === 'expired' ? current : null, ms: Date.now() - started };
  } finally {
    clearTimeout(timer);
  }
}
