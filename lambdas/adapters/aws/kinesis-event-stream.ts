import { PutRecordsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import type { EventStream, StreamEntry } from '../../ports/event-stream';

/** PutRecords; entries the stream refuses (ErrorCode set) are reported back for the caller to resend. */
export class KinesisEventStream implements EventStream {
  constructor(
    private readonly client: KinesisClient,
    private readonly streamName: string,
  ) {}

  async putRecords(entries: readonly StreamEntry[]): Promise<number[]> {
    const result = await this.client.send(
      new PutRecordsCommand({
        StreamName: this.streamName,
        Records: entries.map((e) => ({ Data: Buffer.from(e.data, 'utf8'), PartitionKey: e.partitionKey })),
      }),
    );
    const refused: number[] = [];
    (result.Records ?? []).forEach((record, i) => {
      if (record.ErrorCode) refused.push(i);
    });
    return refused;
  }
}
