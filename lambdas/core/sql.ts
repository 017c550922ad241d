import type { BucketRange } from './batch-lineage';
import {
  coveredSources,
  generationFolderOfKey,
  rawSelection,
  type CompactionManifest,
  type RawSelection,
} from './compaction';
import { parseDecimal } from './decimal';
import { measureRule, SUM_MAX_ABS, SUM_SCALE, type FieldRule } from './fields';
import { HyperLogLog, HLL_PRECISION, HLL_RANK_BITS } from './hyperloglog';
import type { MeasureState, RowState } from './measures';
import { granularityMs, toIso } from './time';
import {
  compactedTableColumns,
  fieldsRead,
  META_PATHS,
  storedColumns,
  TYPED_META_COLUMNS,
  typedFieldColumns,
  type StoredColumns,
} from './typed-columns';
import type { FilterValue, MeasureKind, ViewDefinition } from './view';

/**
 * Batch SQL, generated from the view definition for Athena (Trino) and DuckDB. The two dialects
 * differ only in a handful of functions (`Dialect`); the query's shape is the same, and it keeps
 * the same rules as the speed layer: one copy per event id (the earliest arrival), only events
 * that arrived before the cutoff, the same buckets, exact decimal sums, and HyperLogLog
 * registers computed from the same MD5 bits as hyperloglog.ts.
 */
export type SqlDialectName = 'athena' | 'duckdb';

// Re-exported: the typed columns' names are part of the SQL's contract with its callers.
export { fieldsRead, TYPED_META_COLUMNS, typedFieldColumns, type StoredColumns };

interface Dialect {
  /** JSON scalar at a path, as text. */
  json(line: string, path: string): string;
  intDiv(a: string, b: string): string;
  /** Lower-case hex MD5 of a text. */
  md5Hex(text: string): string;
  hexToBigint(hex: string): string;
  /**
   * Comma-joined text aggregate over the rows where `filter` holds, in no particular order: its
   * one use, a sketch's `index:rank` list, is read by raising each register (HyperLogLog.fromSparse),
   * which any order gives alike. Not ordered on purpose: DuckDB keeps an ordered aggregate's input
   * per group in memory it cannot spill, so a full run over 30 days of 50 pages (2.2M cells) ran out
   * of a 256 MB limit, and of 1 GB (bench/batch-incremental.ts 10000000, 2026-12-03).
   */
  joinAgg(expr: string, filter: string): string;
  /** The JSON type at a path as 's' (string), 'n' (number), 'b' (boolean), or NULL (anything else). */
  jsonType(line: string, path: string): string;
  /** Does the text match the regular expression (whole text)? */
  fullMatch(text: string, pattern: string): string;
  /** UTC date (`yyyy-MM-dd`) and hour (`HH`) of an epoch-ms BIGINT: the compacted archive's partitions. */
  utcDate(ms: string): string;
  utcHour(ms: string): string;
  /** A number's text as DECIMAL(38, SUM_SCALE): NULL for text that is not one with `tryCast`, an error without. */
  decimal(text: string, tryCast: boolean): string;
}

/** DuckDB's json_type name as fields.ts's type code: 's', 'b', 'n', or NULL (anything else). */
const DUCKDB_JSON_TYPE_CODE = (jsonType: string) =>
  `CASE ${jsonType} WHEN 'VARCHAR' THEN 's' WHEN 'BOOLEAN' THEN 'b' WHEN 'BIGINT' THEN 'n' WHEN 'UBIGINT' THEN 'n' WHEN 'DOUBLE' THEN 'n' END`;

const DIALECTS: Record<SqlDialectName, Dialect> = {
  duckdb: {
    json: (line, path) => `json_extract_string(${line}, '${path}')`,
    intDiv: (a, b) => `(${a} // ${b})`,
    md5Hex: (text) => `md5(${text})`,
    hexToBigint: (hex) => `CAST(('0x' || ${hex}) AS BIGINT)`,
    joinAgg: (expr, filter) => `string_agg(${expr}, ',') FILTER (WHERE ${filter})`,
    jsonType: (line, path) => DUCKDB_JSON_TYPE_CODE(`json_type(${line}, '${path}')`),
    fullMatch: (text, pattern) => `regexp_full_match(${text}, ${sqlString(pattern)})`,
    utcDate: (ms) => `strftime(epoch_ms(${ms}), '%Y-%m-%d')`,
    utcHour: (ms) => `strftime(epoch_ms(${ms}), '%H')`,
    // DuckDB parses text into a DECIMAL of width 18 or less (an int64) about 100 times faster than
    // into DECIMAL(38, 9) (an int128): 0.04 against 4.6 us a value, measured on 1M values. The
    // narrow cast is NULL past its range (|x| >= 1e9), and only then is the wide one asked; both
    // round text to 9 decimals the same way (test/handlers/duckdb-decimal-cast.test.ts), so the
    // value is the wide cast's. A full run's sums spent most of their time in the wide cast (ADR 016).
    decimal: (text, tryCast) =>
      `coalesce(TRY_CAST(${text} AS DECIMAL(18, ${SUM_SCALE})), ${tryCast ? 'TRY_CAST' : 'CAST'}(${text} AS DECIMAL(38, ${SUM_SCALE})))`,
  },
  athena: {
    json: (line, path) => `json_extract_scalar(${line}, '${path}')`,
    intDiv: (a, b) => `(${a} / ${b})`,
    md5Hex: (text) => `lower(to_hex(md5(to_utf8(${text}))))`,
    hexToBigint: (hex) => `from_base(${hex}, 16)`,
    // FILTER: https://trino.io/docs/current/functions/aggregate.html#filtering-during-aggregation
    joinAgg: (expr, filter) => `array_join(array_agg(${expr}) FILTER (WHERE ${filter}), ',')`,
    // json_format prints a JSON value's text: a string starts with a quote, a number with - or a digit.
    jsonType: (line, path) =>
      `CASE substr(json_format(json_extract(${line}, '${path}')), 1, 1) WHEN '"' THEN 's' WHEN 't' THEN 'b' WHEN 'f' THEN 'b' WHEN '-' THEN 'n' WHEN '0' THEN 'n' WHEN '1' THEN 'n' WHEN '2' THEN 'n' WHEN '3' THEN 'n' WHEN '4' THEN 'n' WHEN '5' THEN 'n' WHEN '6' THEN 'n' WHEN '7' THEN 'n' WHEN '8' THEN 'n' WHEN '9' THEN 'n' END`,
    fullMatch: (text, pattern) => `regexp_like(${text}, ${sqlString(`^(${pattern})$`)})`,
    // from_unixtime(double, zone): https://trino.io/docs/current/functions/datetime.html
    utcDate: (ms) => `format_datetime(from_unixtime(CAST(${ms} AS DOUBLE) / 1000, 'UTC'), 'yyyy-MM-dd')`,
    utcHour: (ms) => `format_datetime(from_unixtime(CAST(${ms} AS DOUBLE) / 1000, 'UTC'), 'HH')`,
    decimal: (text, tryCast) => `${tryCast ? 'TRY_CAST' : 'CAST'}(${text} AS DECIMAL(38, ${SUM_SCALE}))`,
  },
};

/** A number's text as DECIMAL(38, 9) in a dialect, as the sums and the summable rule cast it. */
export function decimalCastSql(dialect: SqlDialectName, text: string, tryCast: boolean): string {
  return DIALECTS[dialect].decimal(text, tryCast);
}

/** An SQL string literal. */
export function sqlString(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/** Paths come from validated views (identifiers only), so they are safe inside a JSON path literal. */
function jsonPath(field: string): string {
  return `$.${field}`;
}

/** The text of each line of local NDJSON files, as every layer reads it. */
const NDJSON_LINES = (files: readonly string[]) =>
  `SELECT CAST(json AS VARCHAR) AS line FROM read_json_objects([${files.map(sqlString).join(', ')}], format = 'newline_delimited')`;

/**
 * DuckDB source over local NDJSON files (the archive folder) and compacted Parquet files (ADR
 * 011, their `line` column only). Yields a column `line`. The caller hands each raw object once:
 * as its NDJSON file or inside a Parquet file, never both.
 */
export function duckdbSource(files: readonly string[], parquet: readonly string[] = []): string {
  const parts: string[] = [];
  if (files.length > 0) parts.push(NDJSON_LINES(files));
  if (parquet.length > 0)
    parts.push(
      `SELECT line FROM read_parquet([${parquet.map(sqlString).join(', ')}], hive_partitioning = false)`,
    );
  if (parts.length === 0) throw new Error('duckdbSource needs at least one file');
  return parts.join('\nUNION ALL\n');
}

/**
 * A source that carries, beside `line`, what the batch SQL would otherwise extract from it (ADR
 * 013): the columns of `TYPED_META_COLUMNS`, and for each field in `fields` its text and JSON type
 * (`typedFieldColumns`). A view that reads a field not in `fields` reads it from `line`, so new
 * views and fields work with no schema change.
 */
export interface TypedSource {
  readonly fields: readonly string[];
  /**
   * Set when the source is keptCopiesSql's result for this cutoff: it holds only each id's kept
   * copy among those that arrived before it, so batchSql does not rank the copies again (ADR 016).
   * batchSql refuses another cutoff: the kept copy depends on it.
   */
  readonly keptBefore?: number;
}

/**
 * DuckDB rows of a typed source (ADR 013) from a relation `from` with a `line` column (and the
 * `stored` typed columns): `line`, the meta columns, then each field's text and JSON type, in that
 * order in every part of a UNION ALL. What is not stored is extracted from the line with the
 * functions the untyped batch SQL uses (json_extract_string, json_type), each given every path at
 * once so a line is parsed once, not once per column (4 times faster on 1M archive lines).
 */
export function duckdbTypedRows(
  fields: readonly string[],
  from: string,
  stored: StoredColumns = { meta: [], fields: [] },
): string {
  const paths: string[] = [];
  const extracted = (path: string) => {
    paths.push(path);
    return `__e[${paths.length}]`;
  };
  const typePaths: string[] = [];
  const columns = [
    'line',
    ...TYPED_META_COLUMNS.map((c) => {
      if (stored.meta.includes(c)) return c;
      const { path, ms } = META_PATHS[c];
      return ms ? `CAST(${extracted(path)} AS BIGINT) AS ${c}` : `${extracted(path)} AS ${c}`;
    }),
    ...fields.flatMap((field) => {
      const { value, type } = typedFieldColumns(field);
      if (stored.fields.includes(field)) return [value, type];
      typePaths.push(jsonPath(field));
      return [
        `${extracted(jsonPath(field))} AS ${value}`,
        `${DUCKDB_JSON_TYPE_CODE(`__t[${typePaths.length}]`)} AS ${type}`,
      ];
    }),
  ];
  if (paths.length === 0) return `SELECT ${columns.join(', ')} FROM ${from}`;
  const lists = [
    `json_extract_string(line, [${paths.map(sqlString).join(', ')}]) AS __e`,
    ...(typePaths.length > 0 ? [`json_type(line, [${typePaths.map(sqlString).join(', ')}]) AS __t`] : []),
  ];
  return `SELECT ${columns.join(', ')} FROM (SELECT *, ${lists.join(', ')} FROM ${from}) lines_parsed`;
}

/**
 * Athena rows of a typed source (ADR 019), the same columns in the same order as
 * `duckdbTypedRows`: the `stored` columns as they are, everything else extracted from the line
 * with exactly the expressions the untyped batch SQL uses (json_extract_scalar and the JSON type
 * code of `Dialect.jsonType`), so a value read from a typed column is the value the line gives.
 * Trino has no one-parse extraction of several paths; a column read from Parquet needs no parse.
 */
export function athenaTypedRows(
  fields: readonly string[],
  from: string,
  stored: StoredColumns = { meta: [], fields: [] },
): string {
  const d = DIALECTS.athena;
  const columns = [
    'line',
    ...TYPED_META_COLUMNS.map((c) => {
      if (stored.meta.includes(c)) return c;
      const { path, ms } = META_PATHS[c];
      return ms ? `CAST(${d.json('line', path)} AS BIGINT) AS ${c}` : `${d.json('line', path)} AS ${c}`;
    }),
    ...fields.flatMap((field) => {
      const { value, type } = typedFieldColumns(field);
      if (stored.fields.includes(field)) return [value, type];
      return [
        `${d.json('line', jsonPath(field))} AS ${value}`,
        `${d.jsonType('line', jsonPath(field))} AS ${type}`,
      ];
    }),
  ];
  return `SELECT ${columns.join(',\n    ')}\n  FROM ${from}`;
}

/**
 * DuckDB typed source (ADR 013): the NDJSON files with every typed column extracted from the line,
 * and groups of compacted Parquet files, each with the meta columns and fields its files store (the
 * rest extracted from their `line`). Every part yields the same columns (`duckdbTypedRows`).
 */
export function duckdbTypedSource(
  fields: readonly string[],
  files: readonly string[],
  parquet: readonly (StoredColumns & { readonly files: readonly string[] })[] = [],
): string {
  const parts: string[] = [];
  if (files.length > 0) parts.push(duckdbTypedRows(fields, `(${NDJSON_LINES(files)}) ndjson_lines`));
  for (const group of parquet)
    if (group.files.length > 0)
      parts.push(
        duckdbTypedRows(
          fields,
          `read_parquet([${group.files.map(sqlString).join(', ')}], hive_partitioning = false)`,
          group,
        ),
      );
  if (parts.length === 0) throw new Error('duckdbTypedSource needs at least one file');
  return parts.join('\nUNION ALL\n');
}

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

/** Where the cloud's archive tables are: the Glue database, the NDJSON and the compacted tables. */
export interface AthenaArchiveTables {
  readonly database: string;
  /** The NDJSON table (partitions `dt`, `hour` by arrival; `"$path"` is each line's object). */
  readonly table: string;
  /** The compacted Parquet table (partitions `g`, `edt`, `ehr`). */
  readonly compactedTable: string;
  /** `s3://<bucket>/<archive prefix>`: what `"$path"` of a raw key starts with. */
  readonly rawLocation: string;
}

const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;
const tableRef = (database: string, table: string) => `${ident(database)}.${ident(table)}`;

/** `(a, b) >= (x, y)` over two text columns, spelled so Athena can prune partitions with it. */
function pairAtLeast(a: string, b: string, x: string, y: string): string {
  return `(${a} > ${sqlString(x)} OR (${a} = ${sqlString(x)} AND ${b} >= ${sqlString(y)}))`;
}
function pairAtMost(a: string, b: string, x: string, y: string): string {
  return `(${a} < ${sqlString(x)} OR (${a} = ${sqlString(x)} AND ${b} <= ${sqlString(y)}))`;
}

/**
 * The SQL condition over the NDJSON table's `dt`, `hour` and `"$path"` that matches exactly the
 * raw objects `selection` takes (https://docs.aws.amazon.com/athena/latest/ug/select.html: `"$path"`
 * is the S3 location of a row's object). Its length grows with the partly taken partitions' keys,
 * not with the whole partitions, which keeps it far below Athena's 262,144-byte query string limit
 * (https://repost.aws/knowledge-center/athena-query-string-length) in steady state.
 */
export function rawSelectionSql(selection: RawSelection, rawLocation: string): string {
  const parts = selection.ranges.map((r) =>
    r.from.dt === r.to.dt && r.from.hour === r.to.hour
      ? `(dt = ${sqlString(r.from.dt)} AND hour = ${sqlString(r.from.hour)})`
      : `(${pairAtLeast('dt', 'hour', r.from.dt, r.from.hour)} AND ${pairAtMost('dt', 'hour', r.to.dt, r.to.hour)})`,
  );
  if (selection.keys.length > 0)
    parts.push(`"$path" IN (${selection.keys.map((k) => sqlString(rawLocation + k)).join(', ')})`);
  return parts.length === 0 ? 'FALSE' : `(${parts.join('\n    OR ')})`;
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

/** An event-hour partition of the compacted archive. */
export interface EventHour {
  readonly edt: string;
  readonly ehr: string;
}

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

/** How far before a reconciliation window the archive is read for earlier copies of an id. */
export const RECONCILE_LOOKBACK_MS = 86_400_000;

/** The compacted archive as one Athena read sees it: the committed generations, and which raw objects no manifest covers. */
export interface AthenaCompactedSnapshot {
  readonly tables: AthenaArchiveTables;
  /** The `g` folders of the committed generations' files. */
  readonly generations: readonly string[];
  /** The raw objects no committed manifest covers (of every raw object listed). */
  readonly uncovered: RawSelection;
  /**
   * The fields each `g` folder's files store as typed columns (its manifest's `typedFields`, ADR
   * 019); a folder not named here holds the columns of generations written before them.
   */
  readonly typedFields?: Readonly<Record<string, readonly string[]>>;
}

/**
 * The snapshot a reader takes from the committed manifests and one listing of the raw archive
 * (relative keys): the generations' folders, the fields each stores, the objects no manifest covers.
 */
export function athenaCompactedSnapshot(
  tables: AthenaArchiveTables,
  manifests: readonly CompactionManifest[],
  listedKeys: readonly string[],
): AthenaCompactedSnapshot {
  const covered = coveredSources(manifests);
  const typedFields: Record<string, readonly string[]> = {};
  for (const m of manifests)
    if (m.typedFields !== undefined)
      for (const f of m.files) typedFields[generationFolderOfKey(f.key)] = m.typedFields;
  return {
    tables,
    generations: [
      ...new Set(manifests.flatMap((m) => m.files.map((f) => generationFolderOfKey(f.key)))),
    ].sort(),
    uncovered: rawSelection(
      listedKeys.filter((k) => !covered.has(k)),
      listedKeys,
    ),
    typedFields,
  };
}

/** More hour ranges than this and the Parquet side is not pruned by event time (the query string stays small). */
const MAX_PRUNED_HOUR_RANGES = 200;

/** The event-hour partitions (inclusive runs) that bucket ranges touch, or null when too many to spell. */
function hourRuns(ranges: readonly BucketRange[]): { from: EventHour; to: EventHour }[] | null {
  const HOUR = 3_600_000;
  const runs = ranges
    .filter((r) => r.toMs > r.fromMs)
    .map((r) => [Math.floor(r.fromMs / HOUR), Math.floor((r.toMs - 1) / HOUR)] as [number, number])
    .sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [];
  for (const run of runs) {
    const last = merged[merged.length - 1];
    if (last && run[0] <= last[1] + 1) last[1] = Math.max(last[1], run[1]);
    else merged.push([...run]);
  }
  if (merged.length > MAX_PRUNED_HOUR_RANGES) return null;
  const hour = (h: number): EventHour => {
    const iso = toIso(h * HOUR);
    return { edt: iso.slice(0, 10), ehr: iso.slice(11, 13) };
  };
  return merged.map(([a, b]) => ({ from: hour(a), to: hour(b) }));
}

/**
 * Athena source over the Glue table of the archive, pruned to the partitions the cutoff can
 * reach (and, for a reconciliation window, to a day before its start: enough to see the
 * earlier copy of a producer retry). With the compacted archive (ADR 011), a UNION ALL of the
 * Parquet table restricted to the committed generations (and, with `eventTimes`, to the event
 * hours they touch) and the NDJSON table restricted to the objects no manifest covers: each
 * raw object is read from exactly one side.
 */
export function athenaSource(
  database: string,
  table: string,
  cutoffMs: number,
  arrivedFromMs?: number,
  compacted?: AthenaCompactedSnapshot,
  eventTimes?: readonly BucketRange[],
  fields?: readonly string[],
): string {
  // With `fields`, a typed source (ADR 019): every part yields the columns of athenaTypedRows,
  // a committed generation's from the columns it stores, everything else from the line.
  const typed = (from: string, stored?: StoredColumns) =>
    fields === undefined ? from : athenaTypedRows(fields, `(${from}) archived`, stored);
  const lastDay = toIso(cutoffMs).slice(0, 10);
  const earliest =
    arrivedFromMs === undefined ? undefined : Math.max(0, arrivedFromMs - RECONCILE_LOOKBACK_MS);
  const first = earliest === undefined ? '' : ` AND dt >= ${sqlString(toIso(earliest).slice(0, 10))}`;
  const raw = `SELECT line FROM ${tableRef(database, table)} WHERE dt <= ${sqlString(lastDay)}${first}`;
  if (compacted === undefined) return typed(raw);
  const parts: string[] = [];
  const { uncovered, generations, tables } = compacted;
  if (uncovered.ranges.length > 0 || uncovered.keys.length > 0)
    parts.push(typed(`${raw}\n  AND ${rawSelectionSql(uncovered, tables.rawLocation)}`));
  if (generations.length > 0) {
    const where = [`am < ${cutoffMs}`];
    if (earliest !== undefined) where.push(`am >= ${earliest}`);
    const runs = eventTimes === undefined ? null : hourRuns(eventTimes);
    if (runs !== null)
      where.push(
        runs.length === 0
          ? 'FALSE'
          : `(${runs
              .map(
                (r) =>
                  `(${pairAtLeast('edt', 'ehr', r.from.edt, r.from.ehr)} AND ${pairAtMost('edt', 'ehr', r.to.edt, r.to.ehr)})`,
              )
              .join('\n    OR ')})`,
      );
    // Untyped: one read of every committed folder. Typed: one per set of stored columns, since a
    // generation is asked only for the columns it stores (a column it lacks reads as NULL in
    // Athena, which is not what its line holds).
    const groups = new Map<string, { stored: StoredColumns; folders: string[] }>();
    for (const g of generations) {
      // Only the requested fields a generation stores tell its part apart: generations that differ
      // in fields no view reads now share one part (the query string is limited to 262,144 bytes,
      // and each part spells its extractions).
      const all = storedColumns(compacted.typedFields?.[g]);
      const stored = { meta: all.meta, fields: all.fields.filter((f) => fields?.includes(f)) };
      const id = fields === undefined ? '' : JSON.stringify(stored);
      const group = groups.get(id) ?? { stored, folders: [] };
      group.folders.push(g);
      groups.set(id, group);
    }
    for (const { stored, folders } of groups.values()) {
      const read = `SELECT ${fields === undefined ? 'line' : '*'} FROM ${tableRef(tables.database, tables.compactedTable)}\nWHERE ${[`g IN (${folders.map(sqlString).join(', ')})`, ...where].join('\n  AND ')}`;
      parts.push(fields === undefined ? read : typed(read, stored));
    }
  }
  // Nothing archived yet: a relation with the right columns and no row.
  return parts.length === 0 ? typed(`${raw} AND FALSE`) : parts.join('\nUNION ALL\n');
}

/**
 * The SQL of fields.ts's rules over a field's text `v` and JSON type `t` (columns of the typed
 * CTE): the same values admitted as `admits()` admits in the reducer.
 */
function fieldRuleSql(d: Dialect, rule: FieldRule, v: string, t: string): string {
  const safe = String(Number.MAX_SAFE_INTEGER);
  switch (rule) {
    case 'scalar':
      // Strings, booleans, and numbers written as integers within +-(2^53 - 1).
      return `(${t} IN ('s', 'b') OR (${t} = 'n' AND ${d.fullMatch(v, '-?[0-9]{1,16}')} AND abs(TRY_CAST(${v} AS BIGINT)) <= ${safe}))`;
    case 'summable':
      // At most 9 decimals: rounding to DECIMAL(38,9) must not change the double, and |x| < 1e18.
      // From 2^53 up every double is an integer (no decimals to lose), and there DuckDB's
      // DECIMAL -> DOUBLE cast is off by an ulp (-33632779082474910 comes back ...908), which
      // dropped values the reducer sums; so the round trip is asked only below 2^53.
      return `(${t} = 'n' AND abs(TRY_CAST(${v} AS DOUBLE)) < ${SUM_MAX_ABS.toExponential().replace('+', '')} AND (abs(TRY_CAST(${v} AS DOUBLE)) >= ${2 ** 53} OR CAST(${d.decimal(v, true)} AS DOUBLE) = TRY_CAST(${v} AS DOUBLE)))`;
    case 'number':
      return `(${t} = 'n')`;
  }
}

/** Typed filter equality (fields.ts filterMatches): same JSON type, same value. */
function filterSql(v: string, t: string, expected: FilterValue): string {
  const type = typeof expected === 'string' ? 's' : typeof expected === 'boolean' ? 'b' : 'n';
  return `(${t} = '${type}' AND ${v} = ${sqlString(String(expected))})`;
}

export interface BatchQuery {
  readonly view: string;
  readonly sql: string;
}

/** The typed columns of an archive line: type, event time, `extra`, and each field's text `f<i>` and JSON type `t<i>`. */
function typedColumns(d: Dialect, fields: readonly string[], extra: readonly string[] = []): string {
  return [
    `${d.json('line', '$.type')} AS etype`,
    `CAST(${d.json('line', '$._tm')} AS BIGINT) AS tm`,
    ...extra,
    ...fields.flatMap((field, i) => [
      `${d.json('line', jsonPath(field))} AS f${i}`,
      `${d.jsonType('line', jsonPath(field))} AS t${i}`,
    ]),
  ].join(',\n    ');
}

/**
 * Each field's text `f<i>` and JSON type `t<i>`, from the typed source's columns where it carries
 * the field, else extracted from `line` (a field no compaction stored yet: ADR 013).
 */
function fieldColumns(d: Dialect, fields: readonly string[], typed: TypedSource): string[] {
  return fields.flatMap((field, i) => {
    if (!typed.fields.includes(field))
      return [
        `${d.json('line', jsonPath(field))} AS f${i}`,
        `${d.jsonType('line', jsonPath(field))} AS t${i}`,
      ];
    const { value, type } = typedFieldColumns(field);
    return [`${value} AS f${i}`, `${type} AS t${i}`];
  });
}

/**
 * The join that keeps the rows whose event-time ms `tm` lies in one of the ranges (disjoint, so a
 * row joins at most one: no row is repeated). Not an OR of the ranges: DuckDB evaluated 40 ranges
 * of an OR over 9,000 events in 1.8 s and ran out of its 256 MB with 189 (an incremental run after
 * late events spread over years has up to MAX_BUCKET_RANGES), where this join takes 0.2 s.
 * Athena takes the same inline table: https://docs.aws.amazon.com/athena/latest/ug/values-statement.html
 */
function rangesJoinSql(tm: string, ranges: readonly BucketRange[]): string {
  const rows = ranges.map((r) => `(${r.fromMs}, ${r.toMs})`).join(', ');
  return `JOIN (VALUES ${rows}) AS wanted (lo, hi) ON ${tm} >= wanted.lo AND ${tm} < wanted.hi`;
}

/**
 * Each id's kept copy (the first in COPY_ORDER) among the copies in a typed `source` (ADR 013)
 * that arrived before `cutoffMs`, with the type, event time, arrival and the text and type columns
 * of `fields`: the dedupe every view of a run would otherwise repeat, computed once, for batchSql
 * given `{ fields, keptBefore: cutoffMs }` (ADR 016). Either dialect: the same window as batchSql's.
 */
export function keptCopiesSql(source: string, cutoffMs: number, fields: readonly string[]): string {
  if (!Number.isSafeInteger(cutoffMs)) throw new Error(`cutoff must be integer epoch ms (given ${cutoffMs})`);
  const columns = ['etype', 'tm', 'am', ...fields.flatMap((f) => Object.values(typedFieldColumns(f)))];
  return `SELECT ${columns.join(', ')} FROM (
  SELECT ${columns.join(', ')}, row_number() OVER (PARTITION BY eid ORDER BY ${COPY_ORDER}) AS copy_rank
  FROM (${source}) src
  WHERE am < ${cutoffMs}
) ranked WHERE copy_rank = 1`;
}

/**
 * The order of an id's copies; the first is kept: the earliest arrival, then shard, then sequence
 * number. Kinesis hands out sequence numbers as decimal text with no leading zero ("Pattern:
 * 0|([1-9]\d{0,128})", https://docs.aws.amazon.com/kinesis/latest/APIReference/API_Record.html and
 * https://docs.aws.amazon.com/kinesis/latest/APIReference/API_SequenceNumberRange.html), so a
 * shorter one is the smaller number and equal lengths compare digit by digit: `(length(seq), seq)`
 * is their numeric order, the order compareSequence gives them, without padding each to 129
 * characters (a sort key that wide was half of a full run's dedupe, ADR 016). Both dialects have
 * `length` (https://trino.io/docs/current/functions/string.html#length).
 */
const COPY_ORDER = 'am, shard, length(seq), seq';

/**
 * The event-time buckets of a view that events arriving in [arrivedFromMs, cutoffMs) fall in,
 * every copy counted (a repeated id may be the kept copy or not: either way its bucket is a
 * candidate). A superset of the cells those arrivals can change: an incremental run recomputes
 * exactly these buckets (ADR 007).
 */
export function touchedBucketsSql(
  view: ViewDefinition,
  dialectName: SqlDialectName,
  source: string,
  arrivedFromMs: number,
  cutoffMs: number,
  typed?: TypedSource,
): BatchQuery {
  for (const [name, ms] of [
    ['arrivedFrom', arrivedFromMs],
    ['cutoff', cutoffMs],
  ] as const)
    if (!Number.isSafeInteger(ms)) throw new Error(`${name} must be integer epoch ms (given ${ms})`);
  const d = DIALECTS[dialectName];
  const width = granularityMs(view.granularity);
  const fields = Object.keys(view.where);
  const filters = [`etype = ${sqlString(view.eventType)}`];
  fields.forEach((field, i) => filters.push(filterSql(`f${i}`, `t${i}`, view.where[field])));
  const sql = `-- view ${view.name}: buckets touched by events that arrived at or after ${toIso(arrivedFromMs)} and before ${toIso(cutoffMs)}
WITH src AS (${source}),
typed AS (
  SELECT ${
    typed === undefined
      ? typedColumns(d, fields, [`CAST(${d.json('line', '$._am')} AS BIGINT) AS am`])
      : ['etype', 'tm', 'am', ...fieldColumns(d, fields, typed)].join(',\n    ')
  }
  FROM src
)
SELECT DISTINCT ${d.intDiv('tm', String(width))} * ${width} AS bucket
FROM typed
WHERE am >= ${arrivedFromMs} AND am < ${cutoffMs}
  AND ${filters.join('\n  AND ')}
ORDER BY bucket`;
  return { view: view.name, sql };
}

/**
 * A plain measure's aggregate in its two shapes: `direct` over events, or `partial` per group of
 * the one-pass query then `fold` over the partials (each a commutative monoid, so the fold of the
 * partials is the aggregate of the events). `fold` gets `only`, which restricts an aggregate call
 * to the rows that carry the partials exactly once.
 */
interface PlainAggregate {
  readonly name: string;
  readonly direct: string;
  readonly partial: string;
  fold(only: (call: string) => string): string;
}

/** An exact decimal sum, as text (DECIMAL(38, 9) in both engines). */
function decimalSum(name: string, decimal: string): PlainAggregate {
  return {
    name,
    direct: `CAST(coalesce(sum(${decimal}), 0) AS VARCHAR)`,
    partial: `sum(${decimal})`,
    fold: (only) => `CAST(coalesce(${only(`sum(${name})`)}, 0) AS VARCHAR)`,
  };
}

/** A count; its partials are summed back to a BIGINT (DuckDB's sum of BIGINT is a HUGEINT). */
function counted(name: string, call: string): PlainAggregate {
  return { name, direct: call, partial: call, fold: (only) => `CAST(${only(`sum(${name})`)} AS BIGINT)` };
}

/**
 * The CTEs that compute a view's plain aggregates and, per distinct value column `values[j]`, its
 * exact count and HyperLogLog registers, in one pass over `ev` (ADR 010).
 *
 * Each event is repeated once per distinct column j (a cross join with a constant VALUES table,
 * which reads nothing), hashed, and grouped by (key, bucket, j, register): max(rank) is the
 * register; count(DISTINCT value) per register adds up to the exact count because equal values
 * hash to the same register. The outer GROUP BY (key, bucket) folds the registers into the sparse
 * text the speed layer also reads, and the plain partials of the j = 0 copy of each event (every
 * event has exactly one) into the plain aggregates.
 */
function distinctPassCtes(
  d: Dialect,
  keys: readonly string[],
  plain: readonly PlainAggregate[],
  values: readonly string[],
): string[] {
  const group = [...keys, 'bucket'].join(', ');
  const pick =
    values.length === 1 ? values[0] : `CASE m.j ${values.map((v, j) => `WHEN ${j} THEN ${v}`).join(' ')} END`;
  const only = (j: number) => (call: string) => `${call} FILTER (WHERE j = ${j})`;
  return [
    `hashed AS (
  SELECT ev.*, m.j, ${pick} AS dv, ${d.md5Hex(pick)} AS h
  FROM ev CROSS JOIN (VALUES ${values.map((_, j) => `(${j})`).join(', ')}) AS m (j)
)`,
    `ranked AS (
  SELECT words.*,
    CASE WHEN w = 0 THEN ${HLL_RANK_BITS + 1} ELSE ${HLL_RANK_BITS} - CAST(floor(log2(w)) AS INTEGER) END AS rnk
  FROM (
    SELECT hashed.*,
      ${d.hexToBigint(`substr(h, 1, ${HLL_PRECISION / 4})`)} AS idx,
      ${d.hexToBigint(`substr(h, ${HLL_PRECISION / 4 + 1}, ${HLL_RANK_BITS / 4})`)} AS w
    FROM hashed
  ) words
)`,
    `part AS (
  SELECT ${[group, 'j', 'idx', 'max(rnk) AS rnk', 'count(DISTINCT dv) AS x', ...plain.map((a) => `${a.partial} AS ${a.name}`)].join(',\n    ')}
  FROM ranked
  GROUP BY ${group}, j, idx
)`,
    `agg AS (
  SELECT ${group},
    ${[
      ...plain.map((a) => `${a.fold(only(0))} AS ${a.name}`),
      ...values.flatMap((_, j) => [
        `CAST(coalesce(${only(j)('sum(x)')}, 0) AS BIGINT) AS d${j}_x`,
        `${d.joinAgg(`CAST(idx AS VARCHAR) || ':' || CAST(rnk AS VARCHAR)`, `j = ${j} AND idx IS NOT NULL`)} AS d${j}_h`,
      ]),
    ].join(',\n    ')}
  FROM part
  GROUP BY ${group}
)`,
  ];
}

/**
 * The SQL computing a view's batch cells from everything that arrived before `cutoffMs`. With
 * `arrivedFromMs`, only the events whose kept copy arrived at or after it: the part of the
 * cells the speed layer holds for that arrival window, to reconcile the two layers.
 *
 * Its rows come in no particular order (callers key cells by key and bucket): DuckDB's final sort
 * of a full run's 2.2M wide rows (sketch texts, decimal sums) failed to pin blocks under a 256 MB
 * limit, and Athena sorts a query's whole result on one node.
 */
export function batchSql(
  view: ViewDefinition,
  dialectName: SqlDialectName,
  source: string,
  cutoffMs: number,
  arrivedFromMs?: number,
  buckets?: readonly BucketRange[],
  typed?: TypedSource,
): BatchQuery {
  if (!Number.isSafeInteger(cutoffMs)) throw new Error(`cutoff must be integer epoch ms (given ${cutoffMs})`);
  const d = DIALECTS[dialectName];
  const width = granularityMs(view.granularity);
  const keys = view.key.map((_, i) => `k${i}`);
  const fields = fieldsRead(view);
  const col = (field: string) => `f${fields.indexOf(field)}`;
  const typ = (field: string) => `t${fields.indexOf(field)}`;
  const valueColumn = (field: string, rule: FieldRule) => `${col(field)}_${rule}`;
  const filters = [`etype = ${sqlString(view.eventType)}`];
  for (const [field, value] of Object.entries(view.where))
    filters.push(filterSql(col(field), typ(field), value));
  // An event whose key breaks the key rule stays out of the view, as reducer.ts matches() keeps it out.
  for (const field of view.key) filters.push(fieldRuleSql(d, 'scalar', col(field), typ(field)));
  // No bucket asked for: no cell. (Buckets asked for are joined in `ev`, after the copies were
  // chosen: a copy outside them still decides.)
  if (buckets !== undefined && buckets.length === 0) filters.push('FALSE');
  const copyRank = `row_number() OVER (PARTITION BY eid ORDER BY ${COPY_ORDER}) AS copy_rank`;
  const keptOnly = `copy_rank = 1${arrivedFromMs === undefined ? '' : ` AND am >= ${arrivedFromMs}`}`;
  const ctes: string[] = [`src AS (${source})`];
  if (typed === undefined) {
    ctes.push(
      `raw AS (
  SELECT line,
    ${d.json('line', '$.id')} AS eid,
    CAST(${d.json('line', '$._am')} AS BIGINT) AS am,
    ${d.json('line', '$._shard')} AS shard,
    ${d.json('line', '$._seq')} AS seq
  FROM src
)`,
      `kept AS (
  SELECT line FROM (
    SELECT line, am, ${copyRank}
    FROM raw WHERE am < ${cutoffMs}
  ) ranked WHERE ${keptOnly}
)`,
      // Each field the view reads, extracted once: its text and its JSON type.
      `typed AS (
  SELECT ${typedColumns(d, fields)}
  FROM kept
)`,
    );
  } else {
    // A typed source (ADR 013) carries each copy's id, arrival, type, time and the fields as
    // columns: the dedupe window moves those narrow columns instead of whole lines, and parses no
    // JSON. A field the source does not carry is read from the line, which then goes along.
    const carried = fields.flatMap((field, i) => (typed.fields.includes(field) ? [i] : []));
    const fromLine = carried.length < fields.length;
    const keptColumns = [
      'etype',
      'tm',
      'am',
      ...carried.flatMap((i) => [`f${i}`, `t${i}`]),
      ...(fromLine ? ['line'] : []),
    ];
    const deduped = typed.keptBefore !== undefined;
    if (deduped && typed.keptBefore !== cutoffMs)
      throw new Error(
        `view ${view.name}: the source holds the copies kept before ${typed.keptBefore}, not before the cutoff ${cutoffMs}: dedupe the source for this cutoff`,
      );
    if (deduped && fromLine)
      throw new Error(
        `view ${view.name}: a deduplicated source carries no line, and does not carry ${fields.filter((f) => !typed.fields.includes(f)).join(', ')}: dedupe it with every field the views read`,
      );
    const rawColumns = [
      ...(deduped ? ['am'] : ['eid', 'am', 'shard', 'seq']),
      'etype',
      'tm',
      ...carried.flatMap((i) => {
        const { value, type } = typedFieldColumns(fields[i]);
        return [`${value} AS f${i}`, `${type} AS t${i}`];
      }),
      ...(fromLine ? ['line'] : []),
    ];
    ctes.push(
      deduped
        ? `kept AS (
  SELECT ${keptColumns.join(', ')}
  FROM (SELECT ${rawColumns.join(', ')} FROM src) raw${arrivedFromMs === undefined ? '' : `\n  WHERE am >= ${arrivedFromMs}`}
)`
        : `kept AS (
  SELECT ${keptColumns.join(', ')} FROM (
    SELECT ${keptColumns.join(', ')}, ${copyRank}
    FROM (SELECT ${rawColumns.join(', ')} FROM src) raw
    WHERE am < ${cutoffMs}
  ) ranked WHERE ${keptOnly}
)`,
      `typed AS (
  SELECT ${[
    'etype',
    'tm',
    ...fields.flatMap((field, i) =>
      typed.fields.includes(field)
        ? [`f${i}`, `t${i}`]
        : [`${d.json('line', jsonPath(field))} AS f${i}`, `${d.jsonType('line', jsonPath(field))} AS t${i}`],
    ),
  ].join(',\n    ')}
  FROM kept
)`,
    );
  }
  ctes.push(
    `ev AS (
  SELECT ${[
    ...view.key.map((field, i) => `${col(field)} AS k${i}`),
    `${d.intDiv('tm', String(width))} * ${width} AS bucket`,
    ...Object.entries(view.measures)
      .filter(([, spec]) => spec.field !== undefined)
      .map(([, spec]) => spec.field as string)
      .filter((field, i, all) => all.indexOf(field) === i)
      .flatMap((field) => {
        const rules = new Set(
          Object.values(view.measures)
            .filter((spec) => spec.field === field && spec.kind !== 'count')
            .map((spec) => measureRule(spec.kind as Exclude<MeasureKind, 'count'>)),
        );
        return [...rules].map(
          (r) =>
            `CASE WHEN ${fieldRuleSql(d, r, col(field), typ(field))} THEN ${col(field)} END AS ${valueColumn(field, r)}`,
        );
      }),
  ].join(',\n    ')}
  FROM typed${buckets === undefined || buckets.length === 0 ? '' : `\n  ${rangesJoinSql('tm', buckets)}`}
  WHERE ${filters.join('\n    AND ')}
)`,
  );
  // One pass over `ev` (Trino inlines a CTE at every reference, so each extra reader of `ev` would
  // scan the archive again): plain aggregates and every distinct measure's registers come out of
  // the same GROUP BY. See distinctPassCtes for how the sketches share it.
  const plain: PlainAggregate[] = [];
  const distinctValues: string[] = [];
  const columns: string[] = [];
  Object.entries(view.measures).forEach(([, spec], i) => {
    // The field's value where the measure's rule admits it, else NULL (skipped, as SQL skips NULLs).
    const value =
      spec.field === undefined || spec.kind === 'count'
        ? ''
        : valueColumn(spec.field, measureRule(spec.kind));
    const decimal = d.decimal(value, false);
    switch (spec.kind) {
      case 'count':
        plain.push(counted(`m${i}`, 'count(*)'));
        columns.push(`m${i}`);
        break;
      case 'sum':
        plain.push(decimalSum(`m${i}`, decimal));
        columns.push(`m${i}`);
        break;
      case 'min':
      case 'max': {
        const agg = `${spec.kind}(CAST(${value} AS DOUBLE))`;
        const name = `m${i}`;
        plain.push({ name, partial: agg, fold: (only) => only(`${spec.kind}(${name})`), direct: agg });
        columns.push(`m${i}`);
        break;
      }
      case 'avg':
        plain.push(decimalSum(`m${i}_s`, decimal), counted(`m${i}_n`, `count(${value})`));
        columns.push(`m${i}_s`, `m${i}_n`);
        break;
      case 'distinct': {
        // Two distinct measures of the same field share one sketch and one exact count.
        if (!distinctValues.includes(value)) distinctValues.push(value);
        const j = distinctValues.indexOf(value);
        columns.push(`d${j}_x AS m${i}_x`, `d${j}_h AS m${i}_h`);
        break;
      }
    }
  });
  if (distinctValues.length === 0) {
    ctes.push(`agg AS (
  SELECT ${keys.join(', ')}, bucket,
    ${plain.map((a) => `${a.direct} AS ${a.name}`).join(',\n    ')}
  FROM ev
  GROUP BY ${keys.join(', ')}, bucket
)`);
  } else {
    ctes.push(...distinctPassCtes(d, keys, plain, distinctValues));
  }
  const window =
    (arrivedFromMs === undefined ? '' : ` and at or after ${toIso(arrivedFromMs)}`) +
    (buckets === undefined ? '' : `, ${buckets.length} bucket range(s)`);
  const sql = `-- view ${view.name}: batch cells of events that arrived before ${toIso(cutoffMs)}${window}
WITH ${ctes.join(',\n')}
SELECT ${[...keys, 'bucket', ...columns].join(', ')}
FROM agg`.replace(/\n\n+/g, '\n');
  return { view: view.name, sql };
}

/** One result row of batchSql, as any engine returns it (numbers, bigints or text). */
export type BatchResultRow = Readonly<Record<string, unknown>>;

function num(value: unknown, column: string): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string' && value.trim() !== '' && !Number.isNaN(Number(value))) return Number(value);
  throw new Error(`batch result column ${column} is not a number (given ${JSON.stringify(String(value))})`);
}

function text(value: unknown): string {
  return typeof value === 'bigint' ? value.toString() : String(value);
}

/** Reads a batch result row back into a view cell (key, bucket, measure states). */
export function batchRowToCell(
  view: ViewDefinition,
  row: BatchResultRow,
): { key: string[]; bucketMs: number; state: RowState } {
  // A key column is never NULL (the key rule admits scalars only), so a missing value is an empty
  // string a result API left out: Athena's GetQueryResults may send '' as a Datum without a value.
  const key = view.key.map((_, i) => text(row[`k${i}`] ?? ''));
  const bucketMs = num(row.bucket, 'bucket');
  const state: Record<string, MeasureState> = {};
  Object.entries(view.measures).forEach(([name, spec], i) => {
    switch (spec.kind) {
      case 'count':
        state[name] = { kind: 'count', n: num(row[`m${i}`], name) };
        break;
      case 'sum':
        state[name] = { kind: 'sum', sum: parseDecimal(text(row[`m${i}`])) };
        break;
      case 'min':
      case 'max': {
        const v = row[`m${i}`];
        state[name] = {
          kind: spec.kind,
          value: v === null || v === undefined || v === '' ? null : num(v, name),
        };
        break;
      }
      case 'avg':
        state[name] = { kind: 'avg', sum: parseDecimal(text(row[`m${i}_s`])), n: num(row[`m${i}_n`], name) };
        break;
      case 'distinct': {
        const exact = num(row[`m${i}_x`], name);
        const sketch = row[`m${i}_h`];
        state[name] = {
          kind: 'distinct',
          sketch: HyperLogLog.fromSparse(typeof sketch === 'string' ? sketch : null),
          exact,
          empty: exact === 0,
        };
        break;
      }
    }
  });
  return { key, bucketMs, state };
}
