import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateViews } from '../../lambdas/core/view';
import type { LocalPipeline } from '../../local/pipeline';
import { postJson } from './orders-workload';
import { testPipeline } from './test-pipeline';
import { waitForArchivedBefore } from './wait';

/**
 * View names are `[a-z0-9_]+`, so `__proto__` and `constructor` are valid. Found auditing the keys
 * users control: the batch run built the published lineage (the pointer's per-view base and
 * definition) as a plain object, where `lineage.views.__proto__ = ...` set the prototype instead of
 * adding the view. Every run then recomputed the `__proto__` view in full, and its queries answered
 * 409 ("changed since batch version 1 was computed") after every run: served from no layer at all.
 */
const VIEWS = validateViews(
  ['__proto__', 'constructor', 'pages'].map((name) => ({
    name,
    eventType: 'click',
    key: ['page'],
    granularity: '1h',
    measures: { n: { kind: 'count' } },
  })),
);
const ARRIVAL_BUCKET_MS = 1000;
const RANGE = 'from=2026-11-24T00:00:00Z&to=2026-11-25T00:00:00Z';
let pipeline: LocalPipeline;

beforeAll(async () => {
  pipeline = testPipeline(VIEWS, { arrivalBucketMs: ARRIVAL_BUCKET_MS });
  await pipeline.start();
}, 120_000);
afterAll(async () => pipeline?.stop(), 120_000);

async function served(view: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${pipeline.url}/views/${view}?page=%2Fa&${RANGE}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('views named like Object.prototype members (Lambda architecture)', () => {
  it('are published by the batch run and served from it, and the next run is incremental', async () => {
    const events = [1, 2, 3].map((i) => ({
      id: `proto-${i}`,
      type: 'click',
      time: `2026-11-24T10:0${i}:00Z`,
      page: '/a',
    }));
    expect((await postJson(pipeline.url, '/events', { events })).status).toBe(202);
    await waitForArchivedBefore(pipeline.url, Date.now(), ARRIVAL_BUCKET_MS);
    await pipeline.idle();
    expect((await pipeline.runBatch()).status).toBe('published');

    for (const view of VIEWS.map((v) => v.name)) {
      const answer = await served(view);
      expect(answer.status, `${view}: ${JSON.stringify(answer.body)}`).toBe(200);
      expect(answer.body.batchVersion, view).toBe(1);
      expect(answer.body.buckets, view).toEqual([{ start: '2026-11-24T10:00:00.000Z', measures: { n: 3 } }]);
    }
    const next = await pipeline.runBatch();
    expect(next).toMatchObject({ status: 'published', mode: 'incremental', fullViews: [] });
    expect((await served('__proto__')).status).toBe(200);
  }, 180_000);
});
