import { expect } from 'vitest';
import { validateViews } from '../../lambdas/core/view';
import type { LocalPipeline, LocalPipelineOptions } from '../../local/pipeline';
import { expectedBuckets, type OracleEvent } from './oracle';
import { testPipeline } from './test-pipeline';
import { waitForArchivedBefore } from './wait';

/**
 * The `orders` workload the batch-incremental and compacted-archive suites share: one view (count,
 * sum of amount, distinct customers per shop and minute), its events, and the exact check.
 */
export const ORDERS_VIEWS = validateViews([
  {
    name: 'orders',
    eventType: 'order.placed',
    key: ['shop'],
    granularity: '1m',
    measures: {
      orders: { kind: 'count' },
      revenue: { kind: 'sum', field: 'amount' },
      buyers: { kind: 'distinct', field: 'customer' },
    },
  },
]);
/** Minute 0 of the events: 09:00 UTC on 2026-11-24. */
export const ORDERS_BASE = Date.UTC(2026, 10, 24, 9, 0, 0);
export const SHOPS = ['berlin', 'paris', 'rome'];

/** Order `i` in event minute `minute` after ORDERS_BASE (spread over its seconds). */
export function order(i: number, minute: number): OracleEvent {
  return {
    id: `order-${i}`,
    type: 'order.placed',
    time: new Date(ORDERS_BASE + minute * 60_000 + (i % 50) * 1000).toISOString(),
    shop: SHOPS[i % 3],
    amount: ((i * 37) % 10_000) / 100,
    customer: `c${i % 11}`,
  };
}

/** POSTs a JSON body and returns the status and the JSON answer. */
export async function postJson(
  url: string,
  path: string,
  body: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/**
 * The `orders` view (count, sum of amount, distinct customers per shop and minute) as served by
 * GET /views equals the oracle over the accepted events, bucket by bucket and exactly (distinct
 * too: the callers query buckets that are all batch).
 */
export async function expectOrdersServedExact(
  url: string,
  accepted: readonly OracleEvent[],
  shops: readonly string[],
  fromMs: number,
  toMs: number,
): Promise<void> {
  const from = new Date(fromMs).toISOString();
  const to = new Date(toMs).toISOString();
  for (const shop of shops) {
    const res = await fetch(`${url}/views/orders?shop=${shop}&from=${from}&to=${to}`);
    const body = (await res.json()) as {
      buckets: { start: string; measures: { orders: number; revenue: number; buyers: number } }[];
    };
    const expected = expectedBuckets(accepted, {
      type: 'order.placed',
      keyField: 'shop',
      key: shop,
      granularity: '1m',
      numberField: 'amount',
      distinctField: 'customer',
    });
    expect(body.buckets.map((b) => b.start)).toEqual([...expected.keys()].sort());
    for (const b of body.buckets) {
      const e = expected.get(b.start)!;
      expect(b.measures.orders, `${shop} ${b.start}`).toBe(e.count);
      expect(Math.round(b.measures.revenue * 100)).toBe(e.sumCents);
      expect(b.measures.buyers, `${shop} ${b.start} buyers`).toBe(e.distinct.size);
    }
  }
}

/**
 * A suite over the `orders` view: one pipeline, the events it accepted (the oracle's input), and
 * ingestion that waits until the speed layer applied them and a batch run would cover them.
 */
export class OrdersSuite {
  readonly accepted: OracleEvent[] = [];
  readonly pipeline: LocalPipeline;

  /**
   * @param overrides pipeline options beyond testPipeline's (arrival buckets of 1 s are set here)
   * @param settle what else `ingest` waits for once the events are archived and applied
   */
  constructor(
    overrides: Partial<Omit<LocalPipelineOptions, 'views'>> = {},
    private readonly settle: (suite: OrdersSuite) => Promise<void> = async () => {},
  ) {
    this.pipeline = testPipeline(ORDERS_VIEWS, { arrivalBucketMs: ORDERS_ARRIVAL_BUCKET_MS, ...overrides });
  }

  post(path: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
    return postJson(this.pipeline.url, path, body);
  }

  /** Posts `events`, then waits until the speed layer has them and a batch run would cover them. */
  async ingest(events: OracleEvent[]): Promise<void> {
    expect((await this.post('/events', { events })).status).toBe(202);
    this.accepted.push(...events);
    await this.archived();
    await this.pipeline.idle();
    await this.settle(this);
  }

  /** Waits until everything that arrived so far is archived before a batch run's cutoff. */
  archived(): Promise<number> {
    return waitForArchivedBefore(this.pipeline.url, Date.now(), ORDERS_ARRIVAL_BUCKET_MS);
  }

  /** Served buckets between the two times equal the oracle's over `accepted`, exactly. */
  expectServedExact(fromMs: number, toMs: number): Promise<void> {
    return expectOrdersServedExact(this.pipeline.url, this.accepted, SHOPS, fromMs, toMs);
  }
}

/** The arrival buckets the `orders` suites use: a batch cutoff falls on whole seconds. */
export const ORDERS_ARRIVAL_BUCKET_MS = 1000;
