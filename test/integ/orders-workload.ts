import { expect } from 'vitest';
import { validateViews } from '../../lambdas/core/view';
import { expectedBuckets, type OracleEvent } from './oracle';

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
