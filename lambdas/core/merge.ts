import { finalizeRow, identityRow, mergeRows, type MeasureValue, type RowState } from './measures';
import type { ViewDefinition } from './view';

/** A batch view cell as read for serving: everything that arrived before the cutoff. */
export interface BatchBucket {
  readonly bucketMs: number;
  readonly state: RowState;
}

/** A speed row as read for serving. */
export interface SpeedBucket {
  readonly bucketMs: number;
  readonly arrivalBucketMs: number;
  readonly state: RowState;
}

export interface ServedBucket {
  readonly start: number;
  readonly state: RowState;
}

/**
 * Batch view ⊕ speed rows. The batch view holds every event that arrived before `cutoffMs`;
 * speed rows are kept per arrival bucket, and the cutoff is aligned to those buckets, so each
 * speed row is wholly before the cutoff (already in the batch view: skipped) or wholly at or
 * after it (added). No event is counted twice and none is missed. With no published batch
 * (`cutoffMs` null) every speed row counts.
 */
export function mergeServing(
  view: ViewDefinition,
  batch: readonly BatchBucket[],
  speed: readonly SpeedBucket[],
  cutoffMs: number | null,
  arrivalBucketMs: number,
): ServedBucket[] {
  return servingInputs(batch, speed, cutoffMs, arrivalBucketMs).map(({ start, parts }) => ({
    start,
    state: parts.reduce((merged, part) => mergeRows(view, merged, part), identityRow(view)),
  }));
}

/**
 * What each served bucket merges, in bucket order: its batch cell first, then its speed rows at
 * or after the cutoff in the order given (the rule of `mergeServing`, which folds these parts).
 * A caller that kept a bucket's answer may reuse it while the parts are the very same states.
 */
export function servingInputs(
  batch: readonly BatchBucket[],
  speed: readonly SpeedBucket[],
  cutoffMs: number | null,
  arrivalBucketMs: number,
): { start: number; parts: RowState[] }[] {
  if (cutoffMs !== null && cutoffMs % arrivalBucketMs !== 0) {
    throw new Error(
      `cutoff ${cutoffMs} is not aligned to the arrival bucket width ${arrivalBucketMs} ms: a speed row would straddle it`,
    );
  }
  const byBucket = new Map<number, RowState[]>();
  const add = (bucketMs: number, state: RowState) => {
    const parts = byBucket.get(bucketMs);
    if (parts) parts.push(state);
    else byBucket.set(bucketMs, [state]);
  };
  if (cutoffMs !== null) for (const cell of batch) add(cell.bucketMs, cell.state);
  for (const row of speed) {
    if (cutoffMs !== null && row.arrivalBucketMs < cutoffMs) continue;
    add(row.bucketMs, row.state);
  }
  return [...byBucket.entries()].sort(([a], [b]) => a - b).map(([start, parts]) => ({ start, parts }));
}

export function finalizeBuckets(
  view: ViewDefinition,
  buckets: readonly ServedBucket[],
): { start: number; measures: Record<string, MeasureValue> }[] {
  return buckets.map((bucket) => ({ start: bucket.start, measures: finalizeRow(view, bucket.state) }));
}

/**
 * The next cutoff: the newest arrival-bucket boundary the archive provably holds everything
 * before, never behind the one already published (a cutoff never moves back).
 */
export function nextCutoff(
  archivedBeforeMs: number,
  arrivalBucketMs: number,
  previousCutoffMs: number | null,
): number {
  const aligned = Math.floor(archivedBeforeMs / arrivalBucketMs) * arrivalBucketMs;
  return previousCutoffMs === null ? aligned : Math.max(aligned, previousCutoffMs);
}
