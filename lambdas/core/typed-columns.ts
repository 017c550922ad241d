import type { ViewDefinition } from './view';

/**
 * The typed columns of the compacted archive and of a typed source (ADR 011, 013, 019): which
 * fields are stored beside the raw line, what their columns are called, and the Glue columns of
 * the cloud's compacted table. One source for every engine: the local compaction (DuckDB), the
 * cloud's (Athena UNLOAD), the batch SQL that reads them, and the Glue table the CDK app declares.
 */

/** A copy's id, arrival, shard, sequence number, event type and event time: what the dedupe and the buckets need. */
export const TYPED_META_COLUMNS = ['eid', 'am', 'shard', 'seq', 'etype', 'tm'] as const;

export type TypedMetaColumn = (typeof TYPED_META_COLUMNS)[number];

/** Each meta column's JSON path in the line, and whether it is an epoch-ms BIGINT. */
export const META_PATHS: Record<TypedMetaColumn, { readonly path: string; readonly ms: boolean }> = {
  eid: { path: '$.id', ms: false },
  am: { path: '$._am', ms: true },
  shard: { path: '$._shard', ms: false },
  seq: { path: '$._seq', ms: false },
  etype: { path: '$.type', ms: false },
  tm: { path: '$._tm', ms: true },
};

/**
 * The column names of a field's text and JSON type in a typed source. Hex-encoded, because DuckDB
 * matches identifiers case-insensitively (fields `userId` and `userid` must not collide), Athena
 * lower-cases them (https://docs.aws.amazon.com/athena/latest/ug/tables-databases-columns-names.html),
 * and a field path may hold dots.
 */
export function typedFieldColumns(field: string): { value: string; type: string } {
  const hex = Array.from(field, (c) => c.charCodeAt(0).toString(16).padStart(2, '0')).join('');
  return { value: `fv_${hex}`, type: `ft_${hex}` };
}

/** Every field a view reads (keys, measure fields, filter fields), each once, in a fixed order. */
export function fieldsRead(view: ViewDefinition): string[] {
  return [
    ...view.key,
    ...Object.values(view.measures).flatMap((spec) => (spec.field === undefined ? [] : [spec.field])),
    ...Object.keys(view.where),
  ].filter((field, i, all) => all.indexOf(field) === i);
}

/**
 * A Glue column name holds at most 255 characters
 * (https://docs.aws.amazon.com/glue/latest/webapi/API_Column.html). A field whose hex column name
 * is longer (a path over 126 characters) is not stored as a column by either engine: it is read
 * from the line, as any field no compaction stored.
 */
export const MAX_COLUMN_NAME_LENGTH = 255;

/**
 * The fields every compaction stores as typed columns and every typed source carries, for these
 * views: each field some view reads, once, sorted. The one place both engines get them from (ADR
 * 019): the local compaction and batch (services/batch-layer.ts), the cloud's compaction
 * (services/cloud-compaction.ts, given them by the batch handler) and the cloud's Glue table
 * (`compactedTableColumns`, lib/constructs/batch-layer.ts).
 */
export function typedFields(views: readonly ViewDefinition[]): string[] {
  return [...new Set(views.flatMap(fieldsRead))]
    .filter((field) => typedFieldColumns(field).value.length <= MAX_COLUMN_NAME_LENGTH)
    .sort();
}

/** A column of the compacted Parquet files, with its Glue (Hive) type. */
export interface CompactedColumn {
  readonly name: string;
  readonly type: 'string' | 'bigint';
}

/**
 * The data columns of the compacted Parquet files written for `fields` (partition columns
 * excluded): the raw line, the meta columns, and each field's text and JSON type code. What the
 * cloud's Glue table declares: Athena reads Parquet columns by name, so a generation written
 * without a column reads it as absent, and the readers never ask such a generation for it
 * (its manifest's `typedFields` says what it holds).
 */
export function compactedTableColumns(fields: readonly string[]): CompactedColumn[] {
  return [
    { name: 'line', type: 'string' },
    ...TYPED_META_COLUMNS.map((name): CompactedColumn => ({
      name,
      type: META_PATHS[name].ms ? 'bigint' : 'string',
    })),
    ...fields.flatMap((field): CompactedColumn[] => {
      const { value, type } = typedFieldColumns(field);
      return [
        { name: value, type: 'string' },
        { name: type, type: 'string' },
      ];
    }),
  ];
}

/** What a compacted generation stores as typed columns: the legacy ones (no `typedFields`) or all meta columns and its fields. */
export interface StoredColumns {
  readonly meta: readonly string[];
  readonly fields: readonly string[];
}

/**
 * The columns a generation's files store, from its manifest's `typedFields`. Absent: a generation
 * written before typed columns (locally before ADR 013, in the cloud before ADR 019), whose files
 * hold `line, tm, am, etype` only; readers extract the rest from the line.
 */
export function storedColumns(typedFieldsOfManifest: readonly string[] | undefined): StoredColumns {
  return typedFieldsOfManifest === undefined
    ? { meta: ['tm', 'am', 'etype'], fields: [] }
    : { meta: [...TYPED_META_COLUMNS], fields: typedFieldsOfManifest };
}
