import { describe, expect, it } from 'vitest';
import { Scheduler } from '../../local/scheduler';

/** A job whose runs are numbered and end only when the test lets them. */
function controlledJob() {
  const started: { n: number; finish: () => void }[] = [];
  let active = 0;
  let maxActive = 0;
  const job = () =>
    new Promise<number>((resolve) => {
      const n = started.length + 1;
      active++;
      maxActive = Math.max(maxActive, active);
      started.push({
        n,
        finish: () => {
          active--;
          resolve(n);
        },
      });
    });
  return { job, started, maxActive: () => maxActive };
}

const settle = () => new Promise((r) => setImmediate(r));

describe('Scheduler', () => {
  it('runNow joins the run in progress', async () => {
    const { job, started } = controlledJob();
    const scheduler = new Scheduler(job, 60_000);
    const first = scheduler.runNow();
    const joined = scheduler.runNow();
    started[0].finish();
    expect(await first).toBe(1);
    expect(await joined).toBe(1);
    expect(started).toHaveLength(1);
  });

  it('runFresh during a run waits for it and runs again, so it covers what came after the run began', async () => {
    const { job, started, maxActive } = controlledJob();
    const scheduler = new Scheduler(job, 60_000);
    const scheduled = scheduler.runNow(); // a scheduled run, begun before the request
    const asked = scheduler.runFresh();
    const askedToo = scheduler.runFresh(); // made while the next run waits: shares it
    await settle();
    expect(started).toHaveLength(1); // never two at once
    started[0].finish();
    expect(await scheduled).toBe(1);
    await settle();
    expect(started).toHaveLength(2);
    started[1].finish();
    expect(await asked).toBe(2);
    expect(await askedToo).toBe(2);
    expect(maxActive()).toBe(1);
    expect(scheduler.runs).toBe(2);
  });

  it('runFresh runs at once when nothing is running, and after a failed run', async () => {
    let calls = 0;
    const scheduler = new Scheduler(async () => {
      calls++;
      if (calls === 1) throw new Error('injected');
      return calls;
    }, 60_000);
    const failing = scheduler.runNow();
    const next = scheduler.runFresh();
    await expect(failing).rejects.toThrow('injected');
    expect(await next).toBe(2);
    expect(await scheduler.runFresh()).toBe(3);
    expect(scheduler.failures).toBe(1);
  });
});
