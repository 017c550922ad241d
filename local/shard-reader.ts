import {
  ExpiredIteratorException,
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListShardsCommand,
  type _Record,
  type KinesisClient,
  type Shard,
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

  /** Moves the read position back (records after `sequence` are read again): a retry from a checkpoint. */
  rewindTo(sequence: string | undefined): void {
    this.lastRead = sequence;
    this.iterator = undefined;
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
    return { records, millisBehindLatest: result.MillisBehindLatest ?? 0, startedAt, ended: this.ended };
  }
}

export async function listShards(client: KinesisClient, streamName: string): Promise<Shard[]> {
  const shards: Shard[] = [];
  let nextToken: string | undefined;
  do {
    const page = await client.send(
      nextToken
        ? new ListShardsCommand({ NextToken: nextToken })
        : new ListShardsCommand({ StreamName: streamName }),
    );
    shards.push(...(page.Shards ?? []));
    nextToken = page.NextToken;
  } while (nextToken);
  return shards;
}

/**
 * Lists the stream's shards now and every few seconds until `stopped()`, calling `onShard` once
 * for each shard not seen before (resharding adds shards while the consumer runs).
 */
export async function watchShards(
  client: KinesisClient,
  streamName: string,
  stopped: () => boolean,
  onShard: (shard: Shard) => void,
  onError: (message: string) => void,
  everyMs = 5000,
): Promise<void> {
  const seen = new Set<string>();
  while (!stopped()) {
    try {
      for (const shard of await listShards(client, streamName)) {
        if (seen.has(shard.ShardId!)) continue;
        seen.add(shard.ShardId!);
        onShard(shard);
      }
    } catch (error) {
      onError(`listing shards: ${(error as Error).message}`);
    }
    for (let waited = 0; waited < everyMs && !stopped(); waited += 100) await sleep(100);
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Sleeps that all end at once when their owner stops (so stop() does not wait out a poll interval). */
export class Naps {
  private readonly waiting = new Set<() => void>();

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiting.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiting.add(done);
    });
  }

  wakeAll(): void {
    for (const wake of [...this.waiting]) wake();
  }
}
