import {
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  StartQueryExecutionCommand,
  StopQueryExecutionCommand,
  type AthenaClient,
} from '@aws-sdk/client-athena';
import type { BucketRange } from '../../core/batch-lineage';
import { loadManifests, type CompactionManifest, type ManifestSource } from '../../core/compaction';
import {
  athenaCompactedSnapshot,
  athenaSource,
  type AthenaArchiveTables,
  type AthenaCompactedSnapshot,
} from '../../core/archive-source-sql';
import { type BatchResultRow } from '../../core/batch-result-row';
import { sqlString } from '../../core/sql-dialect';
import type { AsyncQueries, RawArchiveListing } from '../../ports/cloud-compaction';
import type { QueryEngine } from '../../ports/query-engine';

/** What the engine reads the compacted archive's state from (ADR 011). */
export interface AthenaCompactedArchive {
  readonly manifests: ManifestSource;
  readonly raw: RawArchiveListing;
  readonly tables: AthenaArchiveTables;
}

export interface AthenaQueryEngineOptions {
  readonly workgroup: string;
  readonly database: string;
  readonly table: string;
  /** The handler cancels a query that has scanned more than this (the workgroup's own cutoff applies too). */
  readonly maxBytesScanned: number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Longest wait for one query before it is cancelled. */
  readonly timeoutMs?: number;
  /** The compacted archive: absent, every read is of the NDJSON table. */
  readonly compacted?: AthenaCompactedArchive;
}

/** Athena: start, poll with backoff, paginate the results. Every value comes back as text. */
export class AthenaQueryEngine implements QueryEngine, AsyncQueries {
  readonly dialect = 'athena' as const;
  /**
   * Four at a time: each query waits seconds in Athena whatever its size, so a plan of many views
   * would otherwise wait for them one after another in one Lambda invocation; more would eat into
   * the account's active DML query quota (running and queued queries, per Region; a query past it
   * is refused with TooManyRequestsException: https://docs.aws.amazon.com/athena/latest/ug/service-limits.html),
   * which the run's UNLOADs share.
   */
  readonly concurrentQueries = 4;
  /**
   * With the compacted archive, sources carry the typed columns (ADR 019): committed generations
   * give those they store, the NDJSON tail and older generations extract them from the line.
   * Without it every read is of NDJSON, where typed columns save no byte scanned.
   */
  readonly typedSources: boolean;
  private readonly manifestCache = new Map<string, CompactionManifest>();
  /** The compacted archive as the last cutoff's reads saw it (one listing per run, not per query). */
  private snapshot?: { readonly cutoffMs: number; readonly value: Promise<AthenaCompactedSnapshot> };

  constructor(
    private readonly client: AthenaClient,
    private readonly options: AthenaQueryEngineOptions,
  ) {
    this.typedSources = options.compacted !== undefined;
  }

  /**
   * The archive's arrival-time partitions up to the cutoff; with the compacted archive, its
   * committed generations (pruned to the event hours of `eventTimes`) and the raw objects no
   * manifest covers. The NDJSON side cannot be pruned by event time (partitioned by arrival).
   */
  async source(
    cutoffMs: number,
    arrivedFromMs?: number,
    eventTimes?: readonly BucketRange[],
    _lookbackMs?: number,
    fields?: readonly string[],
  ): Promise<string> {
    const { database, table } = this.options;
    if (!this.options.compacted) return athenaSource(database, table, cutoffMs, arrivedFromMs);
    if (this.snapshot?.cutoffMs !== cutoffMs) {
      const value = this.readSnapshot(this.options.compacted);
      this.snapshot = { cutoffMs, value };
      value.catch(() => (this.snapshot = undefined));
    }
    return athenaSource(
      database,
      table,
      cutoffMs,
      arrivedFromMs,
      await this.snapshot.value,
      eventTimes,
      this.typedSources ? fields : undefined,
    );
  }

  /**
   * One consistent view: the manifests, then the raw objects. A generation committed after the
   * manifests were listed is not read, and its objects are read raw instead: still once each.
   */
  private async readSnapshot(c: AthenaCompactedArchive): Promise<AthenaCompactedSnapshot> {
    const manifests = await loadManifests(c.manifests, this.manifestCache);
    return athenaCompactedSnapshot(c.tables, manifests, await c.raw.listKeys());
  }

  /** Starts a query (SELECT, UNLOAD or DDL) in the workgroup without waiting for it. */
  async start(sql: string): Promise<string> {
    const { QueryExecutionId } = await this.client.send(
      new StartQueryExecutionCommand({
        QueryString: sql,
        WorkGroup: this.options.workgroup,
        QueryExecutionContext: { Database: this.options.database },
      }),
    );
    if (!QueryExecutionId) throw new Error('Athena returned no QueryExecutionId');
    return QueryExecutionId;
  }

  /**
   * Starts `UNLOAD (sql) TO location` in JSON (one object per line, GZIP: Athena's default for
   * JSON), returning the query id without waiting: the batch state machine polls it, so a query
   * longer than one Lambda invocation is no problem (https://docs.aws.amazon.com/athena/latest/ug/unload.html).
   * `location` must be an empty prefix ("s3://bucket/prefix/"), as UNLOAD requires.
   *
   * The batch SQL starts with a `--` comment and a `WITH`: it goes in as a subquery of a plain
   * SELECT, because the documented UNLOAD syntax is `UNLOAD (SELECT ...)`, and Athena's parser
   * refuses a `WITH` directly inside parentheses ("mismatched input 'WITH' expecting {'(',
   * 'SELECT', 'VALUES', 'TABLE'}", https://github.com/Dandandan/dbt-athena/issues/16) while
   * accepting it in a FROM subquery. The newlines end the comment before the closing parenthesis.
   */
  async startUnload(sql: string, location: string): Promise<string> {
    return this.start(`UNLOAD (SELECT * FROM (\n${sql}\n)) TO ${sqlString(location)} WITH (format = 'JSON')`);
  }

  /**
   * Whether every query has succeeded (false while any is queued or running). Throws naming the
   * first that failed or was cancelled; cancels one that scanned more than `maxBytesScanned`.
   */
  async allSucceeded(ids: readonly string[]): Promise<boolean> {
    let done = true;
    for (const id of ids) {
      const { QueryExecution } = await this.client.send(
        new GetQueryExecutionCommand({ QueryExecutionId: id }),
      );
      const state = QueryExecution?.Status?.State;
      const scanned = QueryExecution?.Statistics?.DataScannedInBytes ?? 0;
      if (state === 'FAILED' || state === 'CANCELLED')
        throw new Error(
          `Athena query ${id} ${state}: ${QueryExecution?.Status?.StateChangeReason ?? 'no reason given'}`,
        );
      if (state !== 'SUCCEEDED' && scanned > this.options.maxBytesScanned) {
        await this.client.send(new StopQueryExecutionCommand({ QueryExecutionId: id }));
        throw new Error(
          `Athena query ${id} scanned ${scanned} bytes, over the limit of ${this.options.maxBytesScanned}: cancelled. Raise the limit or compact the archive.`,
        );
      }
      if (state !== 'SUCCEEDED') done = false;
    }
    return done;
  }

  /** Cancels queries still running (a failed run's), ignoring those already finished. */
  async stop(ids: readonly string[]): Promise<void> {
    for (const id of ids)
      await this.client.send(new StopQueryExecutionCommand({ QueryExecutionId: id })).catch(() => undefined);
  }

  async run(sql: string): Promise<BatchResultRow[]> {
    const sleep = this.options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    const QueryExecutionId = await this.start(sql);
    const deadline = Date.now() + (this.options.timeoutMs ?? 14 * 60_000);
    for (let attempt = 0; ; attempt++) {
      const { QueryExecution } = await this.client.send(new GetQueryExecutionCommand({ QueryExecutionId }));
      const state = QueryExecution?.Status?.State;
      const scanned = QueryExecution?.Statistics?.DataScannedInBytes ?? 0;
      if (state === 'SUCCEEDED') break;
      if (state === 'FAILED' || state === 'CANCELLED') {
        throw new Error(
          `Athena query ${QueryExecutionId} ${state}: ${QueryExecution?.Status?.StateChangeReason ?? 'no reason given'}`,
        );
      }
      if (scanned > this.options.maxBytesScanned || Date.now() > deadline) {
        await this.client.send(new StopQueryExecutionCommand({ QueryExecutionId }));
        throw new Error(
          scanned > this.options.maxBytesScanned
            ? `Athena query ${QueryExecutionId} scanned ${scanned} bytes, over the limit of ${this.options.maxBytesScanned}: cancelled. Raise the limit or compact the archive.`
            : `Athena query ${QueryExecutionId} did not finish in time: cancelled`,
        );
      }
      await sleep(Math.min(5000, 200 * 1.5 ** attempt));
    }
    return this.rows(QueryExecutionId);
  }

  /** Every row of a query that succeeded (as text, as Athena returns it). */
  async rows(id: string): Promise<BatchResultRow[]> {
    const rows: BatchResultRow[] = [];
    let columns: string[] | undefined;
    let nextToken: string | undefined;
    do {
      const page = await this.client.send(
        new GetQueryResultsCommand({ QueryExecutionId: id, NextToken: nextToken, MaxResults: 1000 }),
      );
      columns ??= (page.ResultSet?.ResultSetMetadata?.ColumnInfo ?? []).map((c) => c.Name ?? '');
      const data = page.ResultSet?.Rows ?? [];
      // The first row of the first page repeats the column names.
      for (const [i, row] of data.entries()) {
        if (nextToken === undefined && i === 0) continue;
        const values = row.Data ?? [];
        rows.push(Object.fromEntries(columns.map((name, c) => [name, values[c]?.VarCharValue ?? null])));
      }
      nextToken = page.NextToken;
    } while (nextToken);
    return rows;
  }
}
