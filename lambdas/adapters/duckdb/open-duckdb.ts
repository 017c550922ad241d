import type { DuckDBInstance } from '@duckdb/node-api';
import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { TextDecoder } from 'node:util';
import { processRunning } from '../../runtime/process-running';

/** How much memory the embedded DuckDB may hold, and where it spills the rest. */
export interface DuckDbMemoryOptions {
  /**
   * DuckDB's `memory_limit`: past it, sorts, windows, aggregates and joins spill to
   * `tempDirectory` instead of growing. DuckDB's own default is 80% of the machine's RAM
   * (https://duckdb.org/docs/2.0/operations_manual/limits.html; it bounds the buffer manager
   * only, not every allocation), and a batch run's dedupe window over the recent archive (about
   * 1 GB of NDJSON at 1,000 events/s) took 1.3 GB of RSS that way, in a runtime that shares the
   * machine. Settings: https://duckdb.org/docs/configuration/overview
   * @default '256MB'
   */
  readonly memoryLimit?: string;
  /**
   * DuckDB's worker threads. Its default, one per core, let a batch run take both of a 2-core
   * machine's cores from the emulators and the speed layer, and each thread pins its own blocks:
   * with 2 threads the batch run's window failed under a 256 MB limit ("failed to pin block"),
   * with 1 it ran within it (peak RSS 457 MB over 40 minutes of archive at 1,000 events/s).
   * @default 1
   */
  readonly threads?: number;
  /**
   * Folder DuckDB spills to; it must not exist yet: DuckDB creates it and removes it on close.
   * @default - a new folder under the OS temp folder
   */
  readonly tempDirectory?: string;
}

export const DEFAULT_DUCKDB_MEMORY_LIMIT = '256MB';

/**
 * Rows a partitioned COPY buffers before it writes them out, at first (see openDuckDb): a
 * compaction that runs out of memory with it is run again with fewer (DuckDbQueryEngine).
 */
export const PARTITIONED_WRITE_FLUSH_ROWS = 20_000;

const SPILL_PREFIX = 'streamfold-duckdb-';

/**
 * Deletes the spill folders of processes that no longer run. DuckDB removes its folder on close,
 * but a runtime killed (`kill -9`, the soak's stop) leaves it, with up to the spilled size in it.
 */
export function removeStaleSpillFolders(dir: string = tmpdir()): string[] {
  const removed: string[] = [];
  for (const name of readdirSync(dir)) {
    const pid = new RegExp(`^${SPILL_PREFIX}(\\d+)-[0-9a-f]{8}$`).exec(name)?.[1];
    if (pid === undefined || Number(pid) === process.pid || processRunning(Number(pid))) continue;
    rmSync(path.join(dir, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

/**
 * An in-memory DuckDB whose text results keep a leading U+FEFF.
 *
 * @duckdb/node-api decodes every VARCHAR with one shared `new TextDecoder()`, which drops a
 * byte-order mark at the start of each string: the keys "\uFEFFa" and "a" came back as the same
 * text, so a batch run wrote one cell twice (DynamoDB: "Provided list of item keys contains
 * duplicates") and served the first key's counts under the second. The speed layer, replay and
 * the cloud's Athena keep the mark, so the local batch must too: the shared decoder is replaced by
 * one with `ignoreBOM: true`, and a probe proves it took effect before any query runs.
 */
export async function openDuckDb(memory: DuckDbMemoryOptions = {}): Promise<DuckDBInstance> {
  // Loaded lazily: the native module is only present where DuckDB is the engine (never in a Lambda bundle).
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const accessors = (await import('@duckdb/node-api/lib/vectors/dataAccessors.js')) as {
    default?: { textDecoder?: TextDecoder };
    textDecoder?: TextDecoder;
  };
  // The CommonJS module object itself (a namespace import's copy of it cannot be assigned).
  const target = accessors.default ?? accessors;
  if ('textDecoder' in target) target.textDecoder = new TextDecoder('utf-8', { ignoreBOM: true });
  if (memory.tempDirectory === undefined) removeStaleSpillFolders();
  const instance = await DuckDBInstance.create(':memory:', {
    memory_limit: memory.memoryLimit ?? DEFAULT_DUCKDB_MEMORY_LIMIT,
    threads: String(memory.threads ?? 1),
    temp_directory:
      memory.tempDirectory ??
      path.join(tmpdir(), `${SPILL_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`),
    // DuckDB allocates through its own jemalloc, which keeps freed pages until a later allocation
    // purges them, and its background threads are off by default
    // (https://duckdb.org/docs/stable/core_extensions/jemalloc.html): a batch run under the 256 MB
    // limit left the process 350 to 430 MB larger until the next run. With them on, that memory
    // goes back to the OS within seconds of the run (test/handlers/duckdb-memory-limit.test.ts).
    allocator_background_threads: 'true',
    // A compaction's COPY ... PARTITION_BY (edt, ehr) buffers rows per event hour until this many
    // rows are held in all, and each open hour costs buffers of its own: a generation of 100,000
    // events spread over 30 days (720 hours, as after a downtime or with late events) ran out of
    // the 256 MB limit at DuckDB's default of 524,288 (bench/batch-incremental.ts); flushing every
    // 20,000 rows compacts it (https://duckdb.org/docs/stable/configuration/overview). Generations
    // with fewer rows an hour need fewer still: the compaction retries with less (copyWithinMemory).
    partitioned_write_flush_threshold: String(PARTITIONED_WRITE_FLUSH_ROWS),
  });
  const connection = await instance.connect();
  try {
    const probe = (await connection.runAndReadAll(`SELECT chr(65279) || 'a' AS s`)).getRowObjectsJS();
    if (probe[0]?.s !== '\uFEFFa') {
      instance.closeSync();
      throw new Error(
        'this version of @duckdb/node-api drops a leading U+FEFF from text results, which would merge batch keys that differ only by it: pin @duckdb/node-api to the version in package-lock.json, or update the decoder workaround in lambdas/adapters/duckdb/open-duckdb.ts',
      );
    }
  } finally {
    connection.closeSync();
  }
  return instance;
}
