import { GetObjectCommand, paginateListObjectsV2, type S3Client } from '@aws-sdk/client-s3';
import type { DuckDBConnection } from '@duckdb/node-api';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { BucketRange } from '../../core/batch-lineage';
import {
  arrivalPartition,
  buildManifest,
  compactionHorizon,
  coveredSources,
  generationSummary,
  loadManifests,
  manifestKey,
  oldestUncovered,
  planCompaction,
  type CompactedFile,
  type CompactionManifest,
} from '../../core/compaction';
import { duckdbSource, duckdbTypedSource, RECONCILE_LOOKBACK_MS } from '../../core/archive-source-sql';
import { type BatchResultRow } from '../../core/batch-result-row';
import { compactionSql } from '../../core/compaction-sql';
import { sqlString } from '../../core/sql-dialect';
import { TYPED_META_COLUMNS, type StoredColumns } from '../../core/typed-columns';
import type { ArchiveWatermark } from '../../ports/archive';
import type { ArchiveCompactor, CompactionResult } from '../../ports/archive-compactor';
import type { QueryEngine } from '../../ports/query-engine';
import type { CompactedArchiveStore } from './compacted-archive-store';
import { openDuckDb, PARTITIONED_WRITE_FLUSH_ROWS, type DuckDbMemoryOptions } from './open-duckdb';

/** Archive files stat'ed at once when their time ranges are looked up. */
const STAT_PAGE = 256;

/** How the engine compacts the archive it reads (ADR 011). */
export interface DuckDbCompactionOptions {
  /** Where the compacted generations and their manifests are written and read. */
  readonly store: CompactedArchiveStore;
  /**
   * Objects are compacted once every line arrived before the start of the run cutoff's period.
   * @default 86_400_000 (one UTC day)
   */
  readonly periodMs?: number;
  /**
   * Fewest uncompacted objects worth a generation.
   * @default 1
   */
  readonly minObjects?: number;
  /**
   * Most NDJSON bytes one generation compacts (the oldest objects first; one object at least):
   * a generation is one sorted COPY, whose memory grows with its input, so a day's backlog is
   * compacted a bounded piece per run instead of failing every run at DuckDB's memory limit.
   * @default DEFAULT_MAX_GENERATION_BYTES (64 MiB)
   */
  readonly maxGenerationBytes?: number;
}

/**
 * 64 MiB of NDJSON (about 200,000 archived events): compacted in a few seconds within the
 * runtime's 256 MB DuckDB limit, where one generation of 1M events (300 MB) ran out of memory
 * (ADR 013). At one generation per batch run (every minute by default) that keeps up with about
 * 1 MiB of archive a second, over three times a 1,000 events/s stream.
 */
export const DEFAULT_MAX_GENERATION_BYTES = 64 * 1024 * 1024;

const S3RVER_SUFFIX = '._S3rver_object';

/**
 * Beside a copy of an S3 archive (syncFrom): every object holding an arrival before its
 * `copiedBeforeMs` is in the copy. Not an archive file (ARCHIVE_FILE), so no query reads it.
 */
const COPIED_MARKER = '.copied-before.json';

/** Archive object files as the local archiver writes them, directly or inside s3rver's folder. */
const ARCHIVE_FILE = /\.ndjson(\._S3rver_object)?$/;

/** What one archive file holds: its size and the ranges of its event and arrival times. */
interface FileStats {
  readonly bytes: number;
  readonly minTm: number;
  readonly maxTm: number;
  readonly minAm: number;
  readonly maxAm: number;
}

/** Every file under `dir` (absolute paths, sorted). */
async function walkFiles(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name))
    .sort();
}

async function listFiles(dir: string): Promise<string[]> {
  let entries;
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const files: string[] = [];
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await listFiles(full)));
    else if (ARCHIVE_FILE.test(entry.name)) files.push(full);
  }
  return files.sort();
}

/** Fewest rows a compaction's partitioned COPY is retried with (copyWithinMemory). */
const MIN_FLUSH_ROWS = 2;

/** DuckDB's error for a query that needed more than its memory limit. */
function isOutOfMemory(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('Out of Memory Error');
}

/**
 * Athena's local stand-in: embedded DuckDB reading the archive's NDJSON files from a folder
 * (DuckDB cannot read s3:// here: its httpfs extension is not bundled and cannot be downloaded).
 */
export class DuckDbQueryEngine implements QueryEngine, ArchiveCompactor {
  readonly dialect = 'duckdb' as const;
  readonly prunesByEventTime = true;
  /** Sources asked for fields carry them, and the copy's id, arrival and time, as typed columns (ADR 013). */
  readonly typedSources = true;

  private instance?: Promise<import('@duckdb/node-api').DuckDBInstance>;
  /** Per file (path, size, mtime): its time ranges, read once (archive objects are immutable). */
  private readonly stats = new Map<string, FileStats>();
  /** Bytes of each source handed out, to count what the queries over it read. */
  private readonly sourceBytes = new Map<string, { readonly all: number; readonly parquet: number }>();
  /**
   * Archive bytes the queries read so far (each query over a source reads its files once), the
   * one-time reads of new files' time ranges included.
   */
  bytesRead = 0;
  /** The part of bytesRead that was compacted Parquet files (whole files, every column). */
  parquetBytesRead = 0;
  /** Parsed manifests by key (a committed manifest never changes). */
  private readonly manifests = new Map<string, CompactionManifest>();
  /** Tables made by materialize so far (each run's get a new name). */
  private materialized = 0;
  /** Compactions of this engine run one at a time (the local emulator has no conditional put). */
  private compacting: Promise<unknown> = Promise.resolve();
  /**
   * With syncFrom's watermark: the copy holds every object of every arrival before this (the
   * watermark read before the last complete listing). Null until a listing completed.
   */
  private copiedBeforeMs: number | null = null;

  /**
   * @param archiveDir the folder holding the archive's NDJSON files
   * @param syncFrom when the archive's S3 endpoint keeps its files elsewhere (LocalStack), the
   *   bucket and prefix copied into `archiveDir` before a read (objects already copied are kept:
   *   the archiver's object names are deterministic, a rewrite has the same content); with its
   *   `watermark`, a read whose cutoff an earlier copy covers copies nothing more
   * @param compaction how the engine compacts the archive it reads (absent: it reads raw NDJSON only)
   * @param memory DuckDB's memory limit, threads and spill folder (openDuckDb's defaults when absent)
   */
  constructor(
    private readonly archiveDir: string,
    private readonly syncFrom?: {
      readonly client: S3Client;
      readonly bucket: string;
      readonly prefix: string;
      /**
       * The archive's watermark (the archiver writes its objects before the watermark that
       * covers them): read before each listing, it tells which cutoffs the copy is complete for.
       * @default - every read lists the bucket again
       */
      readonly watermark?: ArchiveWatermark;
    },
    private readonly compaction?: DuckDbCompactionOptions,
    private readonly memory: DuckDbMemoryOptions = {},
  ) {
    if (compaction && syncFrom)
      throw new Error(
        'the DuckDB engine cannot compact an archive it copies from S3 (syncFrom): run it without compaction, or against the local S3 emulator whose folder it reads',
      );
  }

  /** The archive key of a raw file: its path under the archive folder, as S3 names it. */
  private rawKey(file: string): string {
    const relative = path.relative(this.archiveDir, file).split(path.sep).join('/');
    return relative.endsWith(S3RVER_SUFFIX) ? relative.slice(0, -S3RVER_SUFFIX.length) : relative;
  }

  /** The committed manifests, in generation order. */
  private async committed(): Promise<CompactionManifest[]> {
    return this.compaction ? loadManifests(this.compaction.store, this.manifests) : [];
  }

  /**
   * Compacts the oldest raw objects no manifest covers whose lines all arrived before the start
   * of the cutoff's period (up to maxGenerationBytes) into one generation: Parquet by event date,
   * each file written whole, then the manifest created only if its generation is still free
   * (ADR 011). What is left is compacted by the next runs and read raw until then.
   */
  compact(cutoffMs: number, fields?: readonly string[]): Promise<CompactionResult> {
    const run = this.compacting.then(() => this.compactOnce(cutoffMs, fields));
    this.compacting = run.catch(() => undefined);
    return run;
  }

  private async compactOnce(cutoffMs: number, fields?: readonly string[]): Promise<CompactionResult> {
    if (!this.compaction) return { status: 'nothing-to-do' };
    const {
      store,
      periodMs = 86_400_000,
      minObjects = 1,
      maxGenerationBytes = DEFAULT_MAX_GENERATION_BYTES,
    } = this.compaction;
    await this.sync();
    const manifests = await this.committed();
    const covered = coveredSources(manifests);
    const files = (await listFiles(this.archiveDir)).filter((f) => !covered.has(this.rawKey(f)));
    const stats = await this.fileStats(files);
    const byKey = new Map(files.map((f) => [this.rawKey(f), f]));
    const horizon = compactionHorizon(cutoffMs, periodMs);
    const next = oldestUncovered(
      files.map((f) => ({ key: this.rawKey(f), maxAm: stats.get(f)!.maxAm, bytes: stats.get(f)!.bytes })),
      covered,
      horizon,
      { maxBytes: maxGenerationBytes },
    );
    const plan = planCompaction(manifests, next, horizon, minObjects);
    if (plan === null) return { status: 'nothing-to-do' };
    const work = await fs.mkdtemp(path.join(tmpdir(), 'streamfold-compaction-'));
    try {
      const sources = plan.sources.map((k) => byKey.get(k)!);
      for (const f of sources) this.bytesRead += stats.get(f)!.bytes;
      await this.copyWithinMemory(
        compactionSql(sources, path.join(work, 'out'), fields),
        path.join(work, 'out'),
      );
      const written = await walkFiles(path.join(work, 'out'));
      const fileRows =
        written.length === 0
          ? []
          : await this.run(
              `SELECT filename, count(*) AS n, min(tm) AS min_tm, max(tm) AS max_tm, min(am) AS min_am, max(am) AS max_am
FROM read_parquet([${written.map(sqlString).join(', ')}], filename = true, hive_partitioning = false)
GROUP BY filename`,
            );
      const outputs: CompactedFile[] = [];
      for (const row of fileRows) {
        const file = String(row.filename);
        const relative = path.relative(path.join(work, 'out'), file).split(path.sep).join('/');
        const eventDate = /^edt=(\d{4}-\d{2}-\d{2})\//.exec(relative)?.[1];
        if (eventDate === undefined)
          throw new Error(
            `compaction wrote ${relative}, outside an edt=yyyy-MM-dd folder: a DuckDB version whose PARTITION_BY layout differs; pin @duckdb/node-api to package-lock.json's version`,
          );
        const key = `${plan.prefix}${relative}`;
        await store.putFile(key, file);
        outputs.push({
          key,
          eventDate,
          rows: Number(row.n),
          bytes: (await fs.stat(file)).size,
          minTm: Number(row.min_tm),
          maxTm: Number(row.max_tm),
          minAm: Number(row.min_am),
          maxAm: Number(row.max_am),
        });
      }
      const manifest = buildManifest(plan, outputs, fields);
      if (!(await store.createIfAbsent(manifestKey(plan.generation), JSON.stringify(manifest))))
        return { status: 'lost', generation: plan.generation };
      this.manifests.set(manifestKey(plan.generation), manifest);
      return { status: 'committed', ...generationSummary(manifest) };
    } finally {
      await fs.rm(work, { recursive: true, force: true });
    }
  }

  /**
   * Runs a compaction's COPY ... PARTITION_BY. DuckDB holds buffers for every event hour that has
   * rows waiting to be written, and what each costs grows with the columns (the views' typed
   * fields). A generation of small objects each in an hour of its own (a quiet stream's days
   * compacted at once, late events over months) ran out of the 256 MB limit at 20,000 buffered rows
   * (bench/batch-incremental.ts 50000, 2026-12-06), and a view of 24 summed fields at 100 when each
   * row was an hour of its own. Fewer rows buffered cost time elsewhere (the 100,000-event bench
   * archive compacted in 2.9 s at 200 rows against 2.2 s at 20,000), so the COPY starts at
   * PARTITIONED_WRITE_FLUSH_ROWS and, when it runs out of memory, runs again with a tenth of the
   * rows, down to 2. A compaction that still fails leaves the objects raw (the batch run reads
   * them as they are).
   */
  private async copyWithinMemory(copySql: string, outDir: string): Promise<void> {
    for (let rows = PARTITIONED_WRITE_FLUSH_ROWS; ; rows = Math.max(MIN_FLUSH_ROWS, Math.floor(rows / 10))) {
      try {
        await this.run(`SET partitioned_write_flush_threshold = ${rows}; ${copySql}`);
        return;
      } catch (error) {
        if (!isOutOfMemory(error) || rows <= MIN_FLUSH_ROWS) throw error;
        // A COPY into a folder that holds files fails: what the failed one wrote goes first.
        await fs.rm(outDir, { recursive: true, force: true });
      }
    }
  }

  /**
   * Copies the objects not copied yet, unless the copy already holds every arrival before
   * `cutoffMs`. A run asks for sources several times with one cutoff (its plan, each view's
   * buckets, the reconciliation): each listed the whole bucket, and through an S3 whose listing
   * reads every object's metadata (s3rver) that was most of a run once the archive held
   * thousands of objects.
   *
   * Once a listing completed under a watermark, the next ones start at that watermark's arrival
   * hour: an object not copied yet holds only arrivals at or after it (the archiver writes an
   * object before the watermark that covers it, and each object holds one arrival hour,
   * `dt=/hour=`), so the older partitions hold nothing new. The bound is kept beside the copy
   * (COPIED_MARKER), so a cold start (a killed function) does not list the whole archive again.
   * Objects outside the `dt=/hour=` layout are copied by the first listing only; the cloud's
   * archive table does not read them at all.
   */
  private async sync(cutoffMs?: number): Promise<void> {
    if (!this.syncFrom) return;
    const { client, bucket, prefix, watermark } = this.syncFrom;
    this.copiedBeforeMs ??= watermark ? await this.readCopiedMarker() : null;
    if (cutoffMs !== undefined && this.copiedBeforeMs !== null && cutoffMs <= this.copiedBeforeMs) return;
    // Read before listing: every object holding an arrival before it is listed below.
    const before = watermark ? await watermark.archivedBeforeMs() : null;
    const startAfter =
      this.copiedBeforeMs === null ? {} : { StartAfter: `${prefix}${arrivalPartition(this.copiedBeforeMs)}` };
    for await (const page of paginateListObjectsV2(
      { client },
      { Bucket: bucket, Prefix: prefix, ...startAfter },
    )) {
      for (const object of page.Contents ?? []) {
        const key = object.Key!;
        const target = path.join(this.archiveDir, key.slice(prefix.length));
        try {
          await fs.access(target);
          continue;
        } catch {
          // not copied yet
        }
        const body = await (
          await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
        ).Body!.transformToByteArray();
        await fs.mkdir(path.dirname(target), { recursive: true });
        await fs.writeFile(`${target}.part`, body);
        await fs.rename(`${target}.part`, target);
      }
    }
    if (before !== null) {
      this.copiedBeforeMs = Math.max(before, this.copiedBeforeMs ?? before);
      await fs.mkdir(this.archiveDir, { recursive: true });
      const marker = path.join(this.archiveDir, COPIED_MARKER);
      await fs.writeFile(`${marker}.part`, JSON.stringify({ copiedBeforeMs: this.copiedBeforeMs }));
      await fs.rename(`${marker}.part`, marker);
    }
  }

  /** The bound a previous process's listing left beside the copy, or null (none, or unreadable: list it all). */
  private async readCopiedMarker(): Promise<number | null> {
    try {
      const { copiedBeforeMs } = JSON.parse(
        await fs.readFile(path.join(this.archiveDir, COPIED_MARKER), 'utf8'),
      ) as { copiedBeforeMs?: unknown };
      return typeof copiedBeforeMs === 'number' && Number.isFinite(copiedBeforeMs) ? copiedBeforeMs : null;
    } catch {
      return null;
    }
  }

  /**
   * Every archive file, or only those whose arrival and event times can matter: arrivals before
   * the cutoff, from a day before `arrivedFromMs` (an earlier copy of an id), and events in
   * `eventTimes` (which callers widen by COPY_TIME_HORIZON_MS, so a left-out file holds no copy of
   * an event of the ranges they dedupe). With `fields`, a typed source (ADR 013): compacted files give the
   * columns they store, everything else is extracted from the line.
   */
  async source(
    cutoffMs?: number,
    arrivedFromMs?: number,
    eventTimes?: readonly BucketRange[],
    lookbackMs = RECONCILE_LOOKBACK_MS,
    fields?: readonly string[],
  ): Promise<string | null> {
    await this.sync(cutoffMs);
    // One listing of the manifests: each raw object is read from its generation's Parquet or,
    // when no committed manifest covers it, from its NDJSON; never both.
    const manifests = await this.committed();
    const covered = coveredSources(manifests);
    let files = (await listFiles(this.archiveDir)).filter((f) => !covered.has(this.rawKey(f)));
    // Each file with what its generation stores as typed columns.
    let compacted = manifests.flatMap((m) =>
      m.files.map((f) => ({
        ...f,
        stored:
          m.typedFields === undefined
            ? { meta: ['tm', 'am', 'etype'], fields: [] as readonly string[] }
            : { meta: [...TYPED_META_COLUMNS] as string[], fields: m.typedFields },
      })),
    );
    const keep = (s: Omit<FileStats, 'bytes'>) => {
      if (cutoffMs === undefined) return true;
      if (s.minAm >= cutoffMs) return false;
      if (arrivedFromMs !== undefined && s.maxAm < arrivedFromMs - lookbackMs) return false;
      return eventTimes === undefined || eventTimes.some((r) => s.maxTm >= r.fromMs && s.minTm < r.toMs);
    };
    const stats = files.length > 0 ? await this.fileStats(files) : new Map<string, FileStats>();
    files = files.filter((file) => keep(stats.get(file)!));
    compacted = compacted.filter(keep);
    if (files.length === 0 && compacted.length === 0) return null;
    const parquetPath = (f: { key: string }) => this.compaction!.store.localPath(f.key);
    let source: string;
    if (fields === undefined) source = duckdbSource(files, compacted.map(parquetPath));
    else {
      // One read_parquet per set of stored columns (generations compacted for other views differ).
      const groups = new Map<string, StoredColumns & { files: string[] }>();
      for (const f of compacted) {
        const id = JSON.stringify(f.stored);
        const group = groups.get(id) ?? { files: [], ...f.stored };
        group.files.push(parquetPath(f));
        groups.set(id, group);
      }
      source = duckdbTypedSource(fields, files, [...groups.values()]);
    }
    // The sources of the last few runs are enough to count their reads; memory stays flat.
    if (this.sourceBytes.size >= 64) this.sourceBytes.clear();
    const parquetBytes = compacted.reduce((sum, f) => sum + f.bytes, 0);
    this.sourceBytes.set(source, {
      all: files.reduce((sum, f) => sum + stats.get(f)!.bytes, 0) + parquetBytes,
      parquet: parquetBytes,
    });
    return source;
  }

  /** Time ranges of the files, reading only those not seen before (in one query). */
  private async fileStats(files: readonly string[]): Promise<Map<string, FileStats>> {
    const out = new Map<string, FileStats>();
    const ids = new Map<string, string>();
    const missing: { file: string; bytes: number }[] = [];
    // A day of raw objects at the default flush is tens of thousands of files: stat them a page at
    // a time (libuv's pool runs them in parallel) rather than one round trip after another.
    const sizes: { size: number; mtimeMs: number }[] = [];
    for (let i = 0; i < files.length; i += STAT_PAGE)
      sizes.push(...(await Promise.all(files.slice(i, i + STAT_PAGE).map((f) => fs.stat(f)))));
    for (const [i, file] of files.entries()) {
      const { size, mtimeMs } = sizes[i];
      const id = `${file}|${size}|${mtimeMs}`;
      ids.set(file, id);
      const known = this.stats.get(id);
      if (known) out.set(file, known);
      else missing.push({ file, bytes: size });
    }
    if (missing.length > 0) {
      const rows = await this.run(
        `SELECT filename, min(CAST(json_extract_string(json, '$._tm') AS BIGINT)) AS min_tm,
  max(CAST(json_extract_string(json, '$._tm') AS BIGINT)) AS max_tm,
  min(CAST(json_extract_string(json, '$._am') AS BIGINT)) AS min_am,
  max(CAST(json_extract_string(json, '$._am') AS BIGINT)) AS max_am
FROM read_json_objects([${missing.map((m) => sqlString(m.file)).join(', ')}], format = 'newline_delimited', filename = true)
GROUP BY filename`,
      );
      const found = new Map(rows.map((row) => [String(row.filename), row]));
      for (const { file, bytes } of missing) {
        this.bytesRead += bytes;
        const row = found.get(file);
        // A file with no line: nothing in it can matter to any range.
        const n = (v: unknown, empty: number) => (v === null || v === undefined ? empty : Number(v));
        const stats: FileStats = {
          bytes,
          minTm: n(row?.min_tm, Infinity),
          maxTm: n(row?.max_tm, -Infinity),
          minAm: n(row?.min_am, Infinity),
          maxAm: n(row?.max_am, -Infinity),
        };
        this.stats.set(ids.get(file)!, stats);
        out.set(file, stats);
      }
    }
    return out;
  }

  async run(sql: string): Promise<BatchResultRow[]> {
    const connection = await this.connectFor(sql);
    try {
      const reader = await connection.runAndReadAll(sql);
      return reader.getRowObjectsJS() as BatchResultRow[];
    } finally {
      connection.closeSync();
    }
  }

  /**
   * Streams the result (DuckDB's chunks of 2,048 rows) instead of collecting it: a collected
   * result is held inside DuckDB's memory limit as well as in the heap.
   */
  async runInChunks(sql: string, onRows: (rows: BatchResultRow[]) => Promise<void>): Promise<void> {
    const connection = await this.connectFor(sql);
    try {
      const result = await connection.stream(sql);
      for await (const rows of result.yieldRowObjectJs()) await onRows(rows as BatchResultRow[]);
    } finally {
      connection.closeSync();
    }
  }

  /** A connection for one query, counting the archive bytes the query's sources read. */
  private async connectFor(sql: string): Promise<DuckDBConnection> {
    for (const [source, bytes] of this.sourceBytes)
      if (sql.includes(source)) {
        this.bytesRead += bytes.all;
        this.parquetBytesRead += bytes.parquet;
      }
    this.instance ??= openDuckDb(this.memory);
    return (await this.instance).connect();
  }

  /**
   * Keeps the rows of `sql` in a table of the embedded database (DuckDB spills its blocks past
   * the memory limit like any other), for the queries of one run; `release` drops it.
   */
  async materialize(sql: string): Promise<{ source: string; release(): Promise<void> }> {
    const table = `run_rows_${++this.materialized}`;
    await this.run(`CREATE TABLE ${table} AS ${sql}`);
    return {
      source: `SELECT * FROM ${table}`,
      release: async () => {
        if (this.instance) await this.run(`DROP TABLE IF EXISTS ${table}`);
      },
    };
  }

  /** Releases the embedded database; a later run opens a new one. */
  async close(): Promise<void> {
    const instance = this.instance;
    this.instance = undefined;
    if (instance) (await instance).closeSync();
  }
}
