import { finalizeRow, identityRow, mergeRows, type MeasureValue, type RowState } from '../core/measures';
import { encodeKey } from '../core/reducer';
import type { ViewDefinition } from '../core/view';

interface Answer {
  readonly parts: readonly RowState[];
  readonly measures: Record<string, MeasureValue>;
}

/**
 * The served measures of each bucket a query function answered, with the states they were
 * merged from. A bucket whose parts are the very same state objects as last time (the batch
 * cell from the cache of its published version, the speed rows from the decoded-row cache,
 * which hands out the same object while the row is unchanged) gets the same answer without
 * merging its sketches and estimating them again. States are never mutated (the merge builds new
 * ones), so the same objects mean the same values; a changed, added or dropped part is a
 * different list and the bucket is merged again.
 *
 * Bounded by the number of buckets held; the first-answered go first.
 */
export class ServedBucketMemo {
  private readonly answers = new Map<string, Answer>();
  hits = 0;
  misses = 0;

  /** @param maxBuckets buckets held at most. @default 200,000 */
  constructor(private readonly maxBuckets = 200_000) {}

  /** The served measures of bucket `start` of `key` in `view`, merged from `parts` (batch cell first, then speed rows). */
  measures(
    view: ViewDefinition,
    key: readonly string[],
    start: number,
    parts: readonly RowState[],
  ): Record<string, MeasureValue> {
    const id = `${view.name}|${encodeKey(key)}|${start}`;
    const held = this.answers.get(id);
    if (held !== undefined && sameParts(held.parts, parts)) {
      this.hits++;
      return held.measures;
    }
    this.misses++;
    const measures = finalizeRow(
      view,
      parts.reduce((merged, part) => mergeRows(view, merged, part), identityRow(view)),
    );
    if (held !== undefined) this.answers.delete(id);
    this.answers.set(id, { parts: [...parts], measures });
    for (const oldest of this.answers.keys()) {
      if (this.answers.size <= this.maxBuckets) break;
      this.answers.delete(oldest);
    }
    return measures;
  }

  /** Buckets held now. */
  get size(): number {
    return this.answers.size;
  }
}

function sameParts(a: readonly RowState[], b: readonly RowState[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
