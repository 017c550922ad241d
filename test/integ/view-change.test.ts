import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { validateViews } from '../../lambdas/core/view';
import type { LocalPipeline } from '../../local/pipeline';
import { order, ORDERS_ARRIVAL_BUCKET_MS, ORDERS_BASE, ORDERS_VIEWS, postJson } from './orders-workload';
import { testPipeline } from './test-pipeline';
import { waitForArchivedBefore } from './wait';

/**
 * A running system with history, restarted with a changed views module (README: "Corrections and
 * new views appear at the next batch run"). Found by a black-box check: until that run published,
 * the changed view was served the old definition's batch cells (1m buckets under a view now
 * declared 1h, the old measure's sums) and the new view answered 200 with no history.
 */
const dataDir = mkdtempSync(path.join(tmpdir(), 'streamfold-view-change-'));
const freshDir = mkdtempSync(path.join(tmpdir(), 'streamfold-view-change-fresh-'));
let running: LocalPipeline | undefined;
afterAll(async () => {
  await running?.stop();
  // Retried: a worker's last write can land while the folder is removed (ENOTEMPTY, CI 2026-12-04).
  rmSync(dataDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  rmSync(freshDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
});

const [orders] = ORDERS_VIEWS;
const CHANGED = validateViews([
  {
    ...orders,
    granularity: '1h',
    measures: { orders: { kind: 'count' }, revenue: { kind: 'max', field: 'amount' } },
  },
  {
    name: 'by_customer',
    eventType: 'order.placed',
    key: ['customer'],
    granularity: '1h',
    measures: { n: { kind: 'count' } },
  },
]);
// Two hours of event time: minutes 0 to 119.
const HISTORY = Array.from({ length: 60 }, (_, i) => order(i, i * 2));
const range = `from=${new Date(ORDERS_BASE).toISOString()}&to=${new Date(ORDERS_BASE + 2 * 3_600_000).toISOString()}`;

async function get(url: string, query: string) {
  const res = await fetch(`${url}${query}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** The two hours of `orders` in berlin, as the changed view serves them. */
function berlinHours() {
  const berlin = HISTORY.filter((e) => e.shop === 'berlin');
  return [0, 1].map((h) => {
    const events = berlin.filter(
      (e) =>
        Date.parse(e.time) < ORDERS_BASE + (h + 1) * 3_600_000 &&
        Date.parse(e.time) >= ORDERS_BASE + h * 3_600_000,
    );
    return {
      start: new Date(ORDERS_BASE + h * 3_600_000).toISOString(),
      measures: { orders: events.length, revenue: Math.max(...events.map((e) => e.amount as number)) },
    };
  });
}

describe('a views module changed on a data dir with history (Lambda)', () => {
  it('answers 409 for the changed and the new view until the next batch run, then counts the archived events', async () => {
    running = testPipeline(ORDERS_VIEWS, { dataDir, arrivalBucketMs: ORDERS_ARRIVAL_BUCKET_MS });
    await running.start();
    expect((await postJson(running.url, '/events', { events: HISTORY })).status).toBe(202);
    await waitForArchivedBefore(running.url, Date.now(), ORDERS_ARRIVAL_BUCKET_MS);
    await running.idle();
    expect((await postJson(running.url, '/admin/batch', {})).body).toMatchObject({ status: 'published' });
    await running.stop();

    running = testPipeline(CHANGED, { dataDir, arrivalBucketMs: ORDERS_ARRIVAL_BUCKET_MS });
    await running.start();
    const stale = await get(running.url, `/views/orders?shop=berlin&${range}`);
    expect(stale.status, JSON.stringify(stale.body)).toBe(409);
    expect(stale.body.error).toMatch(
      /^view "orders" changed since batch version \d+ was computed; the next batch run/,
    );
    const added = await get(running.url, `/views/by_customer?customer=c1&${range}`);
    expect(added.status, JSON.stringify(added.body)).toBe(409);
    expect(added.body.error).toMatch(/^view "by_customer" is not in batch version \d+ yet/);

    const run = await postJson(running.url, '/admin/batch', {});
    expect(run.body).toMatchObject({ status: 'published', fullViews: ['orders', 'by_customer'] });
    const served = await get(running.url, `/views/orders?shop=berlin&${range}`);
    expect(served.status).toBe(200);
    expect(served.body.buckets).toEqual(berlinHours());
    const c1 = await get(running.url, `/views/by_customer?customer=c1&${range}`);
    const total = (c1.body.buckets as { measures: { n: number } }[]).reduce((n, b) => n + b.measures.n, 0);
    expect(total).toBe(HISTORY.filter((e) => e.customer === 'c1').length);
  }, 240_000);
});

describe('a views module changed before any batch version (Lambda)', () => {
  // Found by a black-box probe (2026-12-04): with no batch version to compare the definition
  // with, the speed rows written under the old one were served as the new view's (a measure added
  // read 0 for every event processed before the restart) until the first batch run published.
  it('answers 409 for a view changed or added after the speed layer started, until the first batch run', async () => {
    running = testPipeline(ORDERS_VIEWS, { dataDir: freshDir, arrivalBucketMs: ORDERS_ARRIVAL_BUCKET_MS });
    await running.start();
    expect((await postJson(running.url, '/events', { events: HISTORY })).status).toBe(202);
    await waitForArchivedBefore(running.url, Date.now(), ORDERS_ARRIVAL_BUCKET_MS);
    await running.idle();
    expect((await get(running.url, '/health')).body.batchVersion).toBeNull();
    await running.stop();

    running = testPipeline(CHANGED, { dataDir: freshDir, arrivalBucketMs: ORDERS_ARRIVAL_BUCKET_MS });
    await running.start();
    const stale = await get(running.url, `/views/orders?shop=berlin&${range}`);
    expect(stale.status, JSON.stringify(stale.body)).toBe(409);
    expect(stale.body.error).toMatch(
      /^view "orders" changed after the speed layer started, before any batch version; the first batch run/,
    );
    // Served from speed rows alone, the new view would miss every event processed before it.
    const added = await get(running.url, `/views/by_customer?customer=c1&${range}`);
    expect(added.status, JSON.stringify(added.body)).toBe(409);
    expect(added.body.error).toMatch(/^view "by_customer" was added after the speed layer started/);

    const run = await postJson(running.url, '/admin/batch', {});
    expect(run.body).toMatchObject({ status: 'published' });
    const served = await get(running.url, `/views/orders?shop=berlin&${range}`);
    expect(served.status, JSON.stringify(served.body)).toBe(200);
    expect(served.body.buckets).toEqual(berlinHours());
    const c1 = await get(running.url, `/views/by_customer?customer=c1&${range}`);
    const total = (c1.body.buckets as { measures: { n: number } }[]).reduce((n, b) => n + b.measures.n, 0);
    expect(total).toBe(HISTORY.filter((e) => e.customer === 'c1').length);
  }, 240_000);
});
