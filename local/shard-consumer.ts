import type { KinesisClient, Shard } from '@aws-sdk/client-kinesis';
import { Naps } from './naps';
import { ShardDiscovery } from './shard-discovery';
import { ShardReader } from './shard-reader';

/** What every consumer keeps per shard; each adds its own progress. */
export interface ConsumedShard {
  readonly id: string;
  readonly reader: ShardReader;
}

export interface ShardConsumerOptions {
  readonly client: KinesisClient;
  readonly streamName: string;
  /** Names the consumer in errors: `event source`, `archiver`. */
  readonly role: string;
  /** How often the stream's shards are listed to find the children of a reshard. @default 5000 */
  readonly listShardsIntervalMs?: number;
}

/** Thrown inside a shard's step when the consumer stops midway: the loop ends without an error. */
export class Stopping extends Error {}

/** After a step: `more` to read on, `ended` when the shard is closed by a reshard and fully handled. */
export type StepResult = 'more' | 'ended';

/**
 * The plumbing every consumer of the stream shares (the event-source poller, the archiver): load
 * checkpoints, then find shards (and the children of reshards) and run one loop per shard; tell
 * when every shard has caught up; stop without waiting out a pause. A subclass says what a shard
 * keeps, what one step of reading it does, and when it has caught up.
 */
export abstract class ShardConsumer<S extends ConsumedShard> {
  protected readonly shards = new Map<string, S>();
  protected stopping = false;
  protected readonly discovery: ShardDiscovery;
  private readonly loops: Promise<void>[] = [];
  private readonly naps = new Naps();
  private startup?: Promise<void>;
  private fatal?: string;
  /** The latest error met while reading, invoking or writing (the consumer keeps going and retries). */
  lastError?: string;

  constructor(private readonly consumer: ShardConsumerOptions) {
    this.discovery = new ShardDiscovery(
      consumer.client,
      consumer.streamName,
      consumer.listShardsIntervalMs ?? 5000,
      (shard, initial) => this.addShard(shard, initial),
      (message) => (this.lastError = message),
    );
  }

  /** Loads what the last run saved (checkpoints), before any shard is read. */
  protected abstract load(): Promise<void>;
  /** The state of a shard just found; `initial`: it was in the first listing. */
  protected abstract openShard(shard: Shard, initial: boolean): S;
  /** One step of reading a shard; the loop repeats it until the consumer stops or the shard ends. */
  protected abstract step(state: S): Promise<StepResult>;
  /** Whether a shard has been read to its end by a read that started at or after `since`, and handled. */
  protected abstract caughtUp(state: S, since: number): boolean;
  /** The shards as `stats()` shows them, for the error of an `idle()` that timed out. */
  protected abstract shardStats(): readonly unknown[];

  /** Runs once before a shard's loop starts (a child shard waits for its parents here). */
  protected async beforeReading(_state: S): Promise<void> {}

  /** Starts finding shards; runs once the checkpoints are loaded, unless the consumer is stopping. */
  protected startReading(): void {
    this.discovery.start();
  }

  /** Loads the checkpoints, then lists the shards and reads each one. Returns at once. */
  start(): void {
    this.startup ??= (async () => {
      await this.load();
      if (!this.stopping) this.startReading();
    })().catch((error: Error) => {
      this.fatal = `${this.describe()} could not start: ${error.message}`;
      this.lastError = this.fatal;
    });
  }

  /**
   * Resolves once start() has loaded the checkpoints (false when start() was not called); throws
   * what made the start fail.
   */
  protected async loaded(): Promise<boolean> {
    if (!this.startup) return false;
    await this.startup;
    if (this.fatal) throw new Error(this.fatal);
    return true;
  }

  protected nap(ms: number): Promise<void> {
    return this.naps.sleep(ms);
  }

  /** A reader of one shard of this stream, after `startAfter` or else at `position`. */
  protected readerOf(
    shardId: string,
    startAfter: string | undefined,
    position: 'TRIM_HORIZON' | 'LATEST' = 'TRIM_HORIZON',
  ): ShardReader {
    return new ShardReader(this.consumer.client, this.consumer.streamName, shardId, startAfter, position);
  }

  private addShard(shard: Shard, initial: boolean): void {
    const state = this.openShard(shard, initial);
    this.shards.set(state.id, state);
    this.loops.push(this.consume(state));
  }

  private async consume(state: S): Promise<void> {
    await this.beforeReading(state);
    while (!this.stopping) {
      try {
        if ((await this.step(state)) === 'ended') {
          // Closed by a reshard and fully handled: its children exist and must be found.
          this.discovery.relistSoon();
          return;
        }
      } catch (error) {
        if (error instanceof Stopping) return;
        this.lastError = `shard ${state.id}: ${(error as Error).message}`;
        await this.nap(500);
      }
    }
  }

  /**
   * Resolves when, after this call, every shard was read to its end (a GetRecords that started
   * after the call found nothing new) and handled; ended shards count as done once a listing
   * after the call has found their children. Rejects after `timeoutMs`.
   */
  async idle(timeoutMs = 30_000): Promise<void> {
    const since = Date.now();
    this.discovery.relistSoon();
    while (Date.now() - since < timeoutMs) {
      if (this.fatal) throw new Error(this.fatal);
      const states = [...this.shards.values()];
      if (
        this.discovery.lastListedAt >= since &&
        states.length > 0 &&
        states.every((s) => this.caughtUp(s, since))
      )
        return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(
      `${this.describe()} did not catch up within ${timeoutMs} ms ` +
        `(last error: ${this.lastError ?? 'none'}); shards: ${JSON.stringify(this.shardStats())}`,
    );
  }

  /** Stops reading: each shard's loop ends after its current step. Resolves when every loop has ended. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.naps.wakeAll();
    await this.startup;
    await this.discovery.stop();
    // Shards found by a listing that was under way when stop began add their loops late.
    for (let waited = 0; waited < this.loops.length;) {
      const next = this.loops.slice(waited);
      waited = this.loops.length;
      await Promise.all(next);
    }
  }

  private describe(): string {
    return `${this.consumer.role} for ${this.consumer.streamName}`;
  }
}
