import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { distinctErrorBound } from '../../lambdas/core/hyperloglog';
import { validateViews, type ViewDefinition } from '../../lambdas/core/view';
import { type LocalPipeline } from '../../local/pipeline';
import { expectedBuckets, type OracleEvent } from './oracle';
import { testPipeline } from './test-pipeline';

/**
 * The Kappa architecture on the embedded stack, over HTTP against the emulators: the processor
 * keeps version 1 current; the views module changes and the runtime restarts; the new view
 * answers 409 until a replay builds it; a replay runs while events keep arriving and flips;
 * every answer before, during and after the flip comes from one complete version; the final
 * values equal an independent computation; a second replay is refused with 409; rollback
 * returns the previous version, whose answers are exact too.
 */
const ORDERS = {
  name: 'orders',
  eventType: 'order.placed',
  key: ['shop'],
  granularity: '1m',
  measures: {
    orders: { kind: 'count' },
    revenue: { kind: 'sum', field: 'amount' },
    biggest: { kind: 'max', field: 'amount' },
    avgAmount: { kind: 'avg', field: 'amount' },
    buyers: { kind: 'distinct', field: 'customer' },
  },
};
const viewsV1 = validateViews([ORDERS]);
// The changed module: orders gains a measure, and a new view appears.
const viewsV2 = validateViews([
  { ...ORDERS, measures: { ...ORDERS.measures, smallest: { kind: 'min', field: 'amount' } } },
  {
    name: 'by_customer',
    eventType: 'order.placed',
    key: ['customer'],
    granularity: '1h',
    measures: { orders: { kind: 'count' }, revenue: { kind: 'sum', field: 'amount' } },
  },
]);

const dataDir = mkdtempSync(path.join(tmpdir(), 'streamfold-kappa-'));
let pipeline: LocalPipeline | undefined;
afterAll(async () => {
  await pipeline?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const accepted: OracleEvent[] = [];
const BASE = Date.UTC(2026, 10, 24, 9, 0, 0);
const SHOPS = ['north', 'south'];

function order(i: number): OracleEvent {
  return {
    id: `order-${i}`,
    type: 'order.placed',
    time: new Date(BASE + (i % 7 === 0 ? -3_600_000 : 0) + ((i * 7_919) % 5_400_000)).toISOString(),
    shop: SHOPS[i % SHOPS.length],
    amount: ((i * 37) % 10_000) / 100,
    customer: `c${i % 13}`,
  };
}

async function start(views: ViewDefinition[], autoReplay: boolean): Promise<LocalPipeline> {
  const p = testPipeline(views, {
    dataDir,
    archiveFlushMs: 300,
    speedBatchingWindowMs: 100,
    architecture: 'kappa',
    kappaAutoReplay: autoReplay,
    replayHandoffDelayMs: 3_000,
  });
  await p.start();
  return p;
}

async function http(
  method: string,
  route: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${pipeline!.url}${route}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function ingest(events: OracleEvent[]): Promise<void> {
  const res = await http('POST', '/events', { events });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  // Producer retries: the same ids again are accepted, and must not count twice.
  accepted.push(...events);
}

const RANGE = `from=${new Date(BASE - 2 * 3_600_000).toISOString()}&to=${new Date(BASE + 6 * 3_600_000).toISOString()}`;

interface Answer {
  status: number;
  version?: number;
  buckets: { start: string; measures: Record<string, number | null> }[];
  body: Record<string, unknown>;
}

async function query(view: string, keyField: string, key: string): Promise<Answer> {
  const res = await http('GET', `/views/${view}?${keyField}=${encodeURIComponent(key)}&${RANGE}`);
  return {
    status: res.status,
    version: res.body.version as number | undefined,
    buckets: (res.body.buckets as Answer['buckets']) ?? [],
    body: res.body,
  };
}

async function kappaStatus(): Promise<{
  views: Record<string, { active: { version: number } | null; previous: { version: number } | null }>;
  replay: { status: string; version: number; phase: string | null } | null;
}> {
  return (await http('GET', '/admin/status')).body.kappa as never;
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function expectOrders(answer: Answer, shop: string, withSmallest: boolean): void {
  const expected = expectedBuckets(accepted, {
    type: 'order.placed',
    keyField: 'shop',
    key: shop,
    granularity: '1m',
    numberField: 'amount',
    distinctField: 'customer',
  });
  expect(answer.status).toBe(200);
  expect(answer.buckets.map((b) => b.start)).toEqual([...expected.keys()].sort());
  for (const b of answer.buckets) {
    const e = expected.get(b.start)!;
    expect(b.measures.orders, `${shop} ${b.start} orders`).toBe(e.count);
    expect(Math.round((b.measures.revenue as number) * 100), `${shop} ${b.start} revenue`).toBe(e.sumCents);
    expect(b.measures.biggest).toBe(e.max);
    expect(b.measures.avgAmount).toBeCloseTo(e.sumCents / 100 / e.values, 9);
    expect(Math.abs((b.measures.buyers as number) - e.distinct.size)).toBeLessThanOrEqual(
      distinctErrorBound(e.distinct.size),
    );
    if (withSmallest) expect(b.measures.smallest).toBe(e.min);
    else expect(b.measures.smallest).toBeUndefined();
  }
}

function expectByCustomer(answer: Answer, customer: string): void {
  const expected = expectedBuckets(accepted, {
    type: 'order.placed',
    keyField: 'customer',
    key: customer,
    granularity: '1h',
    numberField: 'amount',
  });
  expect(answer.status).toBe(200);
  expect(answer.buckets.map((b) => b.start)).toEqual([...expected.keys()].sort());
  for (const b of answer.buckets) {
    const e = expected.get(b.start)!;
    expect(b.measures.orders).toBe(e.count);
    expect(Math.round((b.measures.revenue as number) * 100)).toBe(e.sumCents);
  }
}

describe('Kappa on the embedded stack', () => {
  it('builds version 1 at first start, replays a changed module while events arrive, flips, refuses a second replay, rolls back', async () => {
    pipeline = await start(viewsV1, true);
    // First start: the module's views are not built, so a replay of the (empty) archive builds v1.
    await waitFor(async () => (await kappaStatus()).views.orders?.active?.version === 1, 'version 1');
    let next = 0;
    for (let round = 0; round < 3; round++) {
      const events = Array.from({ length: 40 }, () => order(next++));
      await ingest([...events, ...events.slice(0, 5)]);
    }
    await pipeline.idle(60_000);
    for (const shop of SHOPS) {
      const answer = await query('orders', 'shop', shop);
      expect(answer.version).toBe(1);
      expectOrders(answer, shop, false);
    }

    // The module changes; the runtime restarts without an automatic replay.
    await pipeline.stop();
    pipeline = await start(viewsV2, false);
    const notBuilt = await query('by_customer', 'customer', 'c1');
    expect(notBuilt.status).toBe(409);
    expect(String(notBuilt.body.error)).toMatch(/defined but not built yet: run POST \/admin\/replay/);
    const old = await query('orders', 'shop', 'north');
    expect(old.version).toBe(1);
    expect(old.body.definitionChanged).toMatch(/until a replay builds the new one/);
    expectOrders(old, 'north', false);
    expect((await kappaStatus()).replay?.status).toBe('finished');
    // Kappa alone runs no speed or batch layer: the status says so rather than showing idle zeros.
    const whole = (await http('GET', '/admin/status')).body;
    expect(whole).toMatchObject({ architecture: 'kappa', speed: null, batch: null, speedRows: null });

    // Events keep arriving while the replay runs.
    let ingesting = true;
    const feeder = (async () => {
      while (ingesting) {
        const events = Array.from({ length: 10 }, () => order(next++));
        await ingest([...events, events[0]]);
        await new Promise((r) => setTimeout(r, 40));
      }
    })();
    const started = await http('POST', '/admin/replay', {});
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    expect(started.body.version).toBe(2);
    const second = await http('POST', '/admin/replay', {});
    expect(second.status).toBe(409);
    expect(String(second.body.error)).toMatch(/still running/);

    // Queries during the flip: each answer is one whole version, and versions never go back.
    const seen: number[] = [];
    let finished = false;
    while (!finished) {
      const [orders, customers] = await Promise.all([
        query('orders', 'shop', 'south'),
        query('by_customer', 'customer', 'c2'),
      ]);
      const status = await kappaStatus();
      finished = status.replay?.status === 'finished';
      expect(status.replay?.status).not.toBe('failed');
      expect(orders.status).toBe(200);
      seen.push(orders.version!);
      // Version 1 serves the old definition (no `smallest`), version 2 the new one: never a mix.
      for (const b of orders.buckets) expect('smallest' in b.measures).toBe(orders.version === 2);
      if (customers.status === 200) expect(customers.version).toBe(2);
      else expect(customers.status).toBe(409);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(seen.length).toBeGreaterThan(0);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    ingesting = false;
    await feeder;
    await pipeline.idle(60_000);

    // After the flip: every view from version 2 equals the independent computation.
    for (const shop of SHOPS) {
      const answer = await query('orders', 'shop', shop);
      expect(answer.version).toBe(2);
      expectOrders(answer, shop, true);
    }
    for (const customer of ['c0', 'c5', 'c12']) {
      const answer = await query('by_customer', 'customer', customer);
      expect(answer.version).toBe(2);
      expectByCustomer(answer, customer);
    }
    const status = await kappaStatus();
    expect(status.views.orders.active?.version).toBe(2);
    expect(status.views.orders.previous?.version).toBe(1);

    // Rollback: orders returns to version 1, which the processor kept current: still exact.
    const rolled = await http('POST', '/admin/rollback', {});
    expect(rolled.status, JSON.stringify(rolled.body)).toBe(200);
    for (const shop of SHOPS) {
      const answer = await query('orders', 'shop', shop);
      expect(answer.version).toBe(1);
      expectOrders(answer, shop, false);
      // Version 1 holds the old definition; the declared one is built, as the previous version.
      expect(answer.body.definitionChanged).toMatch(
        /built as the previous version \(2\): POST \/admin\/rollback serves it/,
      );
    }
    // by_customer had no previous version: it keeps serving version 2.
    expect((await query('by_customer', 'customer', 'c0')).version).toBe(2);
  }, 240_000);
});
