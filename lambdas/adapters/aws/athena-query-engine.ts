import {
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  StartQueryExecutionCommand,
  StopQueryExecutionCommand,
  type AthenaClient,
} from '@aws-sdk/client-athena';
import { athenaSource, sqlString, type BatchResultRow } from '../../core/sql';
import type { QueryEngine } from '../../ports/query-engine';

export interface AthenaQueryEngineOptions {
  readonly workgroup: string;
  readonly database: string;
  readonly table: string;
  /** The handler cancels a query that has scanned more than this (the workgroup's own cutoff applies too). */
  readonly maxBytesScanned: number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Longest wait for one query before it is cancelled. */
  readonly timeoutMs?: number;
}

/** Athena: start, poll with backoff, paginate the results. Every value comes back as text. */
export class AthenaQueryEngine implements QueryEngine {
  readonly dialect = 'athena' as const;

  constructor(
    private readonly client: AthenaClient,
    private readonly options: AthenaQueryEngineOptions,
  ) {}

  /**
   * The archive's arrival-time partitions up to the cutoff. Event-time ranges are not used: an
   * NDJSON archive partitioned by arrival has nothing to prune them by (the whole archive).
   */
  async source(cutoffMs: number, arrivedFromMs?: number): Promise<string> {
    return athenaSource(this.options.database, this.options.table, cutoffMs, arrivedFromMs);
  }

  /**
   * Starts `UNLOAD (sql) TO location` in JSON (one object per line, GZIP: Athena's default for
   * JSON), returning the query id without waiting: the batch state machine polls it, so a query
   * longer than one Lambda invocation is no problem (https://docs.aws.amazon.com/athena/latest/ug/unload.html).
   * `location` must be an empty prefix ("s3://bucket/prefix/"), as UNLOAD requires.
   */
  async startUnload(sql: string, location: string): Promise<string> {
    const { QueryExecutionId } = await this.client.send(
      new StartQueryExecutionCommand({
        QueryString: `UNLOAD (${sql}\n) TO ${sqlString(location)} WITH (format = 'JSON')`,
        WorkGroup: this.options.workgroup,
        QueryExecutionContext: { Database: this.options.database },
      }),
    );
    if (!QueryExecutionId) throw new Error('Athena returned no QueryExecutionId');
    return QueryExecutionId;
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
    const { QueryExecutionId } = await this.client.send(
      new StartQueryExecutionCommand({
        QueryString: sql,
        WorkGroup: this.options.workgroup,
        QueryExecutionContext: { Database: this.options.database },
      }),
    );
    if (!QueryExecutionId) throw new Error('Athena returned no QueryExecutionId');
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
    const rows: BatchResultRow[] = [];
    let columns: string[] | undefined;
    let nextToken: string | undefined;
    do {
      const page = await this.client.send(
        new GetQueryResultsCommand({ QueryExecutionId, NextToken: nextToken, MaxResults: 1000 }),
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
