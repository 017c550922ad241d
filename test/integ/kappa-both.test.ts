import { afterAll, describe, expect, it } from 'vitest';
import { validateViews } from '../../lambdas/core/view';
import { ENHANCED_FAN_OUT_READ_MS, type LocalPipeline } from '../../local/pipeline';
import { testPipeline } from './test-pipeline';

/**
 * `--architecture both`: the Lambda and the Kappa architectures on one stream. Lambda answers at
 * /views/{view}, Kappa at /kappa/views/{view}; after the speed layer, a batch run and the Kappa
 * processor have caught up, both give the same exact values. Run with `enhancedFanOut` (ADR 025):
 * both event sources read as enhanced fan-out consumers, which changes when they read, not what.
 */
const views = validateViews([
  {
    name: 'orders',
    eventType: 'order.placed',
    key: ['shop'],
    granularity: '1m',
    measures: { orders: { kind: 'count' }, revenue: { kind: 'sum', field: 'amount' } },
  },
]);
let pipeline: LocalPipeline | undefined;
afterAll(async () => {
  await pipeline?.stop();
});

describe('both architectures on one stream', () => {
  it('serve the same values at /views and /kappa/views', async () => {
    pipeline = testPipeline(views, {
      archiveFlushMs: 300,
      speedBatchingWindowMs: 100,
      architecture: 'both',
      enhancedFanOut: true,
    });
    await pipeline.start();
    const url = pipeline.url;
    const deadline = Date.now() + 60_000;
    // Version 1 of the Kappa views is built at start (auto replay of the empty archive).
    const health = async () =>
      ((await (await fetch(`${url}/kappa/health`)).json()) as { versions?: Record<string, number | null> })
        .versions;
    while ((await health())?.orders !== 1) {
      if (Date.now() > deadline) throw new Error('Kappa version 1 was not built');
      await new Promise((r) => setTimeout(r, 100));
    }
    const events = Array.from({ length: 50 }, (_, i) => ({
      id: `o-${i}`,
      type: 'order.placed',
      time: `2026-11-24T09:${String(i % 60).padStart(2, '0')}:00Z`,
      shop: i % 2 ? 'north' : 'south',
      amount: i + 0.25,
    }));
    const sent = await fetch(`${url}/events`, {
      method: 'POST',
      body: JSON.stringify({ events: [...events, ...events.slice(0, 10)] }),
    });
    expect(sent.status).toBe(202);
    await pipeline.idle(60_000);
    await pipeline.runBatch();
    const range = 'from=2026-11-24T00:00:00Z&to=2026-11-25T00:00:00Z';
    for (const shop of ['north', 'south']) {
      const lambda = (await (await fetch(`${url}/views/orders?shop=${shop}&${range}`)).json()) as {
        batchVersion: number;
        buckets: unknown[];
      };
      const kappa = (await (await fetch(`${url}/kappa/views/orders?shop=${shop}&${range}`)).json()) as {
        version: number;
        buckets: unknown[];
      };
      expect(lambda.batchVersion).not.toBeNull();
      expect(kappa.version).toBe(1);
      expect(kappa.buckets).toHaveLength(25);
      expect(kappa.buckets).toEqual(lambda.buckets);
    }
    const status = (await (await fetch(`${url}/admin/status`)).json()) as {
      architecture: string;
      speed: { readIntervalMs: number };
      kappa: { processor: { readIntervalMs: number } } | null;
    };
    expect(status.architecture).toBe('both');
    expect(status.speed.readIntervalMs).toBe(ENHANCED_FAN_OUT_READ_MS);
    expect(status.kappa?.processor.readIntervalMs).toBe(ENHANCED_FAN_OUT_READ_MS);
  }, 180_000);
});
