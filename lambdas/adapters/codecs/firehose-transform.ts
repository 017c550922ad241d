import type {
  FirehoseTransformationEvent,
  FirehoseTransformationResult,
  FirehoseTransformationResultRecord,
} from 'aws-lambda';
import { PoisonRecordError, readStreamRecord, toArchiveLine } from '../../core/event';

/** Firehose's Kinesis-source metadata, present when the delivery stream reads a Kinesis stream. */
interface KinesisRecordMetadata {
  shardId: string;
  sequenceNumber: string;
  partitionKey: string;
  approximateArrivalTimestamp: number;
}

function partitionOf(ms: number): { dt: string; hour: string } {
  const iso = new Date(ms).toISOString();
  return { dt: iso.slice(0, 10), hour: iso.slice(11, 13) };
}

/**
 * Firehose transformation: the same normalization as the speed layer (same id for records
 * without one, same arrival time, same rules: readStreamRecord), partitioned by arrival time.
 * Records that the speed layer would dead-letter are marked ProcessingFailed: Firehose writes them, payload included, under
 * the error prefix, so the batch never counts what the speed layer refused, and nothing
 * disappears silently.
 */
export function transformFirehoseEvent(event: FirehoseTransformationEvent): FirehoseTransformationResult {
  const records: FirehoseTransformationResultRecord[] = event.records.map((record) => {
    const meta = (record as unknown as { kinesisRecordMetadata?: KinesisRecordMetadata })
      .kinesisRecordMetadata;
    const arrivedMs = meta?.approximateArrivalTimestamp ?? record.approximateArrivalTimestamp;
    const data = Buffer.from(record.data, 'base64').toString('utf8');
    try {
      if (!meta)
        throw new PoisonRecordError(
          'the delivery stream does not read a Kinesis stream: kinesisRecordMetadata is missing',
        );
      const normalized = readStreamRecord(data, {
        shardId: meta.shardId,
        sequenceNumber: meta.sequenceNumber,
        partitionKey: meta.partitionKey,
        arrivedMs,
      });
      return {
        recordId: record.recordId,
        result: 'Ok',
        data: Buffer.from(`${toArchiveLine(normalized)}\n`, 'utf8').toString('base64'),
        metadata: { partitionKeys: partitionOf(arrivedMs) },
      };
    } catch (error) {
      // One record never fails the invocation: Firehose would retry the whole batch, then skip
      // all of it to the error prefix. Only this record goes there, payload included, and why.
      if (!(error instanceof PoisonRecordError)) {
        console.error(
          JSON.stringify({
            level: 'ERROR',
            message: 'archive transform failed on one record',
            recordId: record.recordId,
            error: (error as Error).message,
          }),
        );
      }
      return { recordId: record.recordId, result: 'ProcessingFailed', data: record.data };
    }
  });
  return { records };
}
