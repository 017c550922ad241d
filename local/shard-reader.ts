import {
  ExpiredIteratorException,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type _Record,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';

export interface FetchResult {
  readonly records: _Record[];
  readonly millisBehindLatest: number;
  /** When the GetRecords call started: with millisBehindLatest 0, every record that arrived well before it is in this result or an earlier one. */
  readonly startedAt: number;
  /** The shard is closed (resharded) and fully read. */
  readonly ended: boolean;
}

/**
 * Reads one shard in order with GetRecords, resuming after a checkpointed sequence number and
 * renewing the iterator when it expires (Kinesis iterators live five minutes).
 */
export class ShardReader {
  private iterator: string | undefined;
  private lastRead: string | undefined;
  private ended = false;

  constructor(
    private readonly client: KinesisClient,
    private readonly streamName: string,
    readonly shardId: string,
    startAfter: string | undefined,
    private readonly position: 'TRIM_HORIZON' | 'LATEST',
  ) {
    this.lastRead = startAfter;
  }

  private async newIterator(): Promise<string | undefined> {
    const { ShardIterator } = await this.client.send(
      new GetShardIteratorCommand({
        StreamName: this.streamName,
        ShardId: this.shardId,
        ...(this.lastRead
          ? { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', StartingSequenceNumber: this.lastRead }
          : { ShardIteratorType: this.position }),
      }),
    );
    return ShardIterator;
  }

  async fetch(limit: number): Promise<FetchResult> {
    const startedAt = Date.now();
    if (this.ended) return { records: [], millisBehindLatest: 0, startedAt, ended: true };
    this.iterator ??= await this.newIterator();
    if (!this.iterator) {
      this.ended = true;
      return { records: [], millisBehindLatest: 0, startedAt, ended: true };
    }
    let result;
    try {
      result = await this.client.send(new GetRecordsCommand({ ShardIterator: this.iterator, Limit: limit }));
    } catch (error) {
      if (
        !(error instanceof ExpiredIteratorException) &&
        (error as Error).name !== 'ExpiredIteratorException'
      )
        throw error;
      this.iterator = undefined;
      return this.fetch(limit);
    }
    const records = result.Records ?? [];
    if (records.length > 0) this.lastRead = records[records.length - 1].SequenceNumber;
    this.iterator = result.NextShardIterator ?? undefined;
    if (!this.iterator && records.length === 0) this.ended = true;
    const millisBehindLatest = Math.max(
      result.MillisBehindLatest ?? 0,
      records.length >= limit ? behindLastRecord(records, Date.now()) : 0,
    );
    return { records, millisBehindLatest, startedAt, ended: this.ended };
  }
}

/**
 * How far a full page leaves the reader behind the stream's tip, at least: the age of its last
 * record. kinesalite answers MillisBehindLatest 0 on every open shard however far behind the
 * reader is, so without this the local status and progress line showed "lag 0 ms" while
 * thousands of records waited. A short page means the reader reached the tip (Kinesis answers
 * 0 then too); a page exactly as long as what was left over-reports for one call.
 */
export function behindLastRecord(records: readonly _Record[], now: number): number {
  const arrival = records[records.length - 1]?.ApproximateArrivalTimestamp;
  return arrival ? Math.max(0, now - arrival.getTime()) : 0;
}
