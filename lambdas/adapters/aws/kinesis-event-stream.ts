import { PutRecordsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import type { EventStream, StreamEntry } from '../../ports/event-stream';

/**
 * One PutRecords request carries at most 500 records and 5 MiB, partition keys included
 * (https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecords.html). kinesalite checks
 * only the 500: a request over 5 MiB, which the stream refuses whole, would pass locally.
 */
export const PUT_RECORDS_MAX_ENTRIES = 500;
export const PUT_RECORDS_MAX_BYTES = 5 * 1024 * 1024;

/**
 * The entries as consecutive index ranges [from, to), each within one request's limits. A body
 * within POST /events' limit can still exceed 5 MiB once stored: the API re-serializes each event,
 * and a number such as 1e20 is written out in full (21 bytes for 4).
 */
export function putRecordsRequests(entries: readonly StreamEntry[]): [number, number][] {
  const ranges: [number, number][] = [];
  let from = 0;
  let bytes = 0;
  entries.forEach((entry, i) => {
    const size = Buffer.byteLength(entry.data, 'utf8') + Buffer.byteLength(entry.partitionKey, 'utf8');
    if (i > from && (i - from === PUT_RECORDS_MAX_ENTRIES || bytes + size > PUT_RECORDS_MAX_BYTES)) {
      ranges.push([from, i]);
      from = i;
      bytes = 0;
    }
    bytes += size;
  });
  if (entries.length > from) ranges.push([from, entries.length]);
  return ranges;
}

/** PutRecords; entries the stream refuses (ErrorCode set) are reported back for the caller to resend. */
export class KinesisEventStream implements EventStream {
  constructor(
    private readonly client: KinesisClient,
    private readonly streamName: string,
  ) {}

  async putRecords(entries: readonly StreamEntry[]): Promise<number[]> {
    const refused: number[] = [];
    // In order, one request at a time: a producer's events keep their order within a shard.
    for (const [from, to] of putRecordsRequests(entries)) {
      let result;
      try {
        result = await this.client.send(
          new PutRecordsCommand({
            StreamName: this.streamName,
            Records: entries
              .slice(from, to)
              .map((e) => ({ Data: Buffer.from(e.data, 'utf8'), PartitionKey: e.partitionKey })),
          }),
        );
      } catch (error) {
        // The first request failed whole: the caller's error. A later one: the entries before it
        // are on the stream, so only this request's and the rest are reported for a resend.
        if (from === 0) throw error;
        for (let i = from; i < entries.length; i++) refused.push(i);
        return refused;
      }
      (result.Records ?? []).forEach((record, i) => {
        if (record.ErrorCode) refused.push(from + i);
      });
    }
    return refused;
  }
}
