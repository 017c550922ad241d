import type { NormalizedEvent } from './event';
import { getField, scalarText } from './fields';
import { foldEvents, identityRow, type RowState } from './measures';
import { bucketStart, granularityMs } from './time';
import type { ViewDefinition } from './view';

/** Does the event feed the view (its type, and every `where` field equal)? */
export function matches(view: ViewDefinition, body: Readonly<Record<string, unknown>>): boolean {
  if (body.type !== view.eventType) return false;
  for (const [field, expected] of Object.entries(view.where)) {
    if (scalarText(getField(body, field)) !== scalarText(expected)) return false;
  }
  return true;
}

/** The event's key values as text, in the view's key order. */
export function keyValues(view: ViewDefinition, body: Readonly<Record<string, unknown>>): string[] {
  return view.key.map((field) => {
    const text = scalarText(getField(body, field));
    if (text === undefined) throw new Error(`event lacks key field "${field}" of view "${view.name}"`);
    return text;
  });
}

/** Stable text identity of a key tuple (DynamoDB partition keys, map keys). */
export function encodeKey(values: readonly string[]): string {
  return JSON.stringify(values);
}

/** A view's cell: one key, one event-time bucket. */
export interface CellAddress {
  readonly view: string;
  readonly key: readonly string[];
  readonly bucketMs: number;
}

export function cellId(cell: CellAddress): string {
  return `${cell.view}|${encodeKey(cell.key)}|${cell.bucketMs}`;
}

export function cellOf(view: ViewDefinition, event: NormalizedEvent): CellAddress {
  return {
    view: view.name,
    key: keyValues(view, event.body),
    bucketMs: bucketStart(event.timeMs, granularityMs(view.granularity)),
  };
}

export interface Cell extends CellAddress {
  readonly state: RowState;
}

/**
 * Folds events into one partial aggregate per (view, key, bucket): N events cost one state per
 * distinct cell. Events are taken as given: deduplication is the caller's rule (see dedupe.ts).
 */
export function reduce(
  views: readonly ViewDefinition[],
  events: Iterable<NormalizedEvent>,
): Map<string, Cell> {
  const groups = new Map<
    string,
    { view: ViewDefinition; address: CellAddress; bodies: Readonly<Record<string, unknown>>[] }
  >();
  for (const event of events) {
    for (const view of views) {
      if (!matches(view, event.body)) continue;
      const address = cellOf(view, event);
      const id = cellId(address);
      const group = groups.get(id) ?? { view, address, bodies: [] };
      group.bodies.push(event.body);
      groups.set(id, group);
    }
  }
  const cells = new Map<string, Cell>();
  for (const [id, { view, address, bodies }] of groups)
    cells.set(id, { ...address, state: foldEvents(view, identityRow(view), bodies) });
  return cells;
}
