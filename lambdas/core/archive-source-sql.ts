/**
 * The archive as the batch SQL reads it, in either dialect: DuckDB over the local NDJSON and
 * compacted Parquet files, Athena over the Glue tables of the S3 archive, each optionally typed
 * (ADR 013, 019: the fields the views read as columns beside the line).
 */
import type { BucketRange } from './batch-lineage';
import {
  coveredSources,
  generationFolderOfKey,
  rawSelection,
  type CompactionManifest,
  type RawSelection,
} from './compaction';
import { DIALECTS, DUCKDB_JSON_TYPE_CODE, jsonPath, sqlString, tableRef } from './sql-dialect';
import { toIso } from './time';
import {
  META_PATHS,
  storedColumns,
  TYPED_META_COLUMNS,
  typedFieldColumns,
  type StoredColumns,
} from './typed-columns';

/** The text of each line of local NDJSON files, as every layer reads it. */
export const NDJSON_LINES = (files: readonly string[]) =>
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

/** `(a, b) >= (x, y)` over two text columns, spelled so Athena can prune partitions with it. */
export function pairAtLeast(a: string, b: string, x: string, y: string): string {
  return `(${a} > ${sqlString(x)} OR (${a} = ${sqlString(x)} AND ${b} >= ${sqlString(y)}))`;
}
export function pairAtMost(a: string, b: string, x: string, y: string): string {
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

/** An event-hour partition of the compacted archive. */
export interface EventHour {
  readonly edt: string;
  readonly ehr: string;
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
