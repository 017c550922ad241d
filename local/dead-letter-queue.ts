import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { withoutFirstRecords, type DeadLetterEntry, type OnFailureDestination } from './dead-letter-entry';
import { firstFailedIndex, lambdaContext, type KinesisBatchHandler } from './lambda-invocation';

export interface RedriveResult {
  /** Entries whose records all succeeded (removed from the queue). */
  readonly redriven: number;
  readonly remaining: number;
  /** One line per entry that failed again: shard, first sequence number, error. */
  readonly errors: readonly string[];
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
        if (failed.index > 0) outcome.set(entry, withoutFirstRecords(entry, failed.index, failed.reason));
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
