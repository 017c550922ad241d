import { randomBytes, randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type {
  Context,
  KinesisStreamBatchResponse,
  KinesisStreamEvent,
  KinesisStreamRecord,
} from 'aws-lambda';

/** A Kinesis handler as Lambda calls it: the deployed `handler` exports have this shape. */
export type KinesisBatchHandler = (
  event: KinesisStreamEvent,
  context: Context,
) => Promise<KinesisStreamBatchResponse | void | null | undefined>;

/** Why records left the stream for the on-failure destination (AWS's `requestContext.condition`). */
export type OnFailureCondition = 'RetryAttemptsExhausted' | 'RecordAgeExceeded';

/**
 * One on-failure record. The fields up to `KinesisBatchInfo` are those of the JSON document AWS
 * sends to an SQS or SNS on-failure destination for a Kinesis event source mapping; AWS sends
 * only that metadata. Here the failed records themselves and the last error come too, so nothing
 * is lost and a redrive needs no trip back to the stream (whose retention may have passed).
 */
export interface DeadLetterEntry {
  readonly version: '1.0';
  readonly timestamp: string;
  readonly requestContext: {
    readonly requestId: string;
    readonly functionArn: string;
    readonly condition: OnFailureCondition;
    /** How many times these records were handed to the function (0 when they aged out unread). */
    readonly approximateInvokeCount: number;
  };
  readonly responseContext: {
    readonly statusCode: number;
    readonly executedVersion: string;
    /** `Unhandled` when the function threw; absent when it never ran or reported failures itself. */
    readonly functionError?: string;
  };
  readonly KinesisBatchInfo: {
    readonly shardId: string;
    readonly startSequenceNumber: string;
    readonly endSequenceNumber: string;
    readonly approximateArrivalOfFirstRecord: string;
    readonly approximateArrivalOfLastRecord: string;
    readonly batchSize: number;
    readonly streamArn: string;
  };
  /** The failed records exactly as the function received them (data base64). */
  readonly records: readonly KinesisStreamRecord[];
  /** The last error the function threw, or which records it reported failed. */
  readonly lastError: string;
}

/** Where the event-source poller sends records it gives up on. */
export interface OnFailureDestination {
  add(entry: DeadLetterEntry): Promise<void>;
}

export interface RedriveResult {
  /** Entries whose records all succeeded (removed from the queue). */
  readonly redriven: number;
  readonly remaining: number;
  /** One line per entry that failed again: shard, first sequence number, error. */
  readonly errors: readonly string[];
}

/** A minimal Lambda context, enough for handlers that log the request id or check the time left. */
export function lambdaContext(options: {
  readonly functionName: string;
  readonly region: string;
  readonly accountId: string;
  /** @default 900000 (Lambda's largest timeout) */
  readonly timeoutMs?: number;
}): Context {
  const deadline = Date.now() + (options.timeoutMs ?? 900_000);
  const unsupported = () => {
    throw new Error(
      'context.done/fail/succeed are not supported locally: return or throw from an async handler',
    );
  };
  const day = new Date().toISOString().slice(0, 10).replace(/-/g, '/');
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: options.functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${options.region}:${options.accountId}:function:${options.functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${options.functionName}`,
    logStreamName: `${day}/[$LATEST]${randomBytes(16).toString('hex')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: unsupported,
    fail: unsupported,
    succeed: unsupported,
  };
}

/**
 * Reads a Kinesis handler's answer as Lambda does with ReportBatchItemFailures on: the index of
 * the first record to retry, or -1 when the batch succeeded. No answer, or an empty or null
 * `batchItemFailures`, is success; an empty, missing or unknown `itemIdentifier` fails the
 * whole batch (index 0); otherwise the lowest reported sequence number is where the retry starts.
 * A `batchItemFailures` that is not an array also fails the whole batch: dropping records on a
 * malformed answer would lose them.
 */
export function firstFailedIndex(
  records: readonly KinesisStreamRecord[],
  response: unknown,
): { index: number; reason: string } {
  if (response === null || typeof response !== 'object') return { index: -1, reason: '' };
  const failures = (response as { batchItemFailures?: unknown }).batchItemFailures;
  if (failures === undefined || failures === null) return { index: -1, reason: '' };
  if (!Array.isArray(failures))
    return { index: 0, reason: 'batchItemFailures is not an array: the whole batch counts as failed' };
  if (failures.length === 0) return { index: -1, reason: '' };
  let lowest = records.length;
  for (const failure of failures as unknown[]) {
    const id =
      failure !== null && typeof failure === 'object'
        ? (failure as { itemIdentifier?: unknown }).itemIdentifier
        : undefined;
    const at =
      typeof id === 'string' && id !== '' ? records.findIndex((r) => r.kinesis.sequenceNumber === id) : -1;
    if (at < 0)
      return {
        index: 0,
        reason: `batchItemFailures names ${JSON.stringify(id)}, not a sequence number of this batch: the whole batch counts as failed`,
      };
    lowest = Math.min(lowest, at);
  }
  return {
    index: lowest,
    reason: `the function reported ${failures.length} failed record(s), the lowest ${records[lowest].kinesis.sequenceNumber}`,
  };
}

/**
 * The local on-failure destination of the event-source poller. With a file, entries are kept as
 * NDJSON (one entry a line): appended on add, rewritten atomically (temp + rename) on redrive.
 * Without one, they live in memory.
 */
export class DeadLetterQueue implements OnFailureDestination {
  /** The NDJSON file, or undefined in memory. */
  readonly file?: string;
  private entries: DeadLetterEntry[] = [];
  private loaded = false;
  private lock: Promise<unknown> = Promise.resolve();
  private redriving: Promise<unknown> = Promise.resolve();

  /** `file` names the NDJSON file; `dataDir` puts it at `<dataDir>/dead-letter-queue.ndjson`. */
  constructor(options: { readonly file?: string; readonly dataDir?: string } = {}) {
    if (options.file && options.dataDir)
      throw new Error('DeadLetterQueue takes a file or a dataDir, not both (given both)');
    this.file =
      options.file ?? (options.dataDir ? path.join(options.dataDir, 'dead-letter-queue.ndjson') : undefined);
  }

  /** Runs one operation at a time: an append must not interleave with a rewrite. */
  private exclusive<T>(operation: () => Promise<T>): Promise<T> {
    const run = this.lock.then(operation, operation);
    this.lock = run.catch(() => undefined);
    return run;
  }

  private async load(): Promise<void> {
    if (this.loaded || !this.file) return;
    let text: string;
    try {
      text = await fs.readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      text = '';
    }
    const lines = text.split('\n');
    const entries: DeadLetterEntry[] = [];
    lines.forEach((line, i) => {
      if (line.trim() === '') return;
      try {
        const parsed = JSON.parse(line) as DeadLetterEntry | DeadLetterEntry[];
        // Earlier versions kept one JSON array: read it as the entries it holds.
        entries.push(...(Array.isArray(parsed) ? parsed : [parsed]));
      } catch (error) {
        // A crash during an append leaves a torn last line. The poller checkpoints only after
        // add() resolved, so those records are read from the stream and dead-lettered again.
        if (i === lines.length - 1) return;
        throw new Error(
          `${this.file} line ${i + 1} is not JSON (${(error as Error).message}): repair or remove that line`,
        );
      }
    });
    this.entries = entries;
    this.loaded = true;
  }

  private async rewrite(): Promise<void> {
    if (!this.file) return;
    await fs.mkdir(path.dirname(this.file), { recursive: true });
    const temp = `${this.file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    await fs.writeFile(temp, this.entries.map((e) => JSON.stringify(e) + '\n').join(''));
    await fs.rename(temp, this.file);
  }

  add(entry: DeadLetterEntry): Promise<void> {
    return this.exclusive(async () => {
      await this.load();
      if (this.file) {
        await fs.mkdir(path.dirname(this.file), { recursive: true });
        await fs.appendFile(this.file, JSON.stringify(entry) + '\n');
      }
      this.entries.push(entry);
    });
  }

  list(): Promise<DeadLetterEntry[]> {
    return this.exclusive(async () => {
      await this.load();
      return [...this.entries];
    });
  }

  depth(): Promise<number> {
    return this.exclusive(async () => {
      await this.load();
      return this.entries.length;
    });
  }

  /**
   * Hands each entry's records back to the handler as one Kinesis event. An entry whose records
   * all succeed is removed; when the handler reports failures, the records before the lowest one
   * succeeded and only the rest stay queued; when it throws, the entry stays as it was. Records
   * applied before are no-ops for an idempotent handler (the speed layer's fences), so a redrive
   * may be repeated. Entries added while a redrive runs are left for the next one.
   */
  redrive(
    handler: KinesisBatchHandler,
    options: { readonly functionName?: string; readonly region?: string; readonly accountId?: string } = {},
  ): Promise<RedriveResult> {
    const run = this.redriving.then(() => this.redriveOnce(handler, options));
    this.redriving = run.catch(() => undefined);
    return run;
  }

  private async redriveOnce(
    handler: KinesisBatchHandler,
    options: { readonly functionName?: string; readonly region?: string; readonly accountId?: string },
  ): Promise<RedriveResult> {
    const snapshot = await this.list();
    // The handler runs outside the lock, so the poller can keep adding entries meanwhile.
    const outcome = new Map<DeadLetterEntry, DeadLetterEntry | null>();
    const errors: string[] = [];
    for (const entry of snapshot) {
      const records = entry.records.map((r) => structuredClone(r));
      const where = `${entry.KinesisBatchInfo.shardId} ${entry.KinesisBatchInfo.startSequenceNumber}`;
      try {
        const response = await handler(
          { Records: records },
          lambdaContext({
            functionName: options.functionName ?? 'streamfold-local',
            region: options.region ?? 'us-east-1',
            accountId: options.accountId ?? '000000000000',
          }),
        );
        const failed = firstFailedIndex(records, response);
        if (failed.index < 0) {
          outcome.set(entry, null);
          continue;
        }
        errors.push(`${where}: ${failed.reason}`);
        if (failed.index > 0) outcome.set(entry, narrow(entry, failed.index, failed.reason));
      } catch (error) {
        errors.push(`${where}: ${(error as Error).message}`);
      }
    }
    return this.exclusive(async () => {
      this.entries = this.entries.flatMap((e) => {
        if (!outcome.has(e)) return [e];
        const replacement = outcome.get(e);
        return replacement ? [replacement] : [];
      });
      if (outcome.size > 0) await this.rewrite();
      const redriven = [...outcome.values()].filter((v) => v === null).length;
      return { redriven, remaining: this.entries.length, errors };
    });
  }
}

/** The entry without its first `from` records (they succeeded on redrive). */
function narrow(entry: DeadLetterEntry, from: number, reason: string): DeadLetterEntry {
  const records = entry.records.slice(from);
  const first = records[0].kinesis;
  return {
    ...entry,
    timestamp: new Date().toISOString(),
    KinesisBatchInfo: {
      ...entry.KinesisBatchInfo,
      startSequenceNumber: first.sequenceNumber,
      approximateArrivalOfFirstRecord: new Date(first.approximateArrivalTimestamp * 1000).toISOString(),
      batchSize: records.length,
    },
    records,
    lastError: reason,
  };
}
