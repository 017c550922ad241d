import type { _Record, KinesisClient } from '@aws-sdk/client-kinesis';
import type { KinesisStreamBatchResponse, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import type { DeadLetterQueue } from './dead-letter-queue';
import { readJson, writeJsonAtomic } from './json-file';
import { ShardReader, sleep, watchShards } from './shard-reader';

export interface EventSourcePollerOptions {
  readonly client: KinesisClient;
  readonly streamName: string;
  readonly handler: (event: KinesisStreamEvent) => Promise<KinesisStreamBatchResponse | void>;
  /** Most records per invocation. @default 100 */
  readonly batchSize?: number;
  /** How long to gather records before invoking with a partial batch. @default 500 */
  readonly maximumBatchingWindowMs?: number;
  /** Split a failed batch in two and retry each half. @default true */
  readonly bisectBatchOnFunctionError?: boolean;
  /** Retries of a failing batch before it goes to the on-failure destination; -1 retries forever. @default 3 */
  readonly maximumRetryAttempts?: number;
  /** Records older than this go to the on-failure destination without an invocation; -1 = no limit. @default -1 */
  readonly maximumRecordAgeMs?: number;
  /** Honour `batchItemFailures` in the handler's answer. @default true */
  readonly reportBatchItemFailures?: boolean;
  /** @default 'TRIM_HORIZON' */
  readonly startingPosition?: 'TRIM_HORIZON' | 'LATEST';
  /** Pause between empty GetRecords calls. @default 100 */
  readonly pollIntervalMs?: number;
  /** Where per-shard checkpoints are kept across restarts; in memory when absent. */
  readonly checkpointFile?: string;
  readonly onFailure?: DeadLetterQueue;
  readonly region?: string;
}

interface ShardState {
  readonly reader: ShardReader;
  pending: KinesisStreamRecord[];
  firstPendingAt: number;
  millisBehindLatest: number;
  recordsProcessed: number;
  invocations: number;
  failedInvocations: number;
  deadLettered: number;
  /** Start time of the last GetRecords that found nothing new and nothing behind. */
  lastCaughtUpAt: number;
  busy: boolean;
  ended: boolean;
}

/**
 * Gives a Kinesis handler the semantics of an AWS Lambda event source mapping, which the
 * emulators do not have: one invocation at a time per shard, in order; batch size and batching
 * window; partial batch responses (retry from the lowest reported failure); retries, bisection
 * of failing batches, record age limit; and an on-failure destination, so a poison record
 * never stalls its shard. Checkpoints (the last sequence number handled per shard) persist.
 *
 * Retries count per batch: a bisected half starts with a fresh count (AWS does not charge a
 * split against MaximumRetryAttempts either).
 */
export class EventSourcePoller {
  private readonly shards = new Map<string, ShardState>();
  private checkpoints: Record<string, string> = {};
  private stopping = false;
  private loops: Promise<void>[] = [];
  private discovery?: Promise<void>;
  private readonly o: Required<Omit<EventSourcePollerOptions, 'checkpointFile' | 'onFailure'>> &
    Pick<EventSourcePollerOptions, 'checkpointFile' | 'onFailure'>;
  lastError?: string;

  constructor(options: EventSourcePollerOptions) {
    this.o = {
      batchSize: 100,
      maximumBatchingWindowMs: 500,
      bisectBatchOnFunctionError: true,
      maximumRetryAttempts: 3,
      maximumRecordAgeMs: -1,
      reportBatchItemFailures: true,
      startingPosition: 'TRIM_HORIZON',
      pollIntervalMs: 100,
      region: 'us-east-1',
      ...options,
    };
    if (this.o.batchSize < 1 || this.o.batchSize > 10_000)
      throw new Error(`batchSize must be between 1 and 10000 (given ${this.o.batchSize})`);
  }

  private get streamArn(): string {
    return `arn:aws:kinesis:${this.o.region}:000000000000:stream/${this.o.streamName}`;
  }

  start(): void {
    this.discovery = (async () => {
      if (this.o.checkpointFile)
        this.checkpoints = (await readJson<Record<string, string>>(this.o.checkpointFile)) ?? {};
      await watchShards(
        this.o.client,
        this.o.streamName,
        () => this.stopping,
        (shard) => {
          const id = shard.ShardId!;
          const state: ShardState = {
            reader: new ShardReader(
              this.o.client,
              this.o.streamName,
              id,
              this.checkpoints[id],
              this.o.startingPosition,
            ),
            pending: [],
            firstPendingAt: 0,
            millisBehindLatest: 0,
            recordsProcessed: 0,
            invocations: 0,
            failedInvocations: 0,
            deadLettered: 0,
            lastCaughtUpAt: 0,
            busy: false,
            ended: false,
          };
          this.shards.set(id, state);
          this.loops.push(this.runShard(state, shard.ParentShardId));
        },
        (message) => (this.lastError = message),
      );
    })();
  }

  private toLambdaRecord(shardId: string, record: _Record): KinesisStreamRecord {
    return {
      kinesis: {
        kinesisSchemaVersion: '1.0',
        partitionKey: record.PartitionKey!,
        sequenceNumber: record.SequenceNumber!,
        data: Buffer.from(record.Data ?? new Uint8Array()).toString('base64'),
        approximateArrivalTimestamp: (record.ApproximateArrivalTimestamp ?? new Date()).getTime() / 1000,
      },
      eventSource: 'aws:kinesis',
      eventVersion: '1.0',
      eventID: `${shardId}:${record.SequenceNumber}`,
      eventName: 'aws:kinesis:record',
      invokeIdentityArn: 'arn:aws:iam::000000000000:role/streamfold-local',
      awsRegion: this.o.region,
      eventSourceARN: this.streamArn,
    };
  }

  private async runShard(state: ShardState, parentId: string | undefined): Promise<void> {
    // Resharding: a child shard is read only after its parent is finished, as Lambda does.
    while (parentId && this.shards.get(parentId) && !this.shards.get(parentId)!.ended && !this.stopping)
      await sleep(100);
    const id = state.reader.shardId;
    while (!this.stopping) {
      try {
        if (state.pending.length < this.o.batchSize) {
          const fetched = await state.reader.fetch(this.o.batchSize - state.pending.length);
          state.millisBehindLatest = fetched.millisBehindLatest;
          if (fetched.records.length > 0 && state.pending.length === 0) state.firstPendingAt = Date.now();
          state.pending.push(...fetched.records.map((r) => this.toLambdaRecord(id, r)));
          if (fetched.records.length === 0 && fetched.millisBehindLatest === 0 && state.pending.length === 0)
            state.lastCaughtUpAt = fetched.startedAt;
          if (fetched.ended && state.pending.length === 0) {
            state.ended = true;
            return;
          }
          if (state.pending.length === 0) {
            await sleep(this.o.pollIntervalMs);
            continue;
          }
          // A partial batch waits for the batching window to close, gathering more records meanwhile.
          if (
            state.pending.length < this.o.batchSize &&
            Date.now() - state.firstPendingAt < this.o.maximumBatchingWindowMs
          ) {
            await sleep(Math.min(20, this.o.maximumBatchingWindowMs));
            continue;
          }
        }
        const batch = state.pending.splice(0, this.o.batchSize);
        state.busy = true;
        try {
          await this.deliver(state, batch);
        } finally {
          state.busy = false;
        }
        this.checkpoints[id] = batch[batch.length - 1].kinesis.sequenceNumber;
        if (this.o.checkpointFile) await writeJsonAtomic(this.o.checkpointFile, this.checkpoints);
        if (state.pending.length > 0) state.firstPendingAt = Date.now();
      } catch (error) {
        this.lastError = `shard ${id}: ${(error as Error).message}`;
        // Whatever was fetched but not delivered is read again from the checkpoint.
        state.pending = [];
        state.reader.rewindTo(this.checkpoints[id]);
        await sleep(500);
      }
    }
  }

  /** Delivers one batch to completion: success, or the failing part dead-lettered. */
  private async deliver(state: ShardState, records: KinesisStreamRecord[]): Promise<void> {
    const queue: KinesisStreamRecord[][] = [records];
    while (queue.length > 0) {
      let batch = queue.shift()!;
      let attempts = 0;
      for (;;) {
        if (this.stopping && this.o.maximumRetryAttempts === -1) throw new Error('stopping');
        const oldest = batch[0].kinesis.approximateArrivalTimestamp * 1000;
        if (this.o.maximumRecordAgeMs >= 0 && Date.now() - oldest > this.o.maximumRecordAgeMs) {
          await this.deadLetter(
            state,
            batch,
            'RecordAgeExceeded',
            attempts,
            'records older than maximumRecordAge',
          );
          break;
        }
        let failedFrom = -1;
        let lastError = '';
        state.invocations++;
        try {
          const response = await this.o.handler({ Records: batch });
          const failures = this.o.reportBatchItemFailures && response ? response.batchItemFailures : [];
          if (failures.length > 0) {
            // Lambda retries from the lowest failed sequence number; an unknown or empty identifier fails the whole batch.
            const indexes = failures.map((f) =>
              batch.findIndex((r) => r.kinesis.sequenceNumber === f.itemIdentifier),
            );
            failedFrom = indexes.some((i) => i < 0) ? 0 : Math.min(...indexes);
            lastError = `handler reported failure of ${failures.map((f) => f.itemIdentifier).join(', ')}`;
          }
        } catch (error) {
          failedFrom = 0;
          lastError = (error as Error).message;
        }
        if (failedFrom < 0) {
          state.recordsProcessed += batch.length;
          break;
        }
        state.failedInvocations++;
        state.recordsProcessed += failedFrom;
        batch = batch.slice(failedFrom);
        attempts++;
        if (this.o.bisectBatchOnFunctionError && batch.length > 1) {
          const half = Math.ceil(batch.length / 2);
          queue.unshift(batch.slice(0, half), batch.slice(half));
          break;
        }
        if (this.o.maximumRetryAttempts >= 0 && attempts > this.o.maximumRetryAttempts) {
          await this.deadLetter(state, batch, 'RetryAttemptsExhausted', attempts, lastError);
          break;
        }
        await sleep(Math.min(2000, 20 * 2 ** attempts));
      }
    }
  }

  private async deadLetter(
    state: ShardState,
    batch: KinesisStreamRecord[],
    condition: 'RetryAttemptsExhausted' | 'RecordAgeExceeded',
    invokeCount: number,
    error: string,
  ): Promise<void> {
    state.deadLettered += batch.length;
    const first = batch[0].kinesis;
    const last = batch[batch.length - 1].kinesis;
    const entry = {
      version: '1.0' as const,
      timestamp: new Date().toISOString(),
      requestContext: {
        condition,
        approximateInvokeCount: invokeCount,
        functionArn: 'arn:aws:lambda:local:000000000000:function:streamfold-local-speed',
      },
      responseContext: { functionError: 'Unhandled' },
      KinesisBatchInfo: {
        shardId: state.reader.shardId,
        startSequenceNumber: first.sequenceNumber,
        endSequenceNumber: last.sequenceNumber,
        approximateArrivalOfFirstRecord: new Date(first.approximateArrivalTimestamp * 1000).toISOString(),
        approximateArrivalOfLastRecord: new Date(last.approximateArrivalTimestamp * 1000).toISOString(),
        batchSize: batch.length,
        streamArn: this.streamArn,
      },
      records: batch,
      lastError: error,
    };
    if (this.o.onFailure) await this.o.onFailure.add(entry);
    else
      console.error(
        JSON.stringify({
          level: 'ERROR',
          message: 'dropped batch: no on-failure destination',
          ...entry.KinesisBatchInfo,
          error,
        }),
      );
  }

  /** Resolves when every shard has been read to its end after this call and nothing is in flight. */
  async idle(timeoutMs = 30_000): Promise<void> {
    const since = Date.now();
    while (Date.now() - since < timeoutMs) {
      await sleep(25);
      if (this.shards.size === 0) continue;
      const done = [...this.shards.values()].every(
        (s) => s.ended || (s.lastCaughtUpAt > since && !s.busy && s.pending.length === 0),
      );
      if (done) return;
    }
    throw new Error(
      `event source did not catch up within ${timeoutMs} ms (${this.lastError ?? 'no error recorded'})`,
    );
  }

  stats(): Record<string, unknown> {
    const shards = [...this.shards.entries()].map(([id, s]) => ({
      shardId: id,
      millisBehindLatest: s.millisBehindLatest,
      recordsProcessed: s.recordsProcessed,
      invocations: s.invocations,
      failedInvocations: s.failedInvocations,
      deadLettered: s.deadLettered,
      checkpoint: this.checkpoints[id] ?? null,
    }));
    return {
      recordsProcessed: shards.reduce((n, s) => n + s.recordsProcessed, 0),
      millisBehindLatest: Math.max(0, ...shards.map((s) => s.millisBehindLatest)),
      deadLettered: shards.reduce((n, s) => n + s.deadLettered, 0),
      lastError: this.lastError ?? null,
      shards,
    };
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.discovery;
    await Promise.all(this.loops);
  }
}
