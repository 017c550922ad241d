/**
 * Batch SQL, generated from the view definition for Athena (Trino) and DuckDB (sql-dialect.ts):
 * the same rules as the speed layer: one copy per event id (the earliest arrival), only events
 * that arrived before the cutoff, the same buckets, exact decimal sums, and HyperLogLog
 * registers computed from the same MD5 bits as hyperloglog.ts.
 */
import type { BucketRange } from './batch-lineage';
import type { TypedSource } from './archive-source-sql';
import { measureRule, SUM_MAX_ABS, type FieldRule } from './fields';
import { HLL_PRECISION, HLL_RANK_BITS } from './hyperloglog';
import { DIALECTS, jsonPath, sqlString, type Dialect, type SqlDialectName } from './sql-dialect';
import { granularityMs, toIso } from './time';
import { fieldsRead, typedFieldColumns } from './typed-columns';
import type { FilterValue, MeasureKind, ViewDefinition } from './view';

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
