import type { ManifestSource } from '../core/compaction';
import type { BatchResultRow } from '../core/batch-result-row';

/** The compacted prefix of the archive bucket (ADR 011), keys relative to it. */
export interface CompactedObjects extends ManifestSource {
  /** Every object under `prefix` with its size in bytes. */
  listSized(prefix: string): Promise<readonly { readonly key: string; readonly bytes: number }[]>;
  /** Writes `text` at `key`, replacing what is there. */
  putText(key: string, text: string): Promise<void>;
  /** Creates `key` holding `text` unless it exists; false when it existed (S3 `If-None-Match: *`). */
  createIfAbsent(key: string, text: string): Promise<boolean>;
}

/** The raw (NDJSON) archive's object keys, relative to its prefix (`dt=.../hour=.../<name>`). */
export interface RawArchiveListing {
  listKeys(): Promise<readonly string[]>;
}

/**
 * Queries that run asynchronously (Athena): started by one step, checked by later ones, so no
 * Lambda waits for a long query (the batch state machine polls between steps).
 */
export interface AsyncQueries {
  /** Starts a query (SELECT, UNLOAD or DDL) and returns its id without waiting. */
  start(sql: string): Promise<string>;
  /** The rows of a query that succeeded. */
  rows(id: string): Promise<BatchResultRow[]>;
}
