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

  constructor(private readonly archiveDir: string) {}

  async source(): Promise<string | null> {
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
