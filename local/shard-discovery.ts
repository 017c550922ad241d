import { ListShardsCommand, type KinesisClient, type Shard } from '@aws-sdk/client-kinesis';

/** Every shard of the stream, open or closed, over as many ListShards pages as it takes. */
async function listShards(client: KinesisClient, streamName: string): Promise<Shard[]> {
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
 * Lists a stream's shards now, every few seconds, and on request, reporting each shard once.
 * Every consumer of the stream needs it: a reshard adds shards while they run.
 */
export class ShardDiscovery {
  private readonly known = new Set<string>();
  private stopped = false;
  private loop?: Promise<void>;
  private wake?: () => void;
  private relistRequested = false;
  private listings = 0;
  /** Start time of the latest successful listing: every shard that existed then has been reported. */
  lastListedAt = 0;

  constructor(
    private readonly client: KinesisClient,
    private readonly streamName: string,
    private readonly everyMs: number,
    /** `initial`: the shard was in the first successful listing. */
    private readonly onShard: (shard: Shard, initial: boolean) => void,
    private readonly onError: (message: string) => void,
  ) {}

  start(): void {
    this.loop ??= (async () => {
      while (!this.stopped) {
        this.relistRequested = false;
        await this.listNow().catch((error: Error) =>
          this.onError(`listing the shards of ${this.streamName}: ${error.message}`),
        );
        // A request that came during that listing may predate what it must see: list again.
        if (this.relistRequested) continue;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, this.everyMs);
          function done() {
            clearTimeout(timer);
            resolve();
          }
          this.wake = done;
        });
      }
    })();
  }

  /** Lists the shards at once, reports new ones, and resolves to the listing's start time. */
  async listNow(): Promise<number> {
    const startedAt = Date.now();
    const shards = await listShards(this.client, this.streamName);
    const initial = this.listings === 0;
    for (const shard of shards) {
      if (!shard.ShardId || this.known.has(shard.ShardId)) continue;
      this.known.add(shard.ShardId);
      this.onShard(shard, initial);
    }
    this.listings++;
    this.lastListedAt = Math.max(this.lastListedAt, startedAt);
    return startedAt;
  }

  /** Ends the current pause: the next listing starts now (a shard ended, so children exist). */
  relistSoon(): void {
    this.relistRequested = true;
    this.wake?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
  }
}
