import type { NormalizedEvent } from './event';
import { applyToRow, type FenceBy } from './fencing';
import { getField, scalarText } from './fields';
import { foldEvents, identityRow, mergeRows, type RowState } from './measures';
import { cellId, cellOf, keyProblem, matches, type CellAddress } from './reducer';
import type { ViewDefinition } from './view';

/**
 * The Kappa architecture's serving data: complete cells (view, key, event-time bucket) kept per
 * version. A version is built by a replay of the archive (arrivals before its handoff) and kept
 * current by the live processor (arrivals at or after it). Pure: no clock, no store.
 */

/** The arrival-time span a version counts: [fromMs, toMs), toMs null = open (live). */
export interface ArrivalRange {
  readonly fromMs: number;
  readonly toMs: number | null;
}

/** One built (or being built) version of one view, with the definition it was built with. */
export interface KappaVersion {
  readonly version: number;
  /** Arrivals before this came from the replay; at or after it, from the live processor. */
  readonly handoffMs: number;
  readonly range: ArrivalRange;
  /** The definition the version was built with: what it serves, whatever the views module says now. */
  readonly definition: ViewDefinition;
  readonly replayId: string;
}

/** The pointer of one view: what is served, what rollback returns to, what a replay is building. */
export interface KappaViewPointer {
  readonly active: KappaVersion | null;
  readonly previous: KappaVersion | null;
  readonly building: KappaVersion | null;
}

/** A replay as recorded beside the pointers: what it builds and how it ended. */
export interface ReplayRecord {
  readonly replayId: string;
  readonly version: number;
  readonly views: readonly string[];
  readonly handoffMs: number;
  readonly range: ArrivalRange;
  readonly status: 'running' | 'finished' | 'failed';
  readonly startedAt: number;
  readonly finishedAt?: number;
  readonly error?: string;
  /**
   * The Step Functions execution that started it (cloud only): a start step that failed after
   * recording the replay fails it by this id, or it would stay `running` with nothing running it.
   */
  readonly executionId?: string;
  /**
   * Cells to delete now that the replay ended: the versions its flip dropped, or the versions it
   * was building when it failed. Deleted by the drop step (dropReplayCells) after the flip, over
   * as many invocations as a large table takes; emptied once done.
   */
  readonly dropped?: readonly DroppedVersion[];
}

/** One view's cells of one version, to be deleted. */
export interface DroppedVersion {
  readonly view: string;
  readonly version: number;
}

/**
 * Every view's pointer and the newest replay, kept in one control item: starting a replay (refused
 * while one runs) and recording its handoff is one conditional write, and so is a flip or a
 * rollback of several views.
 */
export interface KappaPointers {
  readonly views: Readonly<Record<string, KappaViewPointer>>;
  readonly replay: ReplayRecord | null;
  /** Revision of the control item (the condition of the next write); 0 before the first write. */
  readonly revision: number;
  /**
   * Set anew by every write (a random id): a writer whose conditional write was refused tells its
   * own write, landed with its answer lost, from another writer's identical one by it.
   */
  readonly writeId?: string;
}

export const NO_POINTERS: KappaPointers = { views: {}, replay: null, revision: 0 };

/**
 * A view's pointer, own members only: a view may be named `constructor` or `toString`, which a
 * plain lookup finds on Object.prototype (found by the hostile-input suite: the processor then
 * read `.version` of an inherited function's missing `active` and dead-lettered every batch).
 */
export function viewPointer(
  views: Readonly<Record<string, KappaViewPointer>>,
  name: string,
): KappaViewPointer | undefined {
  return Object.hasOwn(views, name) ? views[name] : undefined;
}

/** A stored Kappa cell: state plus its two kinds of fences. */
export interface KappaCell {
  readonly state: RowState;
  /** Live writes: highest sequence number applied per fence key (shard or shard|partition key), unpadded (fenceSequence). */
  readonly fences: Readonly<Record<string, string>>;
  /** Replay writes: the chunks (archive objects) already folded in, so a re-run chunk is a no-op. */
  readonly chunks: readonly string[];
}

/**
 * Same definition? Compared on what changes a served value (a renamed view is another view).
 * Property order does not matter: definitions survive JSON round trips through the control table.
 */
export function sameDefinition(a: ViewDefinition, b: ViewDefinition): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * Does the event feed this version? Ingestion and the archive validate events against the views
 * module of their time; a version built with an older (or newer) definition, or a replay of events
 * archived before the view existed, may meet events that no door checked for it. They are read by
 * the rules every layer shares (README "Events archived before a view existed"): an event whose
 * key breaks the key rules (not a scalar, or too long to store, as the speed and batch layers skip
 * it) stays out of the view; a measure value that breaks its measure's rule counts as missing for
 * that measure alone (the fold skips it, as the batch SQL does), so the event still counts. The
 * replay and the live processor both ask this, so they agree and neither can fail on accepted input.
 */
export function feeds(view: ViewDefinition, body: Readonly<Record<string, unknown>>): boolean {
  if (!matches(view, body)) return false;
  const key: string[] = [];
  for (const field of view.key) {
    const text = scalarText(getField(body, field));
    if (text === undefined) return false;
    key.push(text);
  }
  return keyProblem(view, key) === undefined;
}

/** Does version `v` count an event that arrived at `arrivedMs` through the live processor? */
export function liveCovers(v: KappaVersion, arrivedMs: number): boolean {
  return (
    arrivedMs >= v.handoffMs &&
    arrivedMs >= v.range.fromMs &&
    (v.range.toMs === null || arrivedMs < v.range.toMs)
  );
}

/** Does version `v` count an event that arrived at `arrivedMs` through its replay (the archive part)? */
export function replayCovers(v: KappaVersion, arrivedMs: number): boolean {
  return (
    arrivedMs < v.handoffMs &&
    arrivedMs >= v.range.fromMs &&
    (v.range.toMs === null || arrivedMs < v.range.toMs)
  );
}

/** The versions the live processor keeps current: active, previous (exact rollback) and building. */
export function liveTargets(pointers: KappaPointers): KappaVersion[] {
  const out: KappaVersion[] = [];
  for (const pointer of Object.values(pointers.views)) {
    const seen = new Set<number>();
    for (const v of [pointer.active, pointer.previous, pointer.building]) {
      if (v === null || seen.has(v.version)) continue;
      seen.add(v.version);
      out.push(v);
    }
  }
  return out;
}

export interface KappaCellGroup {
  readonly view: ViewDefinition;
  readonly address: CellAddress;
  readonly events: NormalizedEvent[];
}

/** Groups events by the cells of one version they feed: one write per cell, not per event. */
export function groupForVersion(
  v: KappaVersion,
  events: Iterable<NormalizedEvent>,
  covers: (v: KappaVersion, arrivedMs: number) => boolean,
): KappaCellGroup[] {
  const view = v.definition;
  const groups = new Map<string, KappaCellGroup>();
  for (const event of events) {
    if (!covers(v, event.arrivedMs) || !feeds(view, event.body)) continue;
    const address = cellOf(view, event);
    const id = cellId(address);
    let group = groups.get(id);
    if (!group) groups.set(id, (group = { view, address, events: [] }));
    group.events.push(event);
  }
  return [...groups.values()];
}

/**
 * Live write rule: the speed layer's fences (only records above the cell's fence for their shard
 * are folded in), so a redelivered or partly overlapping batch is a no-op for what it already
 * applied. Returns undefined when nothing is new.
 */
export function applyLive(
  view: ViewDefinition,
  current: KappaCell | undefined,
  events: readonly NormalizedEvent[],
  fenceBy: FenceBy,
): { cell: KappaCell; applied: number } | undefined {
  const result = applyToRow(
    view,
    current ? { state: current.state, fences: current.fences } : undefined,
    events,
    fenceBy,
  );
  if (!result) return undefined;
  return {
    cell: { state: result.row.state, fences: result.row.fences, chunks: current?.chunks ?? [] },
    applied: result.applied.length,
  };
}

/**
 * Replay write rule: a chunk's pre-aggregated state is folded into a cell once; the chunk id is the
 * fence. Returns undefined when the cell already holds the chunk (a re-run chunk).
 */
export function applyChunk(
  view: ViewDefinition,
  current: KappaCell | undefined,
  chunkId: string,
  state: RowState,
): KappaCell | undefined {
  if (current?.chunks.includes(chunkId)) return undefined;
  return {
    state: mergeRows(view, current?.state ?? identityRow(view), state),
    fences: current?.fences ?? {},
    chunks: [...(current?.chunks ?? []), chunkId],
  };
}

/** Pre-aggregates a chunk's events into one state per cell of one version (the reducer's fold). */
export function preAggregate(
  v: KappaVersion,
  events: Iterable<NormalizedEvent>,
): { address: CellAddress; state: RowState; events: number }[] {
  return groupForVersion(v, events, replayCovers).map((g) => ({
    address: g.address,
    state: foldEvents(
      g.view,
      identityRow(g.view),
      g.events.map((e) => e.body),
    ),
    events: g.events.length,
  }));
}
