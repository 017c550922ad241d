import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateViews } from '../../lambdas/core/view';
import { HandlerHost } from '../../local/handler-host';
import { testPipeline } from '../integ/test-pipeline';

/**
 * A SIGTERM of the local runtime under load once waited over 6 minutes: its graceful stop
 * awaited the work in flight with no bound (a batch run after a backlog took over 16 minutes), and
 * an invocation whose worker had been terminated never settled. The stop now waits at most its
 * grace period, then stops the workers, the emulators and the lock anyway.
 */
const NEVER = path.join(__dirname, '..', 'fixtures', 'never-answering-handler.ts');
const HANDLERS = path.join(__dirname, '..', '..', 'lambdas', 'handlers');
const VIEWS = validateViews([
  { name: 'v', eventType: 't', key: ['k'], granularity: '1m', measures: { n: { kind: 'count' } } },
]);

describe('stopping the local runtime with work in flight', () => {
  it('rejects an invocation still running when its worker is stopped, instead of leaving it pending', async () => {
    const host = new HandlerHost('never', NEVER, {});
    await host.start();
    const pending = host.invoke({});
    await host.stop();
    await expect(pending).rejects.toThrow(/never function's worker exited before it answered/);
    await expect(host.invoke({})).rejects.toThrow(/has exited/);
  }, 60_000);

  it('ends within its grace period while a batch run never finishes, naming what it abandoned', async () => {
    // GIVEN a runtime whose batch function never answers, and a batch run asked for
    const pipeline = testPipeline(VIEWS, {
      handlerEntry: (name) => (name === 'batch' ? NEVER : path.join(HANDLERS, `${name}.ts`)),
    });
    await pipeline.start();
    const run = fetch(`${pipeline.url}/admin/batch`, { method: 'POST', body: '{}' }).catch(() => undefined);
    // The run reaches the scheduler after the gateway took the request: under load that took
    // over 500 ms, and a stop before it had nothing in flight to abandon.
    const deadline = Date.now() + 30_000;
    while (!pipeline.batchRuns().inProgress && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    expect(pipeline.batchRuns().inProgress).toBe(true);
    // WHEN it is stopped with a 1 s grace period
    const started = Date.now();
    const outcome = await pipeline.stop(1_000);
    // THEN it stopped in about that time, and says it did not wait for the run
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(outcome.abandoned).toBe('the batch run in flight');
    await run;
  }, 120_000);
});
