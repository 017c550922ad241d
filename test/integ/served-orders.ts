import { expect } from 'vitest';
import { expectedBuckets, type OracleEvent } from './oracle';

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
