import type { BucketRange } from '../core/batch-lineage';
import type { BatchResultRow } from '../core/batch-result-row';
import type { SqlDialectName } from '../core/sql-dialect';

/**
 * The batch layer's query engine: Athena in the cloud, DuckDB locally. The only port with two
 * adapters; both run SQL generated from the same view definition (core/batch-sql.ts).
 */
export interface QueryEngine {
  readonly dialect: SqlDialectName;
  /**
   * True when `source` really leaves out what `eventTimes` excludes (a query over fewer bytes);
   * otherwise a read pruned that way costs an extra query for nothing.
   */
  readonly prunesByEventTime?: boolean;
  /**
   * True when every source carries the typed columns of archive-source-sql.ts's `TypedSource` for the
   * `fields` it was asked for (ADR 013), so the batch SQL reads them instead of parsing `line`.
   */
  readonly typedSources?: boolean;
  /**
   * The SQL relation (a SELECT yielding one text column `line`) over the archive for a run with
   * this cutoff (and reconciliation window start), or null when the archive holds no events yet.
   * With `eventTimes`, the relation may leave out archive objects that hold no event in those
   * ranges (callers widen them by core's COPY_TIME_HORIZON_MS, so the kept copy of an id whose
   * retries were stamped anew is not left out); an engine
   * that cannot tell returns the whole archive. With `arrivedFromMs`, lines that arrived more
   * than `lookbackMs` (default RECONCILE_LOOKBACK_MS, a day: an earlier copy of an id) before it
   * may be left out; 0 when only the window's own lines matter (the touched buckets count every
   * copy). An engine may return more than asked. `fields`: the fields the queries over it read,
   * which an engine with `typedSources` carries as typed columns (others ignore it).
   */
  source(
    cutoffMs: number,
    arrivedFromMs?: number,
    eventTimes?: readonly BucketRange[],
    lookbackMs?: number,
    fields?: readonly string[],
  ): Promise<string | null>;
  /**
   * How many queries a run starts at once where it has several independent ones (a view's touched
   * buckets in the plan, its reconciliation at publish): Athena runs each on its own capacity,
   * while one embedded DuckDB shares its memory limit between them.
   * @default 1
   */
  readonly concurrentQueries?: number;
  /** Runs one query and returns every row. */
  run(sql: string): Promise<BatchResultRow[]>;
  /**
   * Runs one query and hands its rows to `onRows` a chunk at a time, each chunk awaited before the
   * next is read, so a caller that writes and forgets each chunk holds one chunk, not the result:
   * a full run's 2.2 million cells of one view took gigabytes of heap as one array.
   * @default - callers use `run` (every row at once)
   */
  runInChunks?(sql: string, onRows: (rows: BatchResultRow[]) => Promise<void>): Promise<void>;
  /**
   * Runs a SELECT once and keeps its rows for the queries of this run: returns a relation (a
   * SELECT) reading them, and `release`, which frees them (call it when the run's queries are
   * done, whatever happened). An engine that cannot keep rows between queries leaves it out: the
   * cloud's Athena runs each view's query as it is (ADR 016).
   */
  materialize?(sql: string): Promise<{ readonly source: string; release(): Promise<void> }>;
}
