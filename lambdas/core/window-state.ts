import type { NormalizedEvent } from './event';
import {
  decodeRow,
  encodeRowText,
  foldEvents,
  identityRow,
  mergeRows,
  type EncodedRow,
  type RowState,
} from './measures';
import { fenceKey, type FenceBy, type SpeedRow, type SpeedRowAddress, type SpeedRowGroup } from './fencing';
import { compareSequence, fenceSequence } from './sequence';
import type { ViewDefinition } from './view';

/**
 * One speed row's delta held in an aggregation window (ADR 012): the fold of the window's kept
 * records of that row, and per fence key the lowest and highest sequence number folded. The row
 * is written when the window is flushed, with the same fence as a batch write (ADR 003): the delta
 * is applied only if the row's fence is below `lo`, and is known applied if the fence reaches `hi`.
 */
export interface PendingRow {
  readonly address: SpeedRowAddress;
  state: RowState;
  readonly lo: Record<string, string>;
  readonly hi: Record<string, string>;
}

/** The rows an aggregation window holds, by speedRowId. */
export type WindowRows = Map<string, PendingRow>;

/**
 * Folds a batch's groups (groupForSpeed of its kept records, in stream order) into the window's
 * rows, in place. Records come to a shard's window in order the first time, so `hi` only grows; a
 * record at or below a row's `hi` is a redelivery already folded and is skipped.
 */
export function foldIntoWindow(
  views: readonly ViewDefinition[],
  rows: WindowRows,
  groups: readonly SpeedRowGroup[],
  fenceBy: FenceBy,
): number {
  let folded = 0;
  for (const group of groups) {
    const view = views.find((v) => v.name === group.address.view) as ViewDefinition;
    let pending = rows.get(group.id);
    const fresh: NormalizedEvent[] = [];
    for (const event of group.events) {
      const key = fenceKey(event, fenceBy);
      const hi = pending?.hi[key];
      if (hi !== undefined && compareSequence(event.seq, hi) <= 0) continue;
      if (pending === undefined) {
        pending = { address: group.address, state: identityRow(view), lo: {}, hi: {} };
        rows.set(group.id, pending);
      }
      if (pending.lo[key] === undefined) pending.lo[key] = event.seq;
      pending.hi[key] = event.seq;
      fresh.push(event);
    }
    if (pending === undefined || fresh.length === 0) continue;
    pending.state = foldEvents(
      view,
      pending.state,
      fresh.map((e) => e.body),
    );
    folded += fresh.length;
  }
  return folded;
}

/** What flushing a pending row into the stored row comes to. */
export type PendingOutcome =
  | { readonly kind: 'apply'; readonly row: SpeedRow }
  /** The row's fences already reach the delta's `hi`: an earlier flush of this very delta landed. */
  | { readonly kind: 'applied' }
  /**
   * A fence inside the delta's range: part of it was written by another delta. Cannot happen while
   * every flushed delta is a whole incoming window state (ADR 012); reported, never guessed at.
   */
  | { readonly kind: 'overlap'; readonly fence: string; readonly fenceKey: string };

/** The fenced write of a window delta: all of it or (already applied) none of it. */
export function applyPending(
  view: ViewDefinition,
  current: SpeedRow | undefined,
  pending: PendingRow,
): PendingOutcome {
  let newKeys = 0;
  let appliedKeys = 0;
  for (const key of Object.keys(pending.hi)) {
    const fence =
      current !== undefined && Object.hasOwn(current.fences, key) ? current.fences[key] : undefined;
    if (fence === undefined || compareSequence(fence, pending.lo[key]) < 0) newKeys++;
    else if (compareSequence(fence, pending.hi[key]) >= 0) appliedKeys++;
    else return { kind: 'overlap', fence, fenceKey: key };
  }
  if (newKeys === 0) return { kind: 'applied' };
  if (appliedKeys > 0) {
    const key = Object.keys(pending.hi).find((k) => Object.hasOwn(current?.fences ?? {}, k)) as string;
    return { kind: 'overlap', fence: (current as SpeedRow).fences[key], fenceKey: key };
  }
  const fences: Record<string, string> = { ...(current?.fences ?? {}) };
  for (const key of Object.keys(pending.hi)) fences[key] = fenceSequence(pending.hi[key]);
  const state = current === undefined ? pending.state : mergeRows(view, current.state, pending.state);
  return { kind: 'apply', row: { state, fences } };
}

/** A window's rows as plain JSON (what the window state carries, before compression). */
export interface EncodedWindowRows {
  readonly v: 1;
  readonly rows: readonly {
    readonly a: SpeedRowAddress;
    readonly id: string;
    readonly m: EncodedRow;
    readonly lo: Record<string, string>;
    readonly hi: Record<string, string>;
  }[];
}

export function encodeWindowRows(rows: WindowRows): string {
  const parts: string[] = [];
  for (const [id, p] of rows)
    parts.push(
      `{"a":${JSON.stringify(p.address)},"id":${JSON.stringify(id)},"m":${encodeRowText(p.state)},"lo":${JSON.stringify(p.lo)},"hi":${JSON.stringify(p.hi)}}`,
    );
  return `{"v":1,"rows":[${parts.join(',')}]}`;
}

/**
 * The inverse of encodeWindowRows. A row of a view no longer defined is an error: the state was
 * written by a deployment with other views, and dropping it would lose events silently.
 */
export function decodeWindowRows(views: readonly ViewDefinition[], text: string): WindowRows {
  const parsed = JSON.parse(text) as EncodedWindowRows;
  if (parsed.v !== 1 || !Array.isArray(parsed.rows))
    throw new Error(
      `aggregation window state is not version 1 (given v=${String(parsed.v)}): drain the stream with the previous deployment first`,
    );
  const rows: WindowRows = new Map();
  for (const r of parsed.rows) {
    const view = views.find((v) => v.name === r.a.view);
    if (view === undefined)
      throw new Error(
        `aggregation window state holds a row of view ${r.a.view}, which is not defined: restore the view until the window is flushed`,
      );
    rows.set(r.id, { address: r.a, state: decodeRow(view, r.m), lo: { ...r.lo }, hi: { ...r.hi } });
  }
  return rows;
}
