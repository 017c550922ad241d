import type { KinesisClient, Shard } from '@aws-sdk/client-kinesis';
import type { KinesisStreamRecord, KinesisStreamTumblingWindowEvent } from 'aws-lambda';
import { systemClock, type Clock } from '../lambdas/ports/clock';
import {
  arrivalMs,
  deadLetterEntry,
  type OnFailureCondition,
  type OnFailureDestination,
} from './dead-letter-entry';
import { readJson, writeJsonAtomic } from './json-file';
import {
  firstFailedIndex,
  lambdaContext,
  toLambdaRecord,
  type KinesisBatchHandler,
} from './lambda-invocation';
import { ShardConsumer, Stopping, type ConsumedShard, type StepResult } from './shard-consumer';

export interface EventSourcePollerOptions {
  readonly client: KinesisClient;
  readonly streamName: string;
  /** The function: a deployed handler, or a proxy to one running in its own worker. */
  readonly handler: KinesisBatchHandler;
  /** Most records per invocation (BatchSize), 1 to 10000. @default 100 */
  readonly batchSize?: number;
  /**
   * How long records are gathered before a partial batch is sent (MaximumBatchingWindowInSeconds,
   * in ms). As in AWS, a window opens when the previous invocation ends. AWS's default is 0; 500
   * here keeps a trickle of local events from costing one invocation each.
   * @default 500
   */
  readonly maximumBatchingWindowMs?: number;
  /** Split a failed batch in two and retry each half (BisectBatchOnFunctionError). @default true */
  readonly bisectBatchOnFunctionError?: boolean;
  /** Retries of a failing batch before the on-failure destination (MaximumRetryAttempts); -1 = forever. @default 3 */
  readonly maximumRetryAttempts?: number;
  /**
   * Records older than this go to the on-failure destination instead of the function
   * (MaximumRecordAgeInSeconds, in ms; AWS's minimum of 60 s is not enforced, for tests); -1 = no limit.
   * @default -1
   */
  readonly maximumRecordAgeMs?: number;
  /** Honour `batchItemFailures` in the function's answer (FunctionResponseTypes ReportBatchItemFailures). @default true */
  readonly reportBatchItemFailures?: boolean;
  /**
   * Where shards without a checkpoint start (StartingPosition). LATEST applies to the shards open
   * when the poller first lists the stream; shards created later by resharding start at their
   * beginning, as in AWS, so no record is skipped.
   * @default 'TRIM_HORIZON'
   */
  readonly startingPosition?: 'TRIM_HORIZON' | 'LATEST';
  /**
   * The polling cadence of a shard read to its tip: its next GetRecords starts this long after
   * the last one started (a shard that is behind, after a full page, is read again at once).
   * AWS's: "For standard Kinesis data streams, Lambda polls shards in your stream for records at
   * a rate of once per second for each shard" and "When more records are available, Lambda keeps
   * processing batches until the function catches up with the stream"
   * (https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html); "Lambda reads records from a
   * stream at a fixed cadence (e.g. once per second for Kinesis data streams)"
   * (https://aws.amazon.com/about-aws/whats-new/2019/09/aws-lambda-now-supports-custom-batch-window-for-kinesis-and-dynamodb-event-sources/).
   * The default is that documented worst case, so the local runtime is never faster than the
   * cloud at picking a record up; tests pass less to run faster.
   * @default 1000
   */
  readonly pollIntervalMs?: number;
  /** How often the stream's shards are listed to find the children of a reshard. @default 5000 */
  readonly listShardsIntervalMs?: number;
  /** JSON file of per-shard checkpoints, so a restart resumes where the last run stopped; in memory when absent. */
  readonly checkpointFile?: string;
  /** On-failure destination (DestinationConfig.OnFailure). Without one, discarded batches are logged as errors with their data. */
  readonly onFailure?: OnFailureDestination;
  /**
   * Tumbling windows (TumblingWindowInSeconds, in ms; 0 = off), AWS's semantics
   * (https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-windows.html): windows per
   * shard, bounded on the records' arrival times (aligned to multiples of the width); each
   * invocation gets the state the last successful one of its window returned, and must return a
   * `state` (an answer without one fails); a final invoke (`isFinalInvokeForWindow`, no records)
   * closes each window, retried until it succeeds; a state over 1 MB ends the window early
   * (a final invoke with `isWindowTerminatedEarly`, then the same window with a fresh state); a
   * shard closed by a reshard closes its window. The state is written with the checkpoint, so a
   * restart resumes with the state of the last successful invocation, as AWS does.
   * @default 0
   */
  readonly tumblingWindowMs?: number;
  /** Region in the records' ARNs and the context. @default 'us-east-1' */
  readonly region?: string;
  /** Account in the records' ARNs and the context. @default '000000000000' */
  readonly accountId?: string;
  /** Function name in the context and in on-failure records. @default 'streamfold-local' */
  readonly functionName?: string;
  /**
   * The time the batching window and the record age are measured in (and dead letters stamped
   * with): a test holds a window open, or ages records, without waiting.
   * @default the system clock
   */
  readonly clock?: Clock;
  /**
   * Told of every GetRecords page that returned records, with when it returned (epoch ms): a
   * probe for benchmarks that time each hop of a record (bench/e2e-visibility.ts --hops).
   * @default - nobody is told
   */
  readonly onRecordsFetched?: (records: readonly KinesisStreamRecord[], at: number) => void;
}

export interface ShardStats {
  readonly shardId: string;
  /** waiting: for its parent shards to be finished; reading; ended: closed by a reshard and fully processed. */
  readonly status: 'waiting' | 'reading' | 'ended';
  /**
   * How far behind the shard's processing is: the last GetRecords' figure (kinesalite answers 0
   * on an open shard, so a full page's last record says it), or the age of the oldest record
   * fetched and not yet processed, whichever is larger. The last read alone said 0 while 1,750
   * accepted events waited behind a slow invocation (a black-box probe, 2026-12-04).
   */
  readonly millisBehindLatest: number;
  /** Fetched, waiting for the batch to fill or its window to close. */
  readonly pendingRecords: number;
  readonly recordsProcessed: number;
  readonly invocations: number;
  readonly failedInvocations: number;
  readonly deadLettered: number;
  readonly checkpoint: string | null;
  /** Final invokes of tumbling windows that succeeded. */
  readonly windowsClosed: number;
}

export interface EventSourcePollerStats {
  readonly streamName: string;
  /** How long a shard read to its tip waits for its next read (1,000: Lambda's standard iterator; less with enhanced fan-out, ADR 025). */
  readonly readIntervalMs: number;
  readonly recordsProcessed: number;
  readonly invocations: number;
  readonly failedInvocations: number;
  readonly deadLettered: number;
  /** The largest over the shards. */
  readonly millisBehindLatest: number;
  readonly lastError: string | null;
  readonly shards: readonly ShardStats[];
}

interface ShardState extends ConsumedShard {
  readonly parents: readonly string[];
  status: 'waiting' | 'reading' | 'ended';
  readerEnded: boolean;
  /** Fetched, not yet handed to the function. */
  pending: KinesisStreamRecord[];
  /** When the current batching window opened (the end of the previous invocation). */
  windowOpenedAt: number;
  /** Start of the last GetRecords that found the shard drained with nothing pending (0: not yet). */
  caughtUpAt: number;
  /** Start of the last GetRecords (epoch ms; 0: none yet). */
  lastPollAt: number;
  /** The last GetRecords read the shard to its tip: the next one waits for the polling interval. */
  atTip: boolean;
  inFlight: boolean;
  /** The last GetRecords' figure (see ShardStats.millisBehindLatest). */
  millisBehindLatest: number;
  /** The batch being delivered and how many of its records are settled (processed or dead-lettered). */
  delivering?: { readonly batch: readonly KinesisStreamRecord[]; done: number };
  recordsProcessed: number;
  invocations: number;
  failedInvocations: number;
  deadLettered: number;
  /** The open tumbling window and its state (what the last successful invocation returned). */
  window?: OpenWindow;
  /** The last answer's state was over the limit: the window ends early after this batch. */
  terminateEarly: boolean;
  windowsClosed: number;
}

interface OpenWindow {
  readonly startMs: number;
  state: Record<string, unknown>;
}

/** A part of a batch on its way through retries and bisection. */
interface Attempt {
  /** Position of `records[0]` in the batch being delivered. */
  start: number;
  records: KinesisStreamRecord[];
  retries: number;
  invokeCount: number;
  lastError: string;
  functionError?: string;
}

interface CheckpointFile {
  readonly streamName: string;
  readonly shards: Record<string, string>;
  /** Open tumbling windows per shard, written with the checkpoints they belong to. */
  readonly windows?: Record<string, OpenWindow>;
}

// Lambda's limit on a tumbling window's state per shard.
const MAX_WINDOW_STATE_BYTES = 1024 * 1024;

// Lambda's synchronous invocation payload limit: a batch stops growing before it.
const MAX_PAYLOAD_BYTES = 6 * 1024 * 1024;
// Bytes of JSON around a record's data in the event (ARNs, ids, field names).
const RECORD_OVERHEAD_BYTES = 700;

function validate(name: string, value: number, min: number, max: number, hint = ''): void {
  if (!Number.isInteger(value) || value < min || value > max)
    throw new Error(`${name} must be an integer between ${min} and ${max}${hint} (given ${value})`);
}

/**
 * Gives a Kinesis handler the semantics of an AWS Lambda event source mapping, which the emulators
 * lack (LocalStack's ignores bisection and batching windows too). Per shard: one invocation at a
 * time, in sequence order, with batches gathered by size, batching window and the 6 MB payload
 * limit. A child shard of a reshard starts only once its parents are finished.
 *
 * Failures, as AWS documents them:
 * - a thrown error fails the whole batch; with ReportBatchItemFailures, `batchItemFailures`
 *   checkpoints before the lowest failed sequence number and retries from it, and an empty or
 *   unknown `itemIdentifier` fails the whole batch;
 * - with BisectBatchOnFunctionError, a failed batch of more than one record is split in two and
 *   each half is retried in order. Splitting does not consume retry attempts ("Splitting batches
 *   doesn't consume the retry quota"): a half inherits its parent's count, and a count grows only
 *   when a batch fails that cannot be split further, so a poison record is invoked alone
 *   1 + maximumRetryAttempts times. The remainder after a partial-batch answer is bisected too
 *   (AWS does not document that combination; this keeps good records out of the destination);
 * - when retries run out (RetryAttemptsExhausted) or records are older than maximumRecordAge
 *   (RecordAgeExceeded, checked before every attempt), the records go to the on-failure destination
 *   and the shard moves on: a poison record never stalls it.
 *
 * Checkpoints (last sequence number handled, per shard) advance as each part of a batch succeeds
 * or is dead-lettered, and are written (atomically) before the next invocation, so a stop or a
 * crash never makes a successful record run twice, and never skips one.
 */
export class EventSourcePoller extends ShardConsumer<ShardState> {
  private checkpoints: Record<string, string> = {};
  private windows: Record<string, OpenWindow> = {};
  private persisting: Promise<void> = Promise.resolve();
  private readonly batchSize: number;
  private readonly windowMs: number;
  private readonly bisect: boolean;
  private readonly maxRetries: number;
  private readonly maxAgeMs: number;
  private readonly reportFailures: boolean;
  private readonly startingPosition: 'TRIM_HORIZON' | 'LATEST';
  private readonly pollIntervalMs: number;
  private readonly region: string;
  private readonly accountId: string;
  private readonly functionName: string;
  private readonly clock: Clock;
  private readonly tumblingMs: number;

  constructor(private readonly options: EventSourcePollerOptions) {
    super({
      client: options.client,
      streamName: options.streamName,
      role: 'event source',
      listShardsIntervalMs: options.listShardsIntervalMs,
    });
    this.batchSize = options.batchSize ?? 100;
    this.windowMs = options.maximumBatchingWindowMs ?? 500;
    this.bisect = options.bisectBatchOnFunctionError ?? true;
    this.maxRetries = options.maximumRetryAttempts ?? 3;
    this.maxAgeMs = options.maximumRecordAgeMs ?? -1;
    this.reportFailures = options.reportBatchItemFailures ?? true;
    this.startingPosition = options.startingPosition ?? 'TRIM_HORIZON';
    this.pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.region = options.region ?? 'us-east-1';
    this.accountId = options.accountId ?? '000000000000';
    this.functionName = options.functionName ?? 'streamfold-local';
    this.clock = options.clock ?? systemClock;
    this.tumblingMs = options.tumblingWindowMs ?? 0;
    validate('tumblingWindowMs', this.tumblingMs, 0, 900_000, ' (0 turns tumbling windows off)');
    validate('batchSize', this.batchSize, 1, 10_000);
    validate('maximumBatchingWindowMs', this.windowMs, 0, 300_000);
    validate('maximumRetryAttempts', this.maxRetries, -1, 10_000, ' (-1 retries forever)');
    validate('maximumRecordAgeMs', this.maxAgeMs, -1, 604_800_000, ' (-1 keeps records whatever their age)');
    validate('pollIntervalMs', this.pollIntervalMs, 1, 60_000);
    if (this.startingPosition !== 'TRIM_HORIZON' && this.startingPosition !== 'LATEST')
      throw new Error(
        `startingPosition must be TRIM_HORIZON or LATEST (given ${String(this.startingPosition)})`,
      );
  }

  get streamArn(): string {
    return `arn:aws:kinesis:${this.region}:${this.accountId}:stream/${this.options.streamName}`;
  }

  protected async load(): Promise<void> {
    const file = this.options.checkpointFile;
    if (!file) return;
    const saved = await readJson<CheckpointFile | Record<string, string>>(file);
    if (saved && typeof saved.shards === 'object') {
      const { streamName, shards } = saved as CheckpointFile;
      if (streamName !== this.options.streamName)
        throw new Error(
          `${file} holds checkpoints of stream ${streamName}, not ${this.options.streamName}: use another checkpointFile`,
        );
      this.checkpoints = { ...shards };
      this.windows = { ...((saved as CheckpointFile).windows ?? {}) };
    } else if (saved) this.checkpoints = { ...(saved as Record<string, string>) }; // the earlier flat format
  }

  protected openShard(shard: Shard, initial: boolean): ShardState {
    const id = shard.ShardId!;
    return {
      id,
      parents: [shard.ParentShardId, shard.AdjacentParentShardId].filter((p): p is string => Boolean(p)),
      reader: this.readerOf(id, this.checkpoints[id], initial ? this.startingPosition : 'TRIM_HORIZON'),
      status: 'waiting',
      readerEnded: false,
      pending: [],
      windowOpenedAt: 0,
      caughtUpAt: 0,
      lastPollAt: 0,
      atTip: false,
      inFlight: false,
      millisBehindLatest: 0,
      recordsProcessed: 0,
      invocations: 0,
      failedInvocations: 0,
      deadLettered: 0,
      window: this.windows[id],
      terminateEarly: false,
      windowsClosed: 0,
    };
  }

  private parentsUnfinished(state: ShardState): boolean {
    // A parent that is not listed (past retention) cannot hold anything back.
    return state.parents.some((p) => {
      const parent = this.shards.get(p);
      return parent !== undefined && parent.status !== 'ended';
    });
  }

  protected async beforeReading(state: ShardState): Promise<void> {
    while (!this.stopping && this.parentsUnfinished(state)) await this.nap(50);
    state.status = 'reading';
    state.windowOpenedAt = this.clock.now();
  }

  /**
   * Fetches what the batch lacks, then invokes the function once the batch is full or its window
   * closed. A shard read to its tip is read again only at the polling cadence (see pollIntervalMs);
   * one that is behind is read again at once.
   */
  protected async step(state: ShardState): Promise<StepResult> {
    if (state.pending.length < this.batchSize && !state.readerEnded && this.untilNextPoll(state) === 0) {
      const limit = Math.min(10_000, this.batchSize - state.pending.length);
      const fetched = await state.reader.fetch(limit);
      state.millisBehindLatest = fetched.millisBehindLatest;
      state.lastPollAt = fetched.startedAt;
      // A short page with nothing behind it: the shard is read to its tip (kinesalite answers
      // MillisBehindLatest 0 on open shards, so the short page is what tells).
      state.atTip = fetched.records.length < limit && fetched.millisBehindLatest === 0;
      const added = state.pending.length;
      for (const record of fetched.records)
        state.pending.push(
          toLambdaRecord(record, {
            shardId: state.id,
            streamArn: this.streamArn,
            region: this.region,
            roleArn: `arn:aws:iam::${this.accountId}:role/${this.functionName}-role`,
          }),
        );
      if (this.options.onRecordsFetched && fetched.records.length > 0)
        this.options.onRecordsFetched(state.pending.slice(added), Date.now());
      const drained = fetched.records.length === 0 && fetched.millisBehindLatest === 0;
      if (drained && state.pending.length === 0) state.caughtUpAt = fetched.startedAt;
      if (fetched.ended) state.readerEnded = true;
    }
    if (state.window !== undefined && this.windowOver(state)) {
      await this.closeWindow(state, false);
      return 'more';
    }
    if (state.pending.length === 0) {
      if (state.readerEnded) {
        // Closed by a reshard and fully processed: its children may start.
        state.status = 'ended';
        return 'ended';
      }
      await this.nap(this.untilNextPoll(state));
      return 'more';
    }
    const waited = this.clock.now() - state.windowOpenedAt;
    const full =
      state.pending.length >= this.batchSize || this.payloadBytes(state.pending) >= MAX_PAYLOAD_BYTES;
    if (!full && waited < this.windowMs && !state.readerEnded) {
      if (state.atTip) await this.nap(Math.min(this.untilNextPoll(state), this.windowMs - waited));
      return 'more';
    }
    await this.deliver(state, this.takeBatch(state));
    state.windowOpenedAt = this.clock.now();
    return 'more';
  }

  /** Milliseconds until the shard's next read is due: 0 when it is behind, else the rest of the polling interval. */
  private untilNextPoll(state: ShardState): number {
    return state.atTip ? Math.max(0, state.lastPollAt + this.pollIntervalMs - Date.now()) : 0;
  }

  /**
   * Whether the open window is done: the next record belongs to a later window, or none is
   * pending and the window's end has passed, or the shard was closed by a reshard and drained
   * ("When the shard ends, Lambda considers the window closed").
   */
  private windowOver(state: ShardState): boolean {
    const window = state.window as OpenWindow;
    if (state.pending.length > 0) return this.windowOf(state.pending[0]) !== window.startMs;
    return state.readerEnded || this.clock.now() >= window.startMs + this.tumblingMs;
  }

  private windowOf(record: KinesisStreamRecord): number {
    return Math.floor(arrivalMs(record) / this.tumblingMs) * this.tumblingMs;
  }

  /**
   * The window's final invoke (no records, its state, `isFinalInvokeForWindow`), retried until it
   * succeeds: AWS "suspends further processing until a successful invocation". Then the state is
   * dropped and written so (a restart does not close the window again).
   */
  private async closeWindow(state: ShardState, terminatedEarly: boolean): Promise<void> {
    const window = state.window as OpenWindow;
    for (let failures = 0; ; failures++) {
      if (this.stopping) throw new Stopping();
      state.invocations++;
      state.inFlight = true;
      try {
        const response = await this.options.handler(
          this.windowEvent(state, window, [], true, terminatedEarly),
          lambdaContext({ functionName: this.functionName, region: this.region, accountId: this.accountId }),
        );
        if (response && typeof response === 'object' && 'state' in response) break;
        this.lastError = 'the final invoke of a tumbling window answered without `state`: retrying it';
      } catch (error) {
        this.lastError = `final invoke of a tumbling window failed: ${(error as Error).message}`;
      } finally {
        state.inFlight = false;
      }
      state.failedInvocations++;
      await this.nap(Math.min(1000, 50 * 2 ** Math.min(failures, 5)));
    }
    state.windowsClosed++;
    state.window = terminatedEarly ? { startMs: window.startMs, state: {} } : undefined;
    await this.persist(state);
  }

  private windowEvent(
    state: ShardState,
    window: OpenWindow,
    records: KinesisStreamRecord[],
    final: boolean,
    terminatedEarly: boolean,
  ): KinesisStreamTumblingWindowEvent {
    return {
      Records: records,
      window: {
        start: new Date(window.startMs).toISOString(),
        end: new Date(window.startMs + this.tumblingMs).toISOString(),
      },
      // A copy, as Lambda serializes the event: a handler mutating it changes no retry.
      state: structuredClone(window.state),
      shardId: state.id,
      eventSourceARN: this.streamArn,
      isFinalInvokeForWindow: final,
      isWindowTerminatedEarly: terminatedEarly,
    } as KinesisStreamTumblingWindowEvent;
  }

  protected caughtUp(state: ShardState, since: number): boolean {
    return (
      state.status === 'ended' || (state.caughtUpAt >= since && state.pending.length === 0 && !state.inFlight)
    );
  }

  private payloadBytes(records: readonly KinesisStreamRecord[]): number {
    let bytes = 0;
    for (const r of records) bytes += r.kinesis.data.length + RECORD_OVERHEAD_BYTES;
    return bytes;
  }

  /** Takes the next batch: at most batchSize records and 6 MB of event (and one window), at least one record. */
  private takeBatch(state: ShardState): KinesisStreamRecord[] {
    let count = 0;
    let bytes = 0;
    // With tumbling windows, a batch holds records of one window.
    const window =
      this.tumblingMs > 0 && state.pending.length > 0 ? this.windowOf(state.pending[0]) : undefined;
    for (const r of state.pending) {
      const size = r.kinesis.data.length + RECORD_OVERHEAD_BYTES;
      if (count >= this.batchSize || (count > 0 && bytes + size > MAX_PAYLOAD_BYTES)) break;
      if (window !== undefined && this.windowOf(r) !== window) break;
      bytes += size;
      count++;
    }
    return state.pending.splice(0, count);
  }

  /**
   * Delivers one batch to completion: every record succeeds or is dead-lettered, and the
   * checkpoint follows. If something other than the function fails (the destination or the
   * checkpoint file), the records not yet checkpointed go back to the front of `pending`.
   */
  private async deliver(state: ShardState, batch: KinesisStreamRecord[]): Promise<void> {
    let done = 0;
    const delivering = { batch, done: 0 };
    state.delivering = delivering;
    if (this.tumblingMs > 0 && state.window === undefined)
      state.window = { startMs: this.windowOf(batch[0]), state: {} };
    const settle = async (upTo: number) => {
      await this.checkpoint(state, batch[upTo - 1].kinesis.sequenceNumber);
      done = upTo;
      delivering.done = upTo;
      if (state.terminateEarly) {
        state.terminateEarly = false;
        await this.closeWindow(state, true);
      }
    };
    const queue: Attempt[] = [{ start: 0, records: batch, retries: 0, invokeCount: 0, lastError: '' }];
    try {
      while (queue.length > 0) {
        const attempt = queue[0];
        if (this.maxAgeMs >= 0) {
          // Within a shard records are in arrival order: the ones too old are a prefix.
          const now = this.clock.now();
          const young = attempt.records.findIndex((r) => now - arrivalMs(r) <= this.maxAgeMs);
          const old = young < 0 ? attempt.records.length : young;
          if (old > 0) {
            await this.deadLetter(
              state,
              attempt,
              attempt.records.slice(0, old),
              'RecordAgeExceeded',
              `older than maximumRecordAgeMs (${this.maxAgeMs} ms)`,
            );
            await settle(attempt.start + old);
            attempt.records = attempt.records.slice(old);
            attempt.start += old;
            if (attempt.records.length === 0) {
              queue.shift();
              continue;
            }
          }
        }
        if (this.stopping) throw new Stopping();
        const failed = await this.invoke(state, attempt);
        if (failed === undefined) {
          state.recordsProcessed += attempt.records.length;
          await settle(attempt.start + attempt.records.length);
          queue.shift();
          continue;
        }
        state.failedInvocations++;
        if (failed.index > 0) {
          state.recordsProcessed += failed.index;
          await settle(attempt.start + failed.index);
          attempt.records = attempt.records.slice(failed.index);
          attempt.start += failed.index;
        }
        if (this.bisect && attempt.records.length > 1) {
          const half = Math.ceil(attempt.records.length / 2);
          queue.splice(
            0,
            1,
            { ...attempt, records: attempt.records.slice(0, half) },
            { ...attempt, start: attempt.start + half, records: attempt.records.slice(half) },
          );
          continue;
        }
        attempt.retries++;
        if (this.maxRetries >= 0 && attempt.retries > this.maxRetries) {
          await this.deadLetter(state, attempt, attempt.records, 'RetryAttemptsExhausted', attempt.lastError);
          await settle(attempt.start + attempt.records.length);
          queue.shift();
          continue;
        }
        await this.nap(Math.min(1000, 50 * 2 ** (attempt.retries - 1)));
      }
    } catch (error) {
      if (!(error instanceof Stopping)) state.pending.unshift(...batch.slice(done));
      throw error;
    } finally {
      state.delivering = undefined;
    }
  }

  /** One invocation; undefined when it succeeded, else where the retry starts. */
  private async invoke(state: ShardState, attempt: Attempt): Promise<{ index: number } | undefined> {
    // A fresh copy per invocation, as Lambda serializes the event: a handler mutating it changes no retry.
    const records = structuredClone(attempt.records);
    state.invocations++;
    attempt.invokeCount++;
    state.inFlight = true;
    try {
      const window = state.window;
      const response = await this.options.handler(
        window === undefined ? { Records: records } : this.windowEvent(state, window, records, false, false),
        lambdaContext({ functionName: this.functionName, region: this.region, accountId: this.accountId }),
      );
      if (window !== undefined) {
        const answered =
          response && typeof response === 'object' && 'state' in response ? response.state : undefined;
        if (answered === null || typeof answered !== 'object') {
          attempt.lastError =
            'the function answered a tumbling-window invocation without `state`: Lambda counts that as failed';
          attempt.functionError = undefined;
          return { index: 0 };
        }
        // Taken even with failures reported: the records below the first one are checkpointed with it.
        window.state = answered as Record<string, unknown>;
        state.terminateEarly = JSON.stringify(answered).length > MAX_WINDOW_STATE_BYTES;
      }
      if (!this.reportFailures) return undefined;
      const failed = firstFailedIndex(records, response);
      if (failed.index < 0) return undefined;
      attempt.lastError = failed.reason;
      attempt.functionError = undefined;
      return failed;
    } catch (error) {
      attempt.lastError = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      attempt.functionError = 'Unhandled';
      return { index: 0 };
    } finally {
      state.inFlight = false;
    }
  }

  private async deadLetter(
    state: ShardState,
    attempt: Attempt,
    records: KinesisStreamRecord[],
    condition: OnFailureCondition,
    reason: string,
  ): Promise<void> {
    const entry = deadLetterEntry({
      records,
      condition,
      attempt,
      reason,
      shardId: state.id,
      streamArn: this.streamArn,
      functionArn: `arn:aws:lambda:${this.region}:${this.accountId}:function:${this.functionName}`,
      now: this.clock.now(),
    });
    if (this.options.onFailure) await this.options.onFailure.add(entry);
    else
      console.error(
        JSON.stringify({
          level: 'ERROR',
          message: 'discarded records: the event source has no on-failure destination (pass onFailure)',
          ...entry,
        }),
      );
    state.deadLettered += records.length;
  }

  private async checkpoint(state: ShardState, sequenceNumber: string): Promise<void> {
    this.checkpoints[state.id] = sequenceNumber;
    await this.persist(state);
  }

  /** Writes every shard's checkpoint and open window (the one of `state` as it is now) in one file. */
  private async persist(state: ShardState): Promise<void> {
    if (state.window === undefined) delete this.windows[state.id];
    else this.windows[state.id] = { startMs: state.window.startMs, state: state.window.state };
    const file = this.options.checkpointFile;
    if (!file) return;
    const snapshot: CheckpointFile = {
      streamName: this.options.streamName,
      shards: { ...this.checkpoints },
      ...(Object.keys(this.windows).length > 0 ? { windows: { ...this.windows } } : {}),
    };
    // Writes are chained: shards checkpoint concurrently, and each write carries every shard.
    const write = this.persisting.then(() => writeJsonAtomic(file, snapshot));
    this.persisting = write.catch(() => undefined);
    await write;
  }

  stats(): EventSourcePollerStats {
    const now = this.clock.now();
    const behind = (s: ShardState) => {
      const d = s.delivering;
      const oldest = d !== undefined && d.done < d.batch.length ? d.batch[d.done] : s.pending[0];
      return Math.max(s.millisBehindLatest, oldest === undefined ? 0 : now - arrivalMs(oldest));
    };
    const shards: ShardStats[] = [...this.shards.values()].map((s) => ({
      shardId: s.id,
      status: s.status,
      millisBehindLatest: behind(s),
      pendingRecords: s.pending.length,
      recordsProcessed: s.recordsProcessed,
      invocations: s.invocations,
      failedInvocations: s.failedInvocations,
      deadLettered: s.deadLettered,
      checkpoint: this.checkpoints[s.id] ?? null,
      windowsClosed: s.windowsClosed,
    }));
    const sum = (pick: (s: ShardStats) => number) => shards.reduce((n, s) => n + pick(s), 0);
    return {
      streamName: this.options.streamName,
      readIntervalMs: this.pollIntervalMs,
      recordsProcessed: sum((s) => s.recordsProcessed),
      invocations: sum((s) => s.invocations),
      failedInvocations: sum((s) => s.failedInvocations),
      deadLettered: sum((s) => s.deadLettered),
      millisBehindLatest: Math.max(0, ...shards.map((s) => s.millisBehindLatest)),
      lastError: this.lastError ?? null,
      shards,
    };
  }

  protected shardStats(): readonly ShardStats[] {
    return this.stats().shards;
  }

  /**
   * Stops reading: an invocation in flight finishes and is checkpointed; retries still to come
   * are abandoned (their records are read again on the next start). Resolves when every
   * checkpoint is written.
   */
  async stop(): Promise<void> {
    await super.stop();
    await this.persisting;
  }
}
