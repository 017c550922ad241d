import type { NormalizedEvent } from './event';
import { filterMatches, getField, scalarText } from './fields';
import { foldEvents, identityRow, type RowState } from './measures';
import { bucketStart, granularityMs } from './time';
import type { ViewDefinition } from './view';

/** Every `where` field of the view equal in the event (types included, see filterMatches). */
export function passesWhere(view: ViewDefinition, body: Readonly<Record<string, unknown>>): boolean {
  for (const field in view.where) if (!filterMatches(getField(body, field), view.where[field])) return false;
  return true;
}

/**
 * Does the event feed the view: its type, its `where` (passesWhere), and every key field a string,
 * boolean or safe integer whose encoded key fits the stores? Ingestion refuses events the view's
 * type and where admit that fail the key rules; events the archive holds from before the view
 * existed are kept out of it here and in the generated SQL.
 */
export function matches(view: ViewDefinition, body: Readonly<Record<string, unknown>>): boolean {
  if (body.type !== view.eventType || !passesWhere(view, body)) return false;
  for (const field of view.key) if (scalarText(getField(body, field)) === undefined) return false;
  return true;
}

/**
 * matches(view, body) ? a text that identifies the event's key within the view : undefined, in
 * one pass. A one-field key (most views) is its value's text as is, with no array and no JSON;
 * a longer key is encodeKey of its values. For grouping one view's events, not for storing.
 */
export function matchingKeyText(
  view: ViewDefinition,
  body: Readonly<Record<string, unknown>>,
): string | undefined {
  if (body.type !== view.eventType || !passesWhere(view, body)) return undefined;
  if (view.key.length === 1) return scalarText(getField(body, view.key[0]));
  const values: string[] = [];
  for (const field of view.key) {
    const text = scalarText(getField(body, field));
    if (text === undefined) return undefined;
    values.push(text);
  }
  return encodeKey(values);
}

/** The event's key values as text, in the view's key order. */
export function keyValues(view: ViewDefinition, body: Readonly<Record<string, unknown>>): string[] {
  const values: string[] = [];
  for (const field of view.key) {
    const text = scalarText(getField(body, field));
    if (text === undefined) throw new Error(`event lacks key field "${field}" of view "${view.name}"`);
    values.push(text);
  }
  return values;
}

/** Stable text identity of a key tuple (DynamoDB partition keys, map keys). */
export function encodeKey(values: readonly string[]): string {
  return JSON.stringify(values);
}

/**
 * Most UTF-8 bytes a view's encoded key (encodeKey: a JSON array, escapes included) may take.
 * DynamoDB allows 2,048 bytes in a partition key; the tables prefix the encoded key with at most
 * MAX_KEY_PREFIX_BYTES (version, view name, separators), so this leaves a wide margin.
 * Source: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html
 */
export const MAX_ENCODED_KEY_BYTES = 1024;
/** Most bytes any table puts before the encoded key in a partition key (see dynamodb-keys.ts). */
export const MAX_KEY_PREFIX_BYTES = 256;
export const DYNAMODB_MAX_PARTITION_KEY_BYTES = 2048;

/** UTF-8 bytes of a key as the stores encode it. */
export function encodedKeyBytes(values: readonly string[]): number {
  return utf8Bytes(encodeKey(values));
}

/** UTF-8 length without encoding (a surrogate pair is one 4-byte code point). */
export function utf8Bytes(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * Can the key not exceed MAX_ENCODED_KEY_BYTES whatever its characters? Encoded, a UTF-16 unit
 * takes at most 6 bytes (`\u001f`, or 3 UTF-8 bytes doubled by nothing longer), plus the brackets,
 * quotes and commas: short keys, nearly all, skip encoding and counting.
 */
export function keyCertainlyFits(values: readonly string[]): boolean {
  let units = 0;
  for (const value of values) units += value.length;
  return units * 6 + values.length * 3 + 1 <= MAX_ENCODED_KEY_BYTES;
}

/** Why a key cannot be stored, or undefined when it can. */
export function keyProblem(view: ViewDefinition, values: readonly string[]): string | undefined {
  if (keyCertainlyFits(values)) return undefined;
  const bytes = encodedKeyBytes(values);
  if (bytes <= MAX_ENCODED_KEY_BYTES) return undefined;
  return `makes view "${view.name}"'s key ${bytes} bytes long as stored (JSON array of the key values, UTF-8); the limit is ${MAX_ENCODED_KEY_BYTES}`;
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
      if (keyProblem(view, address.key) !== undefined) continue; // refused at the door; old archives may hold it
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
