import type { S3Client } from '@aws-sdk/client-s3';
import { FirehoseFreshnessWatermark } from '../adapters/aws/firehose-freshness-watermark';
import { ClockLagWatermark, S3CheckpointWatermark } from '../adapters/aws/s3-archive-watermark';
import type { ArchiveWatermark } from '../ports/archive';
import { systemClock } from '../ports/clock';
import { makeCloudWatchClient } from './clients/cloudwatch';
import type { AwsEndpoints } from './clients/endpoints';
import type { ArchiveWatermarkConfig } from './config';

/** Margin on top of Firehose's measured delays: their one-minute resolution and clock skew. */
const MEASURED_MARGIN_MS = 60_000;

/**
 * The archive watermark a function's configuration names: the local archiver's checkpoint, or in
 * the cloud the worst case by construction, lengthened by Firehose's measured delays when the
 * delivery stream is known. The batch cutoff and the Kappa replay's handoff wait for the same one.
 */
export function makeArchiveWatermark(
  config: ArchiveWatermarkConfig,
  endpoints: AwsEndpoints,
  s3: S3Client,
  bucket: string,
): ArchiveWatermark {
  if (config.kind === 'checkpoint') return new S3CheckpointWatermark(s3, bucket);
  if (!config.deliveryStream) return new ClockLagWatermark(systemClock, config.lagMs);
  return new FirehoseFreshnessWatermark({
    client: makeCloudWatchClient(endpoints),
    clock: systemClock,
    deliveryStreamName: config.deliveryStream,
    worstCaseLagMs: config.lagMs,
    marginMs: MEASURED_MARGIN_MS,
  });
}
