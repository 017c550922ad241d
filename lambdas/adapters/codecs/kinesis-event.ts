import type { KinesisStreamEvent } from 'aws-lambda';
import type { SpeedRecord } from '../../services/speed-layer';

/**
 * Kinesis event-source records -> data text and stream position. The data is base64; the
 * arrival time comes in seconds with millisecond decimals and is rounded back to whole
 * milliseconds, the unit the archive records it in, so both agree on every arrival bucket.
 */
export function decodeKinesisEvent(event: KinesisStreamEvent): SpeedRecord[] {
  // A batch comes from one shard: its id is cut out of the first eventID and reused while the next
  // ones start with it (one string, not one per record).
  let shardId = '';
  return event.Records.map((record) => {
    const eventId = record.eventID;
    const separator = eventId.lastIndexOf(':');
    const same = separator > 0 && separator === shardId.length && eventId.startsWith(shardId);
    if (!same) shardId = separator > 0 ? eventId.slice(0, separator) : eventId;
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
