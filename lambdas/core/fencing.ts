import type { NormalizedEvent } from './event';
import { foldEvents, identityRow, type RowState } from './measures';
import { cellOf, encodeKey, matches, MAX_ENCODED_KEY_BYTES, utf8Bytes, type CellAddress } from './reducer';
import { padSequence } from './sequence';
import { bucketStart } from './time';
import type { ViewDefinition } from './view';

/**
 * What a speed row's fences are kept per. `shard` suits ParallelizationFactor 1 (Lambda
 * processes a shard's records in order); with a higher factor, Lambda only keeps the order per
 * partition key, so the fence must be per shard and partition key (one fence per key on a row).
 */
export type FenceBy = 'shard' | 'partitionKey';

export function fenceKey(event: NormalizedEvent, fenceBy: FenceBy): string {
  return fenceBy === 'shard' ? event.shardId : `${event.shardId}|${event.partitionKey}`;
}

/**
 * A speed row: one view cell, one arrival-time bucket. Keeping arrival buckets apart lets the
 * serving merge drop exactly the part that a published batch cutoff covers.
 */
export interface SpeedRowAddress extends CellAddress {
  readonly arrivalBucketMs: number;
}

export interface SpeedRow {
  readonly state: RowState;
  /** Highest sequence number applied per fence key, zero-padded to 129 digits. */
  readonly fences: Readonly<Record<string, string>>;
}

export interface SpeedRowGroup {
  readonly address: SpeedRowAddress;
  /** The batch's events for this row, in stream order. */
  readonly events: readonly NormalizedEvent[];
}

export function speedRowId(address: SpeedRowAddress): string {
  return `${address.view}|${encodeKey(address.key)}|${address.bucketMs}|${address.arrivalBucketMs}`;
}

/** Groups a batch by speed row: one write per distinct row, not per event. */
export function groupForSpeed(
  views: readonly ViewDefinition[],
  events: readonly NormalizedEvent[],
  arrivalBucketMs: number,
): SpeedRowGroup[] {
  const groups = new Map<string, { address: SpeedRowAddress; events: NormalizedEvent[] }>();
  for (const event of events) {
    for (const view of views) {
      if (!matches(view, event.body)) continue;
      const cell = cellOf(view, event);
      // The key encoded once: its size check (as reduce() and the batch layer skip) and the row id.
      const encoded = encodeKey(cell.key);
      if (utf8Bytes(encoded) > MAX_ENCODED_KEY_BYTES) continue;
      const arrival = bucketStart(event.arrivedMs, arrivalBucketMs);
      const id = `${view.name}|${encoded}|${cell.bucketMs}|${arrival}`;
      let group = groups.get(id);
      if (group === undefined) {
        group = { address: { ...cell, arrivalBucketMs: arrival }, events: [] };
        groups.set(id, group);
      }
      group.events.push(event);
    }
  }
  return [...groups.values()];
}

/**
 * Folds into a row only the events above the row's fence for their fence key, and raises the
 * fences. Events at or below a fence were applied by an earlier delivery (a shard's records reach
 * a row in order, and a row's state and fences are written together), so a redelivered batch is
 * a no-op and a partly overlapping retry applies just its new part. Returns undefined when
 * nothing is new.
 */
export function applyToRow(
  view: ViewDefinition,
  current: SpeedRow | undefined,
  events: readonly NormalizedEvent[],
  fenceBy: FenceBy,
): { row: SpeedRow; applied: NormalizedEvent[] } | undefined {
  const fences: Record<string, string> = { ...(current?.fences ?? {}) };
  const applied: NormalizedEvent[] = [];
  const ordered = events
    .map((event) => ({ event, seq: padSequence(event.seq) }))
    .sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));
  for (const { event, seq } of ordered) {
    const keyOfFence = fenceKey(event, fenceBy);
    const fence = fences[keyOfFence];
    if (fence !== undefined && seq <= fence) continue;
    fences[keyOfFence] = seq;
    applied.push(event);
  }
  if (applied.length === 0) return undefined;
  const state: RowState = foldEvents(
    view,
    current?.state ?? identityRow(view),
    applied.map((e) => e.body),
  );
  return { row: { state, fences }, applied };
}
