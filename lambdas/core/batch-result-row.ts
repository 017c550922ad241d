/** The batch SQL's result rows (batch-sql.ts) read back into view cells, whatever engine returned them. */
import { parseDecimal } from './decimal';
import { HyperLogLog } from './hyperloglog';
import type { MeasureState, RowState } from './measures';
import type { ViewDefinition } from './view';

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
