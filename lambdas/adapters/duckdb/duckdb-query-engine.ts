import { GetObjectCommand, paginateListObjectsV2, type S3Client } from '@aws-sdk/client-s3';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { BucketRange } from '../../core/batch-lineage';
import { duckdbSource, RECONCILE_LOOKBACK_MS, sqlString, type BatchResultRow } from '../../core/sql';
import type { QueryEngine } from '../../ports/query-engine';
import { openDuckDb } from './open-duckdb';

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

/**
 * Athena's local stand-in: embedded DuckDB reading the archive's NDJSON files from a folder
 * (DuckDB cannot read s3:// here: its httpfs extension is not bundled and cannot be downloaded).
 */
export class DuckDbQueryEngine implements QueryEngine {
  readonly dialect = 'duckdb' as const;

  private instance?: Promise<import('@duckdb/node-api').DuckDBInstance>;
  /** Per file (path, size, mtime): its time ranges, read once (archive objects are immutable). */
  private readonly stats = new Map<string, FileStats>();
  /** Bytes of each source handed out, to count what the queries over it read. */
  private readonly sourceBytes = new Map<string, number>();
  /**
   * Archive bytes the queries read so far (each query over a source reads its files once), the
   * one-time reads of new files' time ranges included.
   */
  bytesRead = 0;

  /**
   * @param archiveDir the folder holding the archive's NDJSON files
   * @param syncFrom when the archive's S3 endpoint keeps its files elsewhere (LocalStack), the
   *   bucket and prefix copied into `archiveDir` before each run (objects already copied are kept:
   *   the archiver's object names are deterministic, a rewrite has the same content)
   */
  constructor(
    private readonly archiveDir: string,
    private readonly syncFrom?: {
      readonly client: S3Client;
      readonly bucket: string;
      readonly prefix: string;
    },
  ) {}

  private async sync(): Promise<void> {
    if (!this.syncFrom) return;
    const { client, bucket, prefix } = this.syncFrom;
    for await (const page of paginateListObjectsV2({ client }, { Bucket: bucket, Prefix: prefix })) {
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
  }

  /**
   * Every archive file, or only those whose arrival and event times can matter: arrivals before
   * the cutoff, from a day before `arrivedFromMs` (an earlier copy of an id), and events in
   * `eventTimes`. Every copy of an event carries its time, so a left-out file holds no copy of an
   * event of those ranges.
   */
  async source(
    cutoffMs?: number,
    arrivedFromMs?: number,
    eventTimes?: readonly BucketRange[],
  ): Promise<string | null> {
    await this.sync();
    let files = await listFiles(this.archiveDir);
    if (cutoffMs !== undefined && files.length > 0) {
      const stats = await this.fileStats(files);
      files = files.filter((file) => {
        const s = stats.get(file)!;
        if (s.minAm >= cutoffMs) return false;
        if (arrivedFromMs !== undefined && s.maxAm < arrivedFromMs - RECONCILE_LOOKBACK_MS) return false;
        return eventTimes === undefined || eventTimes.some((r) => s.maxTm >= r.fromMs && s.minTm < r.toMs);
      });
    }
    if (files.length === 0) return null;
    const source = duckdbSource(files);
    const stats = await this.fileStats(files);
    // The sources of the last few runs are enough to count their reads; memory stays flat.
    if (this.sourceBytes.size >= 64) this.sourceBytes.clear();
    this.sourceBytes.set(
      source,
      files.reduce((sum, f) => sum + stats.get(f)!.bytes, 0),
    );
    return source;
  }

  /** Time ranges of the files, reading only those not seen before (in one query). */
  private async fileStats(files: readonly string[]): Promise<Map<string, FileStats>> {
    const out = new Map<string, FileStats>();
    const ids = new Map<string, string>();
    const missing: { file: string; bytes: number }[] = [];
    for (const file of files) {
      const { size, mtimeMs } = await fs.stat(file);
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
    for (const [source, bytes] of this.sourceBytes) if (sql.includes(source)) this.bytesRead += bytes;
    this.instance ??= openDuckDb();
    const connection = await (await this.instance).connect();
    try {
      const reader = await connection.runAndReadAll(sql);
      return reader.getRowObjectsJS() as BatchResultRow[];
    } finally {
      connection.closeSync();
    }
  }

  /** Releases the embedded database; a later run opens a new one. */
  async close(): Promise<void> {
    const instance = this.instance;
    this.instance = undefined;
    if (instance) (await instance).closeSync();
  }
}
