import type { _Record, KinesisClient, Shard } from '@aws-sdk/client-kinesis';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { WATERMARK_KEY } from '../lambdas/adapters/aws/s3-archive-watermark';
import { arrivalPartition } from '../lambdas/core/compaction';
import { readStreamRecord, toArchiveLine } from '../lambdas/core/event';
import { readJson, writeJsonAtomic } from './json-file';
import { ShardConsumer, type ConsumedShard, type StepResult } from './shard-consumer';

export interface ArchiverOptions {
  readonly kinesis: KinesisClient;
  readonly s3: S3Client;
  readonly streamName: string;
  readonly bucket: string;
  /** Flush at least this often (Firehose's buffering interval). @default 5000 */
  readonly flushIntervalMs?: number;
  /** Flush as soon as this many bytes of lines are buffered (Firehose's buffering size). @default 1048576 */
  readonly bufferBytes?: number;
  /** JSON file of per-shard checkpoints, so a restart resumes; in memory when absent. */
  readonly checkpointFile?: string;
  /** How far the watermark stays behind a caught-up read, for coarse arrival timestamps and write lag. @default 1000 */
  readonly safetyMs?: number;
  /** Pause after a GetRecords that found nothing new. @default 100 */
  readonly pollIntervalMs?: number;
  /** How often shards are listed between flushes (every flush lists them too). @default 5000 */
  readonly listShardsIntervalMs?: number;
}

/** One archive line, ready to write. */
export interface ArchiveLine {
  readonly text: string;
  readonly sequenceNumber: string;
  readonly arrivedMs: number;
  /** Under rejected/ (the record failed validation) instead of events/. */
  readonly rejected: boolean;
}

export interface ArchiveObject {
  readonly key: string;
  readonly body: string;
  readonly lines: number;
  readonly rejected: boolean;
}

export interface ArchiverStats {
  readonly recordsArchived: number;
  readonly recordsRejected: number;
  readonly objectsWritten: number;
  readonly bytesWritten: number;
  /** Every record that arrived before this (epoch ms) is in the archive; null until first known. */
  readonly watermarkMs: number | null;
  readonly watermark: string | null;
  readonly bufferedRecords: number;
  readonly flushIntervalMs: number;
  readonly lastError: string | null;
  readonly shards: ReadonlyArray<{
    readonly shardId: string;
    readonly checkpoint: string | null;
    readonly archivedBefore: string | null;
    readonly ended: boolean;
  }>;
}

interface ShardState extends ConsumedShard {
  buffer: ArchiveLine[];
  /** Sequence number of the last record fetched into the buffer. */
  lastFetched?: string;
  /** Arrival time before which every record of this shard has been fetched; null until caught up once. */
  fetchedBeforeMs: number | null;
  /** The same for records written to S3 (what the watermark may promise). */
  archivedBeforeMs: number | null;
  /** Closed by a reshard and read to its end. */
  ended: boolean;
  /** Ended, and its last records are written: it can hold the watermark back no more. */
  endedArchived: boolean;
  /** Start of the last GetRecords that found the shard drained. */
  caughtUpAt: number;
}

/** What one flush took from the buffers: objects to write, then progress to record. */
interface FlushJob {
  readonly objects: Array<ArchiveObject & { written: boolean }>;
  readonly progress: ReadonlyArray<{
    readonly state: ShardState;
    readonly lastFetched?: string;
    readonly fetchedBeforeMs: number | null;
    readonly ended: boolean;
  }>;
}

interface CheckpointFile {
  readonly sequences: Record<string, string>;
}

// GetRecords page size. A full page says nothing about what follows it (kinesalite reports
// MillisBehindLatest 0 even then), so only a short page counts as caught up.
const PAGE = 1000;

export { arrivalPartition };

/**
 * Groups one shard's lines into objects: one per kind (events/ or rejected/) and arrival hour,
 * named `<shardId>-<firstSeq>-<lastSeq>.ndjson` after the records in it. The same records always
 * give the same names, so a retried write overwrites instead of duplicating.
 */
export function archiveObjects(shardId: string, lines: readonly ArchiveLine[]): ArchiveObject[] {
  const groups = new Map<string, ArchiveLine[]>();
  for (const line of lines) {
    const prefix = `${line.rejected ? 'rejected' : 'events'}/${arrivalPartition(line.arrivedMs)}`;
    let group = groups.get(prefix);
    if (!group) groups.set(prefix, (group = []));
    group.push(line);
  }
  return [...groups].map(([prefix, group]) => ({
    key: `${prefix}/${shardId}-${group[0].sequenceNumber}-${group[group.length - 1].sequenceNumber}.ndjson`,
    body: group.map((l) => l.text + '\n').join(''),
    lines: group.length,
    rejected: group[0].rejected,
  }));
}

/**
 * Plays Kinesis Data Firehose: its own consumer of the stream (own checkpoints), normalizing each
 * record exactly as the speed layer does (same id, same arrival time) and writing NDJSON objects
 * partitioned by arrival hour under `events/`; records the views refuse go under `rejected/` with
 * the error and the raw data, never dropped. Lines are buffered by size and time.
 *
 * Each flush writes its objects, then the checkpoint file, then the watermark object: a crash in
 * between re-reads and rewrites records (the batch layer drops repeated ids), never loses one.
 *
 * The watermark (`_watermark.json`, `archivedBeforeMs`) is the arrival time before which every
 * record is provably archived. Per shard: when a GetRecords that started at T found the shard
 * drained (MillisBehindLatest 0 and a short page), every record that arrived before T - safetyMs
 * was in it or before it; that bound counts once those records are written. Across shards, the
 * minimum, and never past the start of the flush's own ListShards call: a shard created after that
 * (a reshard) only holds records that arrived after it. It never moves backwards.
 */
export class Archiver extends ShardConsumer<ShardState> {
  private sequences: Record<string, string> = {};
  private flushChain: Promise<void> = Promise.resolve();
  private readonly jobs: FlushJob[] = [];
  private timer?: NodeJS.Timeout;
  private readonly flushIntervalMs: number;
  private readonly bufferBytes: number;
  private readonly safetyMs: number;
  private readonly pollIntervalMs: number;
  private bufferedBytes = 0;
  private bufferedRecords = 0;
  private recordsArchived = 0;
  private recordsRejected = 0;
  private objectsWritten = 0;
  private bytesWritten = 0;
  private watermarkMs: number | null = null;

  constructor(private readonly options: ArchiverOptions) {
    super({
      client: options.kinesis,
      streamName: options.streamName,
      role: 'archiver',
      listShardsIntervalMs: options.listShardsIntervalMs,
    });
    this.flushIntervalMs = options.flushIntervalMs ?? 5000;
    this.bufferBytes = options.bufferBytes ?? 1024 * 1024;
    this.safetyMs = options.safetyMs ?? 1000;
    this.pollIntervalMs = options.pollIntervalMs ?? 100;
    for (const [name, value, min] of [
      ['flushIntervalMs', this.flushIntervalMs, 1],
      ['bufferBytes', this.bufferBytes, 1],
      ['safetyMs', this.safetyMs, 0],
      ['pollIntervalMs', this.pollIntervalMs, 1],
    ] as const) {
      if (!Number.isInteger(value) || value < min)
        throw new Error(`${name} must be an integer >= ${min} (given ${value})`);
    }
  }

  /** The checkpoints and the last watermark. */
  protected async load(): Promise<void> {
    if (this.options.checkpointFile)
      this.sequences = { ...(await readJson<CheckpointFile>(this.options.checkpointFile))?.sequences };
    this.watermarkMs = await this.readWatermark();
  }

  protected startReading(): void {
    super.startReading();
    this.timer = setInterval(() => {
      this.flush().catch((error: Error) => (this.lastError = `flush: ${error.message}`));
    }, this.flushIntervalMs);
  }

  /**
   * The watermark a previous run published, so a restart does not publish an earlier one. Only a
   * nicety (an earlier watermark holds the batch cutoff back, it never makes it wrong): when it
   * cannot be read, the archiver starts without it.
   */
  private async readWatermark(): Promise<number | null> {
    try {
      const object = await this.options.s3.send(
        new GetObjectCommand({ Bucket: this.options.bucket, Key: WATERMARK_KEY }),
      );
      const parsed = JSON.parse(await object.Body!.transformToString()) as { archivedBeforeMs?: unknown };
      return typeof parsed.archivedBeforeMs === 'number' ? parsed.archivedBeforeMs : null;
    } catch (error) {
      const name = (error as Error).name;
      if (name !== 'NoSuchKey' && name !== 'NoSuchBucket')
        this.lastError = `reading ${WATERMARK_KEY}: ${(error as Error).message}`;
      return null;
    }
  }

  protected openShard(shard: Shard): ShardState {
    const id = shard.ShardId!;
    return {
      id,
      reader: this.readerOf(id, this.sequences[id]),
      buffer: [],
      fetchedBeforeMs: null,
      archivedBeforeMs: null,
      ended: false,
      endedArchived: false,
      caughtUpAt: 0,
    };
  }

  private toLine(shardId: string, record: _Record): ArchiveLine {
    const arrivedMs = (record.ApproximateArrivalTimestamp ?? new Date()).getTime();
    const data = Buffer.from(record.Data ?? new Uint8Array()).toString('utf8');
    const position = {
      shardId,
      sequenceNumber: record.SequenceNumber!,
      partitionKey: record.PartitionKey!,
      arrivedMs,
    };
    try {
      const text = toArchiveLine(readStreamRecord(data, position));
      return { text, sequenceNumber: position.sequenceNumber, arrivedMs, rejected: false };
    } catch (error) {
      // PoisonRecordError is the expected case; anything else thrown while reading a record is
      // kept the same way rather than lost (the error names what happened).
      const text = JSON.stringify({
        error: (error as Error).message,
        shardId,
        sequenceNumber: position.sequenceNumber,
        partitionKey: position.partitionKey,
        arrivedAt: new Date(arrivedMs).toISOString(),
        data,
      });
      return { text, sequenceNumber: position.sequenceNumber, arrivedMs, rejected: true };
    }
  }

  /** Buffers one page of the shard, or flushes when the buffer is full. */
  protected async step(state: ShardState): Promise<StepResult> {
    // Back pressure: a job left over means writes are failing; stop reading rather than buffer without bound.
    if (this.jobs.length > 1) {
      await this.nap(this.pollIntervalMs);
      return 'more';
    }
    if (this.bufferedBytes >= this.bufferBytes) {
      await this.flush();
      return 'more';
    }
    const fetched = await state.reader.fetch(PAGE);
    for (const record of fetched.records) {
      const line = this.toLine(state.id, record);
      state.buffer.push(line);
      state.lastFetched = line.sequenceNumber;
      this.bufferedBytes += Buffer.byteLength(line.text) + 1;
      this.bufferedRecords++;
    }
    if (fetched.millisBehindLatest === 0 && fetched.records.length < PAGE) {
      state.fetchedBeforeMs = Math.max(state.fetchedBeforeMs ?? 0, fetched.startedAt - this.safetyMs);
      if (fetched.records.length === 0) state.caughtUpAt = fetched.startedAt;
    }
    if (fetched.ended) {
      state.ended = true;
      return 'ended';
    }
    if (fetched.records.length === 0) await this.nap(this.pollIntervalMs);
    return 'more';
  }

  protected caughtUp(state: ShardState, since: number): boolean {
    return state.ended || state.caughtUpAt >= since;
  }

  /** Writes everything buffered, then the checkpoint file, then the watermark. Flushes never overlap. */
  flush(): Promise<void> {
    const next = this.flushChain.catch(() => undefined).then(() => this.flushOnce());
    this.flushChain = next;
    return next;
  }

  private async flushOnce(): Promise<void> {
    // Before start() has loaded the checkpoints, a listing would start readers at the stream's beginning.
    if (!(await this.loaded())) return;
    let listedAt: number | null = null;
    try {
      listedAt = await this.discovery.listNow();
    } catch (error) {
      // Objects are still written; only the watermark waits for a listing that works.
      this.lastError = `listing the shards of ${this.options.streamName}: ${(error as Error).message}`;
    }
    this.jobs.push(this.takeBuffers());
    let progressed = false;
    while (this.jobs.length > 0) {
      const job = this.jobs[0];
      for (const object of job.objects) {
        if (object.written) continue;
        await this.options.s3.send(
          new PutObjectCommand({
            Bucket: this.options.bucket,
            Key: object.key,
            Body: object.body,
            ContentType: 'application/x-ndjson',
          }),
        );
        object.written = true;
        this.objectsWritten++;
        this.bytesWritten += Buffer.byteLength(object.body);
        if (object.rejected) this.recordsRejected += object.lines;
        else this.recordsArchived += object.lines;
      }
      this.jobs.shift();
      for (const p of job.progress) {
        if (p.lastFetched) this.sequences[p.state.id] = p.lastFetched;
        if (p.fetchedBeforeMs !== null)
          p.state.archivedBeforeMs = Math.max(p.state.archivedBeforeMs ?? 0, p.fetchedBeforeMs);
        if (p.ended) p.state.endedArchived = true;
      }
      progressed = true;
    }
    if (progressed && this.options.checkpointFile)
      await writeJsonAtomic(this.options.checkpointFile, {
        sequences: this.sequences,
      } satisfies CheckpointFile);
    if (listedAt !== null) await this.publishWatermark(listedAt);
  }

  /** Empties every shard's buffer into one job (synchronously: reads cannot interleave). */
  private takeBuffers(): FlushJob {
    const objects: FlushJob['objects'] = [];
    const progress: FlushJob['progress'][number][] = [];
    for (const state of this.shards.values()) {
      if (state.buffer.length > 0)
        for (const object of archiveObjects(state.id, state.buffer))
          objects.push({ ...object, written: false });
      progress.push({
        state,
        lastFetched: state.lastFetched,
        fetchedBeforeMs: state.fetchedBeforeMs,
        ended: state.ended,
      });
      state.buffer = [];
    }
    this.bufferedBytes = 0;
    this.bufferedRecords = 0;
    return { objects, progress };
  }

  private async publishWatermark(listedAt: number): Promise<void> {
    let mark = listedAt - this.safetyMs;
    for (const state of this.shards.values()) {
      if (state.endedArchived) continue;
      if (state.archivedBeforeMs === null) return; // a shard not yet caught up: nothing provable
      mark = Math.min(mark, state.archivedBeforeMs);
    }
    const archivedBeforeMs = Math.max(mark, this.watermarkMs ?? mark);
    await this.options.s3.send(
      new PutObjectCommand({
        Bucket: this.options.bucket,
        Key: WATERMARK_KEY,
        Body: JSON.stringify({
          archivedBeforeMs,
          archivedBefore: new Date(archivedBeforeMs).toISOString(),
          updatedAt: new Date().toISOString(),
        }),
        ContentType: 'application/json',
      }),
    );
    this.watermarkMs = archivedBeforeMs;
  }

  /**
   * Resolves when, after this call, every shard was read to its end and everything read is
   * written (with the checkpoint and the watermark). Rejects after `timeoutMs`.
   */
  async idle(timeoutMs = 30_000): Promise<void> {
    await super.idle(timeoutMs);
    await this.flush();
  }

  stats(): ArchiverStats {
    return {
      recordsArchived: this.recordsArchived,
      recordsRejected: this.recordsRejected,
      objectsWritten: this.objectsWritten,
      bytesWritten: this.bytesWritten,
      watermarkMs: this.watermarkMs,
      watermark: this.watermarkMs === null ? null : new Date(this.watermarkMs).toISOString(),
      bufferedRecords: this.bufferedRecords,
      flushIntervalMs: this.flushIntervalMs,
      lastError: this.lastError ?? null,
      shards: [...this.shards.values()].map((s) => ({
        shardId: s.id,
        checkpoint: this.sequences[s.id] ?? null,
        archivedBefore: s.archivedBeforeMs === null ? null : new Date(s.archivedBeforeMs).toISOString(),
        ended: s.ended,
      })),
    };
  }

  protected shardStats(): ArchiverStats['shards'] {
    return this.stats().shards;
  }

  /** Stops reading and flushes what was read. A failed final flush leaves those records to be read again on the next start. */
  async stop(): Promise<void> {
    // No timer starts after this: super.stop() marks the archiver stopping before it awaits anything.
    if (this.timer) clearInterval(this.timer);
    await super.stop();
    await this.flush().catch((error: Error) => (this.lastError = `final flush: ${error.message}`));
  }
}
