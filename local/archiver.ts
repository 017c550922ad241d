import type { _Record, KinesisClient } from '@aws-sdk/client-kinesis';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { normalizeStreamRecord, PoisonRecordError, toArchiveLine } from '../lambdas/core/event';
import type { ViewDefinition } from '../lambdas/core/view';
import { WATERMARK_KEY } from '../lambdas/adapters/aws/s3-archive-watermark';
import { readJson, writeJsonAtomic } from './json-file';
import { ShardReader, sleep, watchShards } from './shard-reader';

export interface ArchiverOptions {
  readonly kinesis: KinesisClient;
  readonly s3: S3Client;
  readonly streamName: string;
  readonly bucket: string;
  readonly views: readonly ViewDefinition[];
  /** Flush at least this often. @default 5000 */
  readonly flushIntervalMs?: number;
  /** Flush when this many bytes are buffered. @default 1 MiB */
  readonly bufferBytes?: number;
  /** Where per-shard checkpoints are kept across restarts; in memory when absent. */
  readonly checkpointFile?: string;
  /** Kinesis arrival timestamps are coarse; the watermark stays this far behind a caught-up read. @default 1000 */
  readonly safetyMs?: number;
  /** @default 100 */
  readonly pollIntervalMs?: number;
}

interface Buffered {
  readonly line: string;
  readonly rejected: boolean;
  readonly arrivedMs: number;
  readonly sequenceNumber: string;
}

interface ShardState {
  readonly reader: ShardReader;
  buffer: Buffered[];
  /** Arrival time before which every record of this shard has been fetched (null until caught up once). */
  fetchedBeforeMs: number | null;
  /** The same, for records already written to S3: what the watermark may promise. */
  archivedBeforeMs: number | null;
  lastSequence?: string;
  ended: boolean;
  lastCaughtUpAt: number;
}

interface ArchiveCheckpoint {
  readonly sequences: Record<string, string>;
}

function partition(ms: number): string {
  const iso = new Date(ms).toISOString();
  return `dt=${iso.slice(0, 10)}/hour=${iso.slice(11, 13)}`;
}

/**
 * Plays Kinesis Data Firehose: reads the stream, normalizes each record exactly as the speed
 * layer does (same id, same arrival time), and writes NDJSON objects partitioned by arrival time
 * under `events/`, or under `rejected/` (with the error and raw data) for records the speed layer
 * would dead-letter. Object names come from the shard and the sequence range, so a retried flush
 * overwrites instead of duplicating. After each flush it publishes the watermark object: the
 * arrival time before which everything is provably archived, which the batch cutoff may not pass.
 */
export class Archiver {
  private readonly shards = new Map<string, ShardState>();
  private sequences: Record<string, string> = {};
  private stopping = false;
  private loops: Promise<void>[] = [];
  private discovery?: Promise<void>;
  private flushChain: Promise<void> = Promise.resolve();
  private timer?: NodeJS.Timeout;
  private readonly flushIntervalMs: number;
  private readonly bufferBytes: number;
  private readonly safetyMs: number;
  private bufferedBytes = 0;
  recordsArchived = 0;
  recordsRejected = 0;
  objectsWritten = 0;
  bytesWritten = 0;
  watermarkMs: number | null = null;
  lastError?: string;

  constructor(private readonly options: ArchiverOptions) {
    this.flushIntervalMs = options.flushIntervalMs ?? 5000;
    this.bufferBytes = options.bufferBytes ?? 1024 * 1024;
    this.safetyMs = options.safetyMs ?? 1000;
  }

  start(): void {
    this.discovery = (async () => {
      if (this.options.checkpointFile)
        this.sequences = (await readJson<ArchiveCheckpoint>(this.options.checkpointFile))?.sequences ?? {};
      await watchShards(
        this.options.kinesis,
        this.options.streamName,
        () => this.stopping,
        (shard) => {
          const id = shard.ShardId!;
          const state: ShardState = {
            reader: new ShardReader(
              this.options.kinesis,
              this.options.streamName,
              id,
              this.sequences[id],
              'TRIM_HORIZON',
            ),
            buffer: [],
            fetchedBeforeMs: null,
            archivedBeforeMs: null,
            ended: false,
            lastCaughtUpAt: 0,
          };
          this.shards.set(id, state);
          this.loops.push(this.readShard(state));
        },
        (message) => (this.lastError = message),
      );
    })();
    this.timer = setInterval(() => {
      this.flush().catch((error: Error) => (this.lastError = `flush: ${error.message}`));
    }, this.flushIntervalMs);
  }

  private toBuffered(shardId: string, record: _Record): Buffered {
    const arrivedMs = (record.ApproximateArrivalTimestamp ?? new Date()).getTime();
    const data = Buffer.from(record.Data ?? new Uint8Array()).toString('utf8');
    const position = {
      shardId,
      sequenceNumber: record.SequenceNumber!,
      partitionKey: record.PartitionKey!,
      arrivedMs,
    };
    try {
      return {
        line: toArchiveLine(normalizeStreamRecord(data, position, this.options.views)),
        rejected: false,
        arrivedMs,
        sequenceNumber: position.sequenceNumber,
      };
    } catch (error) {
      if (!(error instanceof PoisonRecordError)) throw error;
      const line = JSON.stringify({
        error: error.message,
        ...position,
        arrivedAt: new Date(arrivedMs).toISOString(),
        data,
      });
      return { line, rejected: true, arrivedMs, sequenceNumber: position.sequenceNumber };
    }
  }

  private async readShard(state: ShardState): Promise<void> {
    const id = state.reader.shardId;
    while (!this.stopping) {
      try {
        const fetched = await state.reader.fetch(1000);
        for (const record of fetched.records) {
          const item = this.toBuffered(id, record);
          state.buffer.push(item);
          state.lastSequence = item.sequenceNumber;
          this.bufferedBytes += item.line.length + 1;
        }
        if (fetched.millisBehindLatest === 0) state.fetchedBeforeMs = fetched.startedAt - this.safetyMs;
        if (fetched.records.length === 0 && fetched.millisBehindLatest === 0)
          state.lastCaughtUpAt = fetched.startedAt;
        if (fetched.ended) {
          // A closed shard receives nothing more: it never holds the watermark back again.
          state.fetchedBeforeMs = Number.MAX_SAFE_INTEGER;
          state.ended = true;
          return;
        }
        if (this.bufferedBytes >= this.bufferBytes) await this.flush();
        if (fetched.records.length === 0) await sleep(this.options.pollIntervalMs ?? 100);
      } catch (error) {
        this.lastError = `shard ${id}: ${(error as Error).message}`;
        await sleep(500);
      }
    }
  }

  /** Writes everything buffered, then the checkpoint, then the watermark. Flushes never overlap. */
  flush(): Promise<void> {
    const next = this.flushChain.catch(() => undefined).then(() => this.flushOnce());
    this.flushChain = next;
    return next;
  }

  private async flushOnce(): Promise<void> {
    {
      const snapshot = [...this.shards.entries()].map(([id, s]) => {
        const taken = {
          id,
          state: s,
          records: s.buffer,
          fetchedBeforeMs: s.fetchedBeforeMs,
          lastSequence: s.lastSequence,
        };
        s.buffer = [];
        return taken;
      });
      this.bufferedBytes = 0;
      try {
        for (const { id, records } of snapshot) {
          const objects = new Map<string, Buffered[]>();
          for (const r of records) {
            const key = `${r.rejected ? 'rejected' : 'events'}/${partition(r.arrivedMs)}`;
            const list = objects.get(key) ?? [];
            list.push(r);
            objects.set(key, list);
          }
          for (const [prefix, items] of objects) {
            const body = items.map((i) => i.line).join('\n') + '\n';
            const key = `${prefix}/${id}-${items[0].sequenceNumber}-${items[items.length - 1].sequenceNumber}.ndjson`;
            await this.options.s3.send(
              new PutObjectCommand({
                Bucket: this.options.bucket,
                Key: key,
                Body: body,
                ContentType: 'application/x-ndjson',
              }),
            );
            this.objectsWritten++;
            this.bytesWritten += Buffer.byteLength(body);
          }
          this.recordsArchived += records.filter((r) => !r.rejected).length;
          this.recordsRejected += records.filter((r) => r.rejected).length;
        }
      } catch (error) {
        // Put the records back in front: the next flush writes them under the same names.
        for (const { state, records } of snapshot) state.buffer = [...records, ...state.buffer];
        throw error;
      }
      for (const { id, state, fetchedBeforeMs, lastSequence } of snapshot) {
        if (lastSequence) this.sequences[id] = lastSequence;
        state.archivedBeforeMs = fetchedBeforeMs;
      }
      if (this.options.checkpointFile)
        await writeJsonAtomic(this.options.checkpointFile, { sequences: this.sequences });
      const marks = [...this.shards.values()].map((s) => s.archivedBeforeMs);
      if (marks.length > 0 && marks.every((m) => m !== null)) {
        const watermark = Math.min(...(marks as number[]));
        if (watermark !== this.watermarkMs && watermark < Number.MAX_SAFE_INTEGER) {
          await this.options.s3.send(
            new PutObjectCommand({
              Bucket: this.options.bucket,
              Key: WATERMARK_KEY,
              Body: JSON.stringify({
                archivedBeforeMs: watermark,
                archivedBefore: new Date(watermark).toISOString(),
                updatedAt: new Date().toISOString(),
              }),
              ContentType: 'application/json',
            }),
          );
          this.watermarkMs = watermark;
        }
      }
    }
  }

  /** Resolves when every shard was read to its end after this call and flushed. */
  async idle(timeoutMs = 30_000): Promise<void> {
    const since = Date.now();
    while (Date.now() - since < timeoutMs) {
      await sleep(25);
      if (
        this.shards.size > 0 &&
        [...this.shards.values()].every((s) => s.ended || s.lastCaughtUpAt > since)
      ) {
        await this.flush();
        return;
      }
    }
    throw new Error(
      `archiver did not catch up within ${timeoutMs} ms (${this.lastError ?? 'no error recorded'})`,
    );
  }

  stats(): Record<string, unknown> {
    return {
      recordsArchived: this.recordsArchived,
      recordsRejected: this.recordsRejected,
      objectsWritten: this.objectsWritten,
      bytesWritten: this.bytesWritten,
      watermark: this.watermarkMs === null ? null : new Date(this.watermarkMs).toISOString(),
      flushIntervalMs: this.flushIntervalMs,
      lastError: this.lastError ?? null,
    };
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    await this.discovery;
    await Promise.all(this.loops);
    await this.flush().catch((error: Error) => (this.lastError = `final flush: ${error.message}`));
  }
}
