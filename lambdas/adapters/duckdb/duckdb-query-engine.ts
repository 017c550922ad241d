import { GetObjectCommand, paginateListObjectsV2, type S3Client } from '@aws-sdk/client-s3';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { duckdbSource, type BatchResultRow } from '../../core/sql';
import type { QueryEngine } from '../../ports/query-engine';

/** Archive object files as the local archiver writes them, directly or inside s3rver's folder. */
const ARCHIVE_FILE = /\.ndjson(\._S3rver_object)?$/;

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

  async source(): Promise<string | null> {
    await this.sync();
    const files = await listFiles(this.archiveDir);
    return files.length === 0 ? null : duckdbSource(files);
  }

  async run(sql: string): Promise<BatchResultRow[]> {
    // Loaded lazily: the native module is only present where DuckDB is the engine (never in a Lambda bundle).
    this.instance ??= import('@duckdb/node-api').then(({ DuckDBInstance }) =>
      DuckDBInstance.create(':memory:'),
    );
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
