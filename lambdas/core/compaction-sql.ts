/**
 * The compaction of the archive's NDJSON objects into Parquet (ADR 011) as SQL: DuckDB's COPY
 * locally, and in the cloud Athena's UNLOAD of a generation, its partitions' registration and
 * the per-file statistics its manifest records.
 */
import {
  athenaTypedRows,
  duckdbTypedRows,
  NDJSON_LINES,
  rawSelectionSql,
  type AthenaArchiveTables,
  type EventHour,
} from './archive-source-sql';
import type { RawSelection } from './compaction';
import { DIALECTS, sqlString, tableRef, type Dialect } from './sql-dialect';
import { compactedTableColumns } from './typed-columns';

/**
 * The rows of the compacted archive (ADR 011) from a relation of raw lines `lines`, in either
 * dialect: each row keeps the raw line, so views and fields added later read it with no schema
 * change; event time, arrival time and type are typed columns beside it (file statistics and
 * pruning), then the partition columns, event date and hour (UTC), last as UNLOAD requires.
 */
function compactedRowsSql(d: Dialect, lines: string): string {
  return `SELECT line, tm, am, etype, ${d.utcDate('tm')} AS edt, ${d.utcHour('tm')} AS ehr
  FROM (
    SELECT line,
      CAST(${d.json('line', '$._tm')} AS BIGINT) AS tm,
      CAST(${d.json('line', '$._am')} AS BIGINT) AS am,
      ${d.json('line', '$.type')} AS etype
    FROM (${lines}) raw_lines
  ) typed_lines`;
}

/**
 * DuckDB's compaction of NDJSON archive objects into Parquet under `outDir`, one folder per
 * event date and hour (`edt=yyyy-MM-dd/ehr=HH`, UTC; ADR 011): an incremental run recomputes
 * buckets of minutes, so the hour is the unit it reads; a reader prunes by the files' time ranges
 * in the manifest. Rows are not sorted (the cloud's UNLOAD sorts them): with the typed columns a
 * generation's sort ran out of the runtime's 256 MB (a 64 MiB generation of 1M bench events, ADR
 * 015), and within an hour's file the order bought no pruning a run uses.
 */
export function compactionSql(files: readonly string[], outDir: string, fields?: readonly string[]): string {
  const d = DIALECTS.duckdb;
  // With `fields` (ADR 013): the meta columns and those fields' text and type stored as typed
  // columns beside the line, so a batch run reads them without parsing JSON.
  const rows =
    fields === undefined
      ? compactedRowsSql(d, NDJSON_LINES(files))
      : `SELECT *, ${d.utcDate('tm')} AS edt, ${d.utcHour('tm')} AS ehr
  FROM (${duckdbTypedRows(fields, `(${NDJSON_LINES(files)}) raw_lines`)}) typed_lines`;
  return `COPY (
  ${rows}
) TO ${sqlString(outDir)} (FORMAT parquet, PARTITION_BY (edt, ehr), COMPRESSION zstd)`;
}

/** The compacted rows of the raw objects `selection` takes, read from the NDJSON table. */
function athenaCompactedRows(t: AthenaArchiveTables, selection: RawSelection): string {
  return compactedRowsSql(
    DIALECTS.athena,
    `SELECT line FROM ${tableRef(t.database, t.table)} WHERE ${rawSelectionSql(selection, t.rawLocation)}`,
  );
}

/**
 * The compacted rows of the raw objects `selection` takes with typed columns for `fields` (ADR
 * 019): the columns of `compactedTableColumns(fields)`, which the Glue table declares, then the
 * event date and hour partition columns.
 */
function athenaTypedCompactedRows(
  t: AthenaArchiveTables,
  selection: RawSelection,
  fields: readonly string[],
): string {
  const d = DIALECTS.athena;
  const lines = `SELECT line FROM ${tableRef(t.database, t.table)} WHERE ${rawSelectionSql(selection, t.rawLocation)}`;
  return `SELECT ${compactedTableColumns(fields)
    .map((c) => c.name)
    .join(', ')}, ${d.utcDate('tm')} AS edt, ${d.utcHour('tm')} AS ehr
  FROM (
  ${athenaTypedRows(fields, `(${lines}) raw_lines`)}
  ) typed_lines`;
}

/** The event date and hour partitions a generation's rows fall in, with their row counts. */
export function athenaCompactionPartitionsSql(t: AthenaArchiveTables, selection: RawSelection): string {
  return `-- compaction: the event-hour partitions of the objects to compact
SELECT edt, ehr, count(*) AS n
FROM (
  ${athenaCompactedRows(t, selection)}
) rows_to_compact
GROUP BY edt, ehr
ORDER BY edt, ehr`;
}

/** UNLOAD writes at most this many partitions (https://docs.aws.amazon.com/athena/latest/ug/unload.html). */
export const UNLOAD_MAX_PARTITIONS = 100;

/**
 * One UNLOAD of a generation: the rows of the objects `selection` takes that fall in `partitions`
 * (at most 100), as ZSTD Parquet partitioned by event date and hour under `location` (an empty
 * prefix, `s3://.../`), ordered by event time within each file.
 */
export function athenaCompactionUnloadSql(
  t: AthenaArchiveTables,
  selection: RawSelection,
  partitions: readonly EventHour[],
  location: string,
  fields?: readonly string[],
): string {
  if (partitions.length === 0 || partitions.length > UNLOAD_MAX_PARTITIONS)
    throw new Error(
      `an UNLOAD writes 1 to ${UNLOAD_MAX_PARTITIONS} partitions (given ${partitions.length}): split the generation's partitions first`,
    );
  const which = partitions
    .map((p) => `(edt = ${sqlString(p.edt)} AND ehr = ${sqlString(p.ehr)})`)
    .join('\n    OR ');
  // With `fields` (ADR 019) the files store the typed columns the local compaction stores;
  // without, the columns of generations written before (line, tm, am, etype).
  const columns =
    fields === undefined ? ['line', 'tm', 'am', 'etype'] : compactedTableColumns(fields).map((c) => c.name);
  const rows =
    fields === undefined ? athenaCompactedRows(t, selection) : athenaTypedCompactedRows(t, selection, fields);
  return `UNLOAD (
  SELECT ${[...columns, 'edt', 'ehr'].join(', ')}
  FROM (
  ${rows}
  ) rows_to_compact
  WHERE ${which}
  ORDER BY tm, am
) TO ${sqlString(location)} WITH (format = 'PARQUET', compression = 'ZSTD', partitioned_by = ARRAY['edt', 'ehr'])`;
}

/** A partition of the compacted table to register, and the folder its files are in. */
export interface CompactedPartition extends EventHour {
  /** The generation folder (`g=` value). */
  readonly g: string;
  /** `s3://.../` of the partition's files. */
  readonly location: string;
}

/**
 * Registers partitions of the compacted table (Athena DDL: Hive identifiers in backticks). IF NOT
 * EXISTS makes a retry a no-op; every folder is new to its attempt, so no partition is ever
 * re-pointed (https://docs.aws.amazon.com/athena/latest/ug/alter-table-add-partition.html).
 */
export function athenaAddPartitionsSql(
  t: AthenaArchiveTables,
  partitions: readonly CompactedPartition[],
): string {
  if (partitions.length === 0) throw new Error('athenaAddPartitionsSql needs at least one partition');
  const hive = (name: string) => `\`${name.replace(/`/g, '``')}\``;
  return `ALTER TABLE ${hive(t.database)}.${hive(t.compactedTable)} ADD IF NOT EXISTS
${partitions
  .map(
    (p) =>
      `  PARTITION (g = ${sqlString(p.g)}, edt = ${sqlString(p.edt)}, ehr = ${sqlString(p.ehr)}) LOCATION ${sqlString(p.location)}`,
  )
  .join('\n')}`;
}

/** Per file of a generation folder: its rows and event/arrival time ranges (what its manifest entry holds). */
export function athenaCompactedStatsSql(t: AthenaArchiveTables, g: string): string {
  return `SELECT "$path" AS path, count(*) AS n, min(tm) AS min_tm, max(tm) AS max_tm, min(am) AS min_am, max(am) AS max_am
FROM ${tableRef(t.database, t.compactedTable)}
WHERE g = ${sqlString(g)}
GROUP BY "$path"`;
}
