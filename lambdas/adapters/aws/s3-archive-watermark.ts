import { GetObjectCommand, NoSuchKey, type S3Client } from '@aws-sdk/client-s3';
import type { ArchiveWatermark } from '../../ports/archive';
import type { Clock } from '../../ports/clock';

/** Key of the local archiver's watermark object (outside the events/ prefix the batch reads). */
export const WATERMARK_KEY = '_watermark.json';

/** Local: the archiver writes how far it has provably archived after every flush. */
export class S3CheckpointWatermark implements ArchiveWatermark {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
  ) {}

  async archivedBeforeMs(): Promise<number | null> {
    try {
      const result = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: WATERMARK_KEY }),
      );
      const body = JSON.parse(await result.Body!.transformToString()) as { archivedBeforeMs?: unknown };
      return typeof body.archivedBeforeMs === 'number' ? body.archivedBeforeMs : null;
    } catch (error) {
      if (error instanceof NoSuchKey || (error as Error).name === 'NoSuchKey') return null;
      throw error;
    }
  }
}

/**
 * Cloud: Firehose delivers within its buffer interval, so everything that arrived more than
 * the interval plus a margin ago is in S3.
 */
export class ClockLagWatermark implements ArchiveWatermark {
  constructor(
    private readonly clock: Clock,
    private readonly lagMs: number,
  ) {}

  async archivedBeforeMs(): Promise<number> {
    return this.clock.now() - this.lagMs;
  }
}
