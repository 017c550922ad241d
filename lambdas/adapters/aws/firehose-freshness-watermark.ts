import { GetMetricDataCommand, type CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import type { ArchiveWatermark } from '../../ports/archive';
import type { Clock } from '../../ports/clock';

/** How far back the measured delays are read: CloudWatch publishes Firehose metrics per minute, a few minutes late. */
export const FRESHNESS_LOOKBACK_MS = 15 * 60_000;

export interface FirehoseFreshnessWatermarkOptions {
  readonly client: CloudWatchClient;
  readonly clock: Clock;
  readonly deliveryStreamName: string;
  /**
   * The delay Firehose can take by construction (processor buffer + 1.5 x the buffering hint with
   * dynamic partitioning + a margin): the least the cutoff ever trails arrival time.
   */
  readonly worstCaseLagMs: number;
  /** Added on top of the measured delays (their one-minute resolution, clock skew). */
  readonly marginMs: number;
}

/**
 * Cloud: how far the archive provably holds. The cutoff trails arrival time by the documented
 * worst case by construction, and by more whenever Firehose measurably runs later than that
 * (S3 errors retried for hours, a processor that is throttled, a read that falls behind):
 *
 * - `DeliveryToS3.DataFreshness`: "the age (from getting into Firehose to now) of the oldest
 *   record in Firehose. Any record older than this age has been delivered to the S3 bucket."
 * - `KinesisMillisBehindLatest`: how far Firehose's read of the Kinesis stream trails its tip,
 *   the time a record spends before it "gets into" Firehose.
 *
 * Source: Amazon Data Firehose developer guide, "Monitoring with CloudWatch metrics"
 * (https://docs.aws.amazon.com/firehose/latest/dev/monitoring-with-cloudwatch-metrics.html).
 * The maxima over the last 15 minutes are used; with no data points (no traffic) the worst case
 * by construction holds alone.
 */
export class FirehoseFreshnessWatermark implements ArchiveWatermark {
  /** The lag the last call used, and what it was made of (the batch run reports it). */
  lastLag?: { readonly lagMs: number; readonly freshnessMs: number | null; readonly behindMs: number | null };

  constructor(private readonly options: FirehoseFreshnessWatermarkOptions) {}

  async archivedBeforeMs(): Promise<number> {
    const now = this.options.clock.now();
    const { freshnessMs, behindMs } = await this.measured(now);
    const measuredLag =
      freshnessMs === null && behindMs === null
        ? 0
        : (freshnessMs ?? 0) + (behindMs ?? 0) + this.options.marginMs;
    const lagMs = Math.max(this.options.worstCaseLagMs, measuredLag);
    this.lastLag = { lagMs, freshnessMs, behindMs };
    return now - lagMs;
  }

  private async measured(now: number): Promise<{ freshnessMs: number | null; behindMs: number | null }> {
    const dimensions = [{ Name: 'DeliveryStreamName', Value: this.options.deliveryStreamName }];
    const metric = (id: string, name: string) => ({
      Id: id,
      MetricStat: {
        Metric: { Namespace: 'AWS/Firehose', MetricName: name, Dimensions: dimensions },
        Period: 60,
        Stat: 'Maximum',
      },
      ReturnData: true,
    });
    const result = await this.options.client.send(
      new GetMetricDataCommand({
        StartTime: new Date(now - FRESHNESS_LOOKBACK_MS),
        EndTime: new Date(now),
        MetricDataQueries: [
          metric('freshness', 'DeliveryToS3.DataFreshness'),
          metric('behind', 'KinesisMillisBehindLatest'),
        ],
      }),
    );
    const max = (id: string): number | null => {
      const values = result.MetricDataResults?.find((r) => r.Id === id)?.Values ?? [];
      return values.length === 0 ? null : Math.max(...values);
    };
    const freshnessSeconds = max('freshness');
    return {
      freshnessMs: freshnessSeconds === null ? null : freshnessSeconds * 1000,
      behindMs: max('behind'),
    };
  }
}
