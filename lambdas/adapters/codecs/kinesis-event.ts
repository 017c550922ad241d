import type { KinesisStreamEvent } from 'aws-lambda';
import type { SpeedRecord } from '../../services/speed-layer';

/**
 * Kinesis event-source records -> data text and stream position. The data is base64; the
 * arrival time comes in seconds with millisecond decimals and is rounded back to whole
 * milliseconds, the unit the archive records it in, so both agree on every arrival bucket.
 */
export function decodeKinesisEvent(event: KinesisStreamEvent): SpeedRecord[] {
  return event.Records.map((record) => {
    const separator = record.eventID.lastIndexOf(':');
    const shardId = separator > 0 ? record.eventID.slice(0, separator) : record.eventID;
    return {
      data: Buffer.from(record.kinesis.data, 'base64').toString('utf8'),
      position: {
        shardId,
        sequenceNumber: record.kinesis.sequenceNumber,
        partitionKey: record.kinesis.partitionKey,
        arrivedMs: Math.round(record.kinesis.approximateArrivalTimestamp * 1000),
      },
    };
  });
}
