import { describe, expect, it } from 'vitest';
import { stopWithin } from '../../local/graceful-stop';

const after = (ms: number, log: string[], name: string) => async () => {
  await new Promise((r) => setTimeout(r, ms));
  log.push(name);
};

describe('a bounded graceful stop', () => {
  it('runs the steps in order and reports nothing abandoned when they end in time', async () => {
    const log: string[] = [];
    const outcome = await stopWithin(
      [
        { name: 'a', stop: after(20, log, 'a') },
        { name: 'b', stop: after(1, log, 'b') },
      ],
      5_000,
    );
    expect(log).toEqual(['a', 'b']);
    expect(outcome.abandoned).toBeNull();
  });

  it('stops waiting after the grace period and names the step it abandoned', async () => {
    const log: string[] = [];
    const started = Date.now();
    const outcome = await stopWithin(
      [
        { name: 'quick', stop: after(1, log, 'quick') },
        { name: 'the batch run in flight', stop: () => new Promise(() => undefined) },
        { name: 'later', stop: after(1, log, 'later') },
      ],
      200,
    );
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(outcome.abandoned).toBe('the batch run in flight');
    expect(log).toEqual(['quick']);
  });

  it('goes on to the next step when one fails to stop cleanly', async () => {
    const log: string[] = [];
    const outcome = await stopWithin(
      [
        { name: 'broken', stop: () => Promise.reject(new Error('emulator gone')) },
        { name: 'after', stop: after(1, log, 'after') },
      ],
      5_000,
    );
    expect(log).toEqual(['after']);
    expect(outcome.abandoned).toBeNull();
  });
});
