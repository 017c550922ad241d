import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import type { BatchRunResult } from '../../lambdas/services/batch-layer';
import { DeadLetterQueue } from '../../local/dead-letter-queue';
import type { PipelineStatus } from '../../local/pipeline-status';
import { pipelineRoutes, type BatchDetail } from '../../local/pipeline-routes';

/** Routes whose handlers record what reached them; runBatch answers or throws as told. */
function routes(servesLambda: boolean, batch: (detail?: BatchDetail) => Promise<BatchRunResult>) {
  const calls: string[] = [];
  const accepted: number[] = [];
  const runs: Array<BatchDetail | undefined> = [];
  const handler = (name: string, answer: APIGatewayProxyResult) => ({
    invoke: async <T>(): Promise<T> => {
      calls.push(name);
      return answer as T;
    },
  });
  const list = pipelineRoutes(
    {
      ingest: handler('ingest', { statusCode: 202, body: JSON.stringify({ accepted: 3, ids: [] }) }),
      query: handler('query', { statusCode: 200, body: '{}' }),
      speed: handler('speed', { statusCode: 200, body: '{}' }),
      deadLetters: new DeadLetterQueue(),
      accepted: (n) => accepted.push(n),
      runBatch: (detail) => {
        runs.push(detail);
        return batch(detail);
      },
      status: async () => ({ eventsAccepted: 0 }) as PipelineStatus,
    },
    servesLambda,
  );
  const call = (method: string, resource: string, body: string | null = null) =>
    list
      .find((r) => r.method === method && r.resource === resource)!
      .invoke({ body, isBase64Encoded: false } as APIGatewayProxyEvent);
  return { list, call, calls, accepted, runs };
}

const BACKFILL = '{"from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z"}';
const published = async () => ({ status: 'published' }) as BatchRunResult;

describe('pipelineRoutes', () => {
  it('counts the events a 202 acknowledged', async () => {
    const r = routes(true, published);
    expect((await r.call('POST', '/events', '{}')).statusCode).toBe(202);
    expect(r.accepted).toEqual([3]);
  });

  it('runs an incremental batch without detail, a full run or a backfill with the body', async () => {
    const r = routes(true, published);
    for (const body of [null, '{}', '{"full": false}', '{"full": true}', BACKFILL])
      expect((await r.call('POST', '/admin/batch', body)).statusCode).toBe(200);
    expect(r.runs).toEqual([undefined, undefined, undefined, { full: true }, JSON.parse(BACKFILL)]);
  });

  it('refuses a bad batch request with 400 naming the problem, and runs nothing', async () => {
    const r = routes(true, published);
    const answer = await r.call('POST', '/admin/batch', '{"fill": true}');
    expect(answer.statusCode).toBe(400);
    expect(answer.body).toContain('unknown field(s) fill');
    expect(r.runs).toEqual([]);
  });

  it('answers 500 when the batch run fails, saying the previous version stays served', async () => {
    const r = routes(true, async () => {
      throw new Error('DuckDB is out of memory');
    });
    const answer = await r.call('POST', '/admin/batch', '{}');
    expect(answer.statusCode).toBe(500);
    expect(JSON.parse(answer.body)).toEqual({
      error: 'batch run failed; the previous version stays served: DuckDB is out of memory',
    });
  });

  it('leaves the serving routes and the batch to Kappa when the Lambda architecture does not run', () => {
    const names = (servesLambda: boolean) =>
      routes(servesLambda, published).list.map((r) => `${r.method} ${r.resource}`);
    expect(names(false)).toEqual([
      'POST /events',
      'GET /admin/status',
      'GET /admin/dlq',
      'POST /admin/dlq/redrive',
    ]);
    expect(names(true)).toEqual([
      'POST /events',
      'GET /views',
      'GET /views/{view}',
      'GET /views/{view}/parts',
      'GET /health',
      'POST /admin/batch',
      'GET /admin/status',
      'GET /admin/dlq',
      'POST /admin/dlq/redrive',
    ]);
  });
});
