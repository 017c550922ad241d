/**
 * The two SQL dialects the batch SQL is generated for, Athena (Trino) and DuckDB: the handful of
 * functions they spell differently (`Dialect`), and the quoting every generated statement uses.
 */
import { SUM_SCALE } from './fields';

export type SqlDialectName = 'athena' | 'duckdb';

export interface Dialect {
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
export const DUCKDB_JSON_TYPE_CODE = (jsonType: string) =>
  `CASE ${jsonType} WHEN 'VARCHAR' THEN 's' WHEN 'BOOLEAN' THEN 'b' WHEN 'BIGINT' THEN 'n' WHEN 'UBIGINT' THEN 'n' WHEN 'DOUBLE' THEN 'n' END`;

export const DIALECTS: Record<SqlDialectName, Dialect> = {
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
export function jsonPath(field: string): string {
  return `$.${field}`;
}

export const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;
export const tableRef = (database: string, table: string) => `${ident(database)}.${ident(table)}`;
