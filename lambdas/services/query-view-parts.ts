import { mergeServing, type BatchBucket, type SpeedBucket } from '../core/merge';
import { finalizeRow, type MeasureValue } from '../core/measures';
import { toIso } from '../core/time';
import type { ViewDefinition } from '../core/view';
import { answerViewQuery, type HttpResult, type QueryDeps, type ServingRead } from './query-view';

/** One bucket of GET /views/{view}/parts: the served value and the two parts it merges. */
export interface PartsBucket {
  readonly start: string;
  /** What GET /views/{view} serves for this bucket. */
  readonly measures: Record<string, MeasureValue>;
  /** The batch view's cell (events that arrived before the cutoff), or null when it has none. */
  readonly batch: Record<string, MeasureValue> | null;
  /** The speed rows at or after the cutoff, merged, or null when there are none. */
  readonly speed: Record<string, MeasureValue> | null;
}

/**
 * GET /views/{view}/parts: the same read as GET /views/{view}, answered per bucket with the
 * merged value beside its batch part and its speed part (read-only; the dashboard draws them in
 * two colours). Both parts come from the very rows the merged value is computed from, through
 * the same merge, so they cannot disagree with it.
 */
export const queryViewParts = (
  viewName: string,
  params: Readonly<Record<string, string | undefined>>,
  deps: QueryDeps,
): Promise<HttpResult> => answerViewQuery(viewName, params, deps, (view, read) => partsOf(view, read, deps));

function partsOf(view: ViewDefinition, read: ServingRead, deps: QueryDeps): PartsBucket[] {
  const cutoffMs = read.pointer?.cutoffMs ?? null;
  const merge = (batch: readonly BatchBucket[], speed: readonly SpeedBucket[]) =>
    new Map(mergeServing(view, batch, speed, cutoffMs, deps.arrivalBucketMs).map((b) => [b.start, b.state]));
  const merged = merge(read.batchCells, read.speedRows);
  const batchPart = merge(read.batchCells, []);
  const speedPart = merge([], read.speedRows);
  return [...merged].map(([start, state]) => {
    const batch = batchPart.get(start);
    const speed = speedPart.get(start);
    return {
      start: toIso(start),
      measures: finalizeRow(view, state),
      batch: batch ? finalizeRow(view, batch) : null,
      speed: speed ? finalizeRow(view, speed) : null,
    };
  });
}
