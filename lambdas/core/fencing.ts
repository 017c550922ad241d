import type { NormalizedEvent } from './event';
import { foldEvents, identityRow, type RowState } from './measures';
import {
  encodeKey,
  keyCertainlyFits,
  keyValues,
  matchingKeyText,
  MAX_ENCODED_KEY_BYTES,
  utf8Bytes,
  type CellAddress,
} from './reducer';
import { compareSequence, fenceSequence } from './sequence';
import { bucketStart, granularityMs } from './time';
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
  /** Highest sequence number applied per fence key (fenceSequence: unpadded; rows of earlier versions hold it padded). */
  readonly fences: Readonly<Record<string, string>>;
}

export interface SpeedRowGroup {
  readonly address: SpeedRowAddress;
  /** speedRowId(address), computed once while grouping. */
  readonly id: string;
  /** The batch's events for this row, in stream order. */
  readonly events: readonly NormalizedEvent[];
}

export function speedRowId(address: SpeedRowAddress): string {
  return `${address.view}|${encodeKey(address.key)}|${address.bucketMs}|${address.arrivalBucketMs}`;
}

/**
 * The revision a speed row written after `expected` gets: random when created, then counting up,
 * so a row deleted (a published batch covers it) and created again never repeats a revision that
 * a writer may still hold from before.
 */
export function nextRevision(expected: number | undefined): number {
  // 2^52 leaves 2^52 increments before the largest safe integer.
  return expected === undefined ? 1 + Math.floor(Math.random() * 2 ** 52) : expected + 1;
}

/** Groups a batch by speed row: one write per distinct row, not per event. */
export function groupForSpeed(
  views: readonly ViewDefinition[],
  events: readonly NormalizedEvent[],
  arrivalBucketMs: number,
): SpeedRowGroup[] {
  const groups: { address: SpeedRowAddress; id: string; events: NormalizedEvent[] }[] = [];
  // Per view: rows by event bucket, arrival bucket and key text (matchingKeyText), so an event
  // costs a few lookups and no id string; a row's key, id and size check are made once, when the
  // batch first meets it. null: a key too long to store, skipped as reduce() and the batch skip it.
  const tables = views.map(() => new Map<number, Map<number, Map<string, (typeof groups)[number] | null>>>());
  for (const event of events) {
    const arrival = bucketStart(event.arrivedMs, arrivalBucketMs);
    for (let v = 0; v < views.length; v++) {
      const view = views[v];
      const keyText = matchingKeyText(view, event.body);
      if (keyText === undefined) continue;
      const bucketMs = bucketStart(event.timeMs, granularityMs(view.granularity));
      let byArrival = tables[v].get(bucketMs);
      if (byArrival === undefined) {
        byArrival = new Map();
        tables[v].set(bucketMs, byArrival);
      }
      let byKey = byArrival.get(arrival);
      if (byKey === undefined) {
        byKey = new Map();
        byArrival.set(arrival, byKey);
      }
      let group = byKey.get(keyText);
      if (group === undefined) {
        const key = view.key.length === 1 ? [keyText] : keyValues(view, event.body);
        const encoded = view.key.length === 1 ? encodeKey(key) : keyText;
        if (!keyCertainlyFits(key) && utf8Bytes(encoded) > MAX_ENCODED_KEY_BYTES) {
          group = null;
        } else {
          // The address (the cellOf() of the event, plus its arrival bucket) is built once per row.
          group = {
            address: { view: view.name, key, bucketMs, arrivalBucketMs: arrival },
            id: `${view.name}|${encoded}|${bucketMs}|${arrival}`,
            events: [],
          };
          groups.push(group);
        }
        byKey.set(keyText, group);
      }
      if (group !== null) group.events.push(event);
    }
  }
  return groups;
}

/**
 * Folds into a row only the events above the row's fence for their fence key, and raises the
 * fences. Events at or below a fence were applied by an earlier delivery (a shard's records reach
 * a row in order, and a row's state and fences are written together), so a redelivered batch is
 * a no-op and a partly overlapping retry applies just its new part. Returns undefined when
 * nothing is new (and then `current` is untouched, even with `inPlace`).
 *
 * `inPlace` (see foldEvents): the caller holds `current` alone and discards it unless the
 * returned row is written; its sketches are extended instead of copied.
 */
export function applyToRow(
  view: ViewDefinition,
  current: SpeedRow | undefined,
  events: readonly NormalizedEvent[],
  fenceBy: FenceBy,
  inPlace = false,
): { row: SpeedRow; applied: readonly NormalizedEvent[] } | undefined {
  // A group comes in batch order, which is stream order; sorted only if it is not (no copy otherwise).
  let ordered = events;
  let increasing = true;
  for (let i = 1; i < events.length; i++) {
    const order = compareSequence(events[i - 1].seq, events[i].seq);
    if (order > 0) {
      ordered = [...events].sort((a, b) => compareSequence(a.seq, b.seq));
      increasing = false;
      break;
    }
    if (order === 0) increasing = false;
  }
  if (increasing && events.length > 0 && oneFenceKey(events, fenceBy)) {
    // The usual group: one fence key (fenceBy shard, a batch of one shard), strictly increasing
    // sequence numbers. The records above the fence are then a tail of the group: found with one
    // comparison per record at or below the fence, usually none. The same result as the general
    // loop below, without its per-record fence lookups.
    const keyOfFence = fenceKey(events[0], fenceBy);
    const fence =
      current !== undefined && hasOwn.call(current.fences, keyOfFence)
        ? current.fences[keyOfFence]
        : undefined;
    let first = 0;
    if (fence !== undefined)
      while (first < events.length && compareSequence(events[first].seq, fence) <= 0) first++;
    if (first === events.length) return undefined;
    const applied = first === 0 ? events : events.slice(first);
    const fences: Record<string, string> = { ...(current?.fences ?? {}) };
    fences[keyOfFence] = fenceSequence(events[events.length - 1].seq);
    const bodies: Readonly<Record<string, unknown>>[] = [];
    for (const event of applied) bodies.push(event.body);
    const state = foldEvents(view, current?.state ?? identityRow(view), bodies, inPlace);
    return { row: { state, fences }, applied };
  }
  const fences: Record<string, string> = { ...(current?.fences ?? {}) };
  const applied: NormalizedEvent[] = [];
  // Fences are compared by value (compareSequence ignores leading zeros), stored unpadded.
  // A plain object, not a Map: a row has one or a few fence keys, and no iterator entries per row.
  // No prototype: any fence key, even `__proto__`, is an ordinary own key.
  const raised = Object.create(null) as Record<string, string>;
  for (const event of ordered) {
    const keyOfFence = fenceKey(event, fenceBy);
    const fence = raised[keyOfFence] ?? (hasOwn.call(fences, keyOfFence) ? fences[keyOfFence] : undefined);
    if (fence !== undefined && compareSequence(event.seq, fence) <= 0) continue;
    raised[keyOfFence] = event.seq;
    applied.push(event);
  }
  for (const keyOfFence in raised) fences[keyOfFence] = fenceSequence(raised[keyOfFence]);
  if (applied.length === 0) return undefined;
  const state: RowState = foldEvents(
    view,
    current?.state ?? identityRow(view),
    applied.map((e) => e.body),
    inPlace,
  );
  return { row: { state, fences }, applied };
}

const hasOwn = Object.prototype.hasOwnProperty;

/** Do all the events have the fence key of the first (compared without building the keys)? */
function oneFenceKey(events: readonly NormalizedEvent[], fenceBy: FenceBy): boolean {
  const { shardId, partitionKey } = events[0];
  for (let i = 1; i < events.length; i++) {
    if (events[i].shardId !== shardId) return false;
    if (fenceBy === 'partitionKey' && events[i].partitionKey !== partitionKey) return false;
  }
  return true;
}
