import type { APIGatewayProxyResult } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { answerBeforeTimeout } from '../../lambdas/runtime/answer-deadline';

/** A Lambda context whose invocation has `ms` left when the handler starts. */
const timeLeft = (ms: number) => {
  const end = Date.now() + ms;
  return { getRemainingTimeInMillis: () => end - Date.now() };
};
const never = () => new Promise<APIGatewayProxyResult>(() => undefined);
const late = (allowedMs: number): APIGatewayProxyResult => ({
  statusCode: 503,
  body: `late after ${allowedMs}`,
});

describe('an API handler answers before its function times out', () => {
  it('gives its own 503 a margin before the time left runs out, when the work is still going', async () => {
    const started = Date.now();
    const answer = await answerBeforeTimeout(timeLeft(400), never, late, 300);
    expect(answer.statusCode).toBe(503);
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(90);
    expect(waited).toBeLessThan(390);
  });

  it("answers with the work's own answer when it comes in time", async () => {
    const answer = await answerBeforeTimeout(
      timeLeft(5_000),
      async () => ({ statusCode: 200, body: 'done' }),
      late,
      300,
    );
    expect(answer).toEqual({ statusCode: 200, body: 'done' });
  });

  it("passes the work's error on (the handler's own error, not a timeout)", async () => {
    await expect(
      answerBeforeTimeout(timeLeft(5_000), () => Promise.reject(new Error('boom')), late, 300),
    ).rejects.toThrow('boom');
  });

  it('waits for the work when there is no Lambda context (the handler called directly)', async () => {
    const answer = await answerBeforeTimeout(
      undefined,
      () => new Promise<APIGatewayProxyResult>((r) => setTimeout(() => r({ statusCode: 200, body: '' }), 50)),
      late,
    );
    expect(answer.statusCode).toBe(200);
  });
});
