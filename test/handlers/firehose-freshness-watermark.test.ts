import type { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { describe, expect, it } from 'vitest';
import {
  FirehoseFreshnessWatermark,
  FRESHNESS_LOOKBACK_MS,
} from '../../lambdas/adapters/aws/firehose-freshness-watermark';
import { ManualClock } from '../services/in-memory-stores';

const NOW = Date.UTC(2026, 11, 1, 12, 0, 0);

/** A fake CloudWatch: answers GetMetricData with the given per-minute maxima, records the request. */
function fakeCloudWatch(values: { freshness: number[]; behind: number[] }) {
  const sent: Record<string, unknown>[] = [];
  const client = {
    send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
      expect(command.constructor.name).toBe('GetMetricDataCommand');
      sent.push(command.input);
      return {
        MetricDataResults: [
          { Id: 'freshness', Values: values.freshness },
          { Id: 'behind', Values: values.behind },
        ],
      };
    },
  } as unknown as CloudWatchClient;
  return { client, sent };
}

function watermark(values: { freshness: number[]; behind: number[] }) {
  const fake = fakeCloudWatch(values);
  const wm = new FirehoseFreshnessWatermark({
    client: fake.client,
    clock: new ManualClock(NOW),
    deliveryStreamName: 'archive-stream',
    worstCaseLagMs: 210_000,
    marginMs: 60_000,
  });
  return { wm, sent: fake.sent };
}

describe('FirehoseFreshnessWatermark', () => {
  it('trails arrival by the worst case by construction while Firehose is on time', async () => {
    const { wm } = watermark({ freshness: [40, 75, 62], behind: [0, 1200] });
    expect(await wm.archivedBeforeMs()).toBe(NOW - 210_000);
  });

  it('trails by the measured delays when Firehose runs later than the worst case (S3 errors, throttling)', async () => {
    // The oldest record still in Firehose is 30 minutes old, and the read trails the stream by 20 s.
    const { wm } = watermark({ freshness: [120, 1800, 900], behind: [20_000, 5_000] });
    expect(await wm.archivedBeforeMs()).toBe(NOW - (1_800_000 + 20_000 + 60_000));
    expect(wm.lastLag).toEqual({ lagMs: 1_880_000, freshnessMs: 1_800_000, behindMs: 20_000 });
  });

  it('keeps the worst case by construction when no data points exist (no traffic)', async () => {
    const { wm } = watermark({ freshness: [], behind: [] });
    expect(await wm.archivedBeforeMs()).toBe(NOW - 210_000);
  });

  it('asks for the per-minute maxima of both metrics of this delivery stream over the lookback', async () => {
    const { wm, sent } = watermark({ freshness: [], behind: [] });
    await wm.archivedBeforeMs();
    expect(sent[0]).toMatchObject({
      StartTime: new Date(NOW - FRESHNESS_LOOKBACK_MS),
      EndTime: new Date(NOW),
      MetricDataQueries: [
        {
          Id: 'freshness',
          MetricStat: {
            Metric: {
              Namespace: 'AWS/Firehose',
              MetricName: 'DeliveryToS3.DataFreshness',
              Dimensions: [{ Name: 'DeliveryStreamName', Value: 'archive-stream' }],
            },
            Period: 60,
            Stat: 'Maximum',
          },
        },
        {
          Id: 'behind',
          MetricStat: { Metric: { MetricName: 'KinesisMillisBehindLatest' }, Stat: 'Maximum' },
        },
      ],
    });
  });
});
