import { describe, expect, it } from 'vitest';
import { isTransientAwsError, retryingStart } from '../../local/start-retries';

const throttle = Object.assign(new Error('throttled (injected)'), {
  name: 'ProvisionedThroughputExceededException',
});
const unreachable = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4567'), { code: 'ECONNREFUSED' });
const serverError = Object.assign(new Error('internal'), {
  name: 'InternalServerError',
  $metadata: { httpStatusCode: 500 },
});
const denied = Object.assign(new Error('no'), {
  name: 'AccessDeniedException',
  $metadata: { httpStatusCode: 400 },
});

describe('the runtime start retries transient AWS errors', () => {
  it('tells throttling, 5xx and an unreachable endpoint from a mistake', () => {
    expect([throttle, unreachable, serverError].map(isTransientAwsError)).toEqual([true, true, true]);
    expect(
      [denied, new Error('data dir built with another arrival bucket'), undefined].map(isTransientAwsError),
    ).toEqual([false, false, false]);
  });

  it('tries a step again after a transient error, with doubling pauses, and gives up after its attempts', async () => {
    const pauses: number[] = [];
    let calls = 0;
    const value = await retryingStart(
      async () => {
        if (++calls < 3) throw throttle;
        return 'read';
      },
      6,
      500,
      async (ms) => void pauses.push(ms),
    );
    expect({ value, calls, pauses }).toEqual({ value: 'read', calls: 3, pauses: [500, 1000] });
    calls = 0;
    await expect(
      retryingStart(
        async () => {
          calls++;
          throw unreachable;
        },
        4,
        10,
        async () => undefined,
      ),
    ).rejects.toBe(unreachable);
    expect(calls).toBe(4);
  });

  it('does not retry a mistake', async () => {
    let calls = 0;
    await expect(
      retryingStart(
        async () => {
          calls++;
          throw denied;
        },
        6,
        10,
        async () => undefined,
      ),
    ).rejects.toBe(denied);
    expect(calls).toBe(1);
  });
});
