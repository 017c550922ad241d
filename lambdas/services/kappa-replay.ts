import { createHash, randomUUID } from 'node:crypto';
import { fromArchiveLine, type NormalizedEvent } from '../core/event';
import {
  applyChunk,
  feeds,
  sameDefinition,
  viewPointer,
  type KappaPointers,
  type DroppedVersion,
  type KappaVersion,
  type KappaViewPointer,
  type ReplayRecord,
} from '../core/kappa';
import { foldEvents, identityRow, type RowState } from '../core/measures';
import { copyOrderKey } from '../core/dedupe';
import { compareSequence } from '../core/sequence';
import { cellId, cellOf, type CellAddress } from '../core/reducer';
import type { ViewDefinition } from '../core/view';
import type { ArchiveWatermark } from '../ports/archive';
import type { Clock } from '../ports/clock';
import type { ArchiveReader, KappaCellStore, KappaControlStore, ReplayCopyClaims } from '../ports/kappa';
import { forEachLimit } from './speed-layer';

/** A writable copy of the pointers with no prototype: a view named `__proto__` is a member like any other. */
function pointerCopy(views: Readonly<Record<string, KappaViewPointer>>): Record<string, KappaViewPointer> {
  return Object.assign(Object.create(null) as Record<string, KappaViewPointer>, views);
}

export interface ReplayDeps {
  /** The views module: what a replay builds (each version records the definition it was built with). */
  readonly views: readonly ViewDefinition[];
  readonly cells: KappaCellStore;
  readonly control: KappaControlStore;
  /** Claims of event ids across chunks (the dedupe table, keys scoped by replay; ADR 024). */
  readonly claims: ReplayCopyClaims;
  readonly archive: ArchiveReader;
  readonly watermark: ArchiveWatermark;
  readonly clock: Clock;
  /** How far in the future the handoff is set: covers clock skew and the processor's pointer reads. */
  readonly handoffDelayMs: number;
  /** Prefix of accepted events in the archive bucket (what the state machine's ItemReader lists). */
  readonly archivePrefix: string;
  readonly concurrency?: number;
  readonly maxWriteAttempts?: number;
  /**
   * How far before a range's `from` the replay reads the archive for earlier copies: an event
   * first sent before `from` is not the range's, even when a retry arrived inside it. The Kappa
   * processor's dedupe window (its claims drop retries that long after the first copy), so the
   * archive part and the live part decide alike. @default RANGE_COPY_WINDOW_MS (7 days)
   */
  readonly copyWindowMs?: number;
}

/** The Kappa processor's default dedupe window (DEFAULT_DEDUPE_WINDOW_SECONDS.global, 7 days). */
export const RANGE_COPY_WINDOW_MS = 7 * 86_400_000;

/** Thrown by `start` while another replay runs (the admin route answers 409). */
export class ReplayInProgressError extends Error {
  constructor(readonly running: ReplayRecord) {
    super(
      `replay ${running.replayId} (version ${running.version} of ${running.views.join(', ')}) is still running; wait for it or let it fail`,
    );
    this.name = 'ReplayInProgress';
  }
}

/** A request that cannot be served as given (the admin route answers 400). */
export class ReplayRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReplayRequestError';
  }
}

/** Nothing to roll back to (409). */
export class NothingToRollBackError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NothingToRollBack';
  }
}

const WRITE_ATTEMPTS = 20;

/**
 * Read-modify-write of the control item, retried when another writer got there first. A refused
 * write may be this one, landed: the SDK resends a request whose answer was lost, and the resent
 * conditional put fails on its own write. Applying the change again on top of it would start a
 * replay that then refuses itself (409, its replay never run) or roll back twice (back where it
 * was, while answering that it rolled back). So a refusal is checked first: the item one revision
 * on, carrying this write's own `writeId`, is this write. Comparing the content instead took
 * another writer's identical change for this one: of two rollbacks sent at once, both answered
 * that they rolled back and the pointers swapped once (found by a black-box probe, 2026-12-04).
 */
async function updateControl<T>(
  deps: Pick<ReplayDeps, 'control'>,
  change: (current: KappaPointers) => { next: Omit<KappaPointers, 'revision'>; result: T } | { result: T },
): Promise<T> {
  for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
    const current = await deps.control.read();
    const outcome = change(current);
    if (!('next' in outcome)) return outcome.result;
    const writeId = randomUUID();
    if (await deps.control.write({ ...outcome.next, writeId }, current.revision)) return outcome.result;
    const after = await deps.control.read();
    if (after.revision === current.revision + 1 && after.writeId === writeId) return outcome.result;
  }
  throw new Error(`the Kappa control item kept changing under ${WRITE_ATTEMPTS} attempts`);
}

/** Views of the module that have no active version, or whose active version was built with another definition. */
export function pendingViews(
  views: readonly ViewDefinition[],
  pointers: KappaPointers,
): { view: string; reason: 'not built' | 'definition changed' }[] {
  const out: { view: string; reason: 'not built' | 'definition changed' }[] = [];
  for (const view of views) {
    const active = viewPointer(pointers.views, view.name)?.active;
    if (!active) out.push({ view: view.name, reason: 'not built' });
    else if (!sameDefinition(active.definition, view))
      out.push({ view: view.name, reason: 'definition changed' });
  }
  return out;
}

export interface StartRequest {
  readonly views?: readonly string[];
  readonly fromMs?: number;
  readonly toMs?: number;
  /** The execution starting it (ReplayRecord.executionId). */
  readonly executionId?: string;
}

export interface StartResult {
  readonly replayId: string;
  readonly version: number;
  readonly handoffMs: number;
  readonly prefix: string;
}

/**
 * Starts a replay: takes a version number and, in one conditional write (refused while another
 * replay runs), records the replay and each view's building version with the handoff H a little in
 * the future. From then on the processor writes records that arrive at or after H into the new
 * version too; the replay covers what arrived before H from the archive.
 */
export async function startReplay(request: StartRequest, deps: ReplayDeps): Promise<StartResult> {
  const names =
    request.views && request.views.length > 0 ? [...new Set(request.views)] : deps.views.map((v) => v.name);
  const unknown = names.filter((n) => !deps.views.some((v) => v.name === n));
  if (unknown.length > 0) {
    throw new ReplayRequestError(
      `unknown view(s) ${unknown.join(', ')}; the views module declares ${deps.views.map((v) => v.name).join(', ')}`,
    );
  }
  const fromMs = request.fromMs ?? 0;
  const toMs = request.toMs ?? null;
  if (toMs !== null && toMs <= fromMs) throw new ReplayRequestError('to must be after from');
  const running = (await deps.control.read()).replay;
  if (running?.status === 'running') {
    if (request.executionId !== undefined && running.executionId === request.executionId)
      return startAgain(running, deps);
    throw new ReplayInProgressError(running);
  }
  const version = await deps.control.nextVersion();
  const replayId = `replay-${version}`;
  const handoffMs = deps.clock.now() + deps.handoffDelayMs;
  const record: ReplayRecord = {
    replayId,
    version,
    views: names,
    handoffMs,
    range: { fromMs, toMs },
    status: 'running',
    startedAt: deps.clock.now(),
    ...(request.executionId !== undefined ? { executionId: request.executionId } : {}),
  };
  await updateControl(deps, (current) => {
    if (current.replay?.status === 'running') throw new ReplayInProgressError(current.replay);
    const views = pointerCopy(current.views);
    for (const name of names) {
      const definition = deps.views.find((v) => v.name === name) as ViewDefinition;
      const pointer = viewPointer(views, name) ?? { active: null, previous: null, building: null };
      views[name] = {
        ...pointer,
        building: { version, handoffMs, range: record.range, definition, replayId },
      };
    }
    return { next: { views, replay: record }, result: undefined };
  });
  // The processor must see the building version before any record arriving at or after H: if the
  // write itself took longer than the delay, records may already have passed. Refuse this replay
  // rather than build a version missing them.
  if (deps.clock.now() >= handoffMs) {
    await failReplay(replayId, 'the handoff passed before it was recorded (slow control table write)', deps);
    throw new Error(
      `replay ${replayId} could not record its handoff in time (the control table write took over ${deps.handoffDelayMs} ms): start it again, or raise the handoff delay`,
    );
  }
  await deps.control.setProgress(replayId, { reset: true, phase: 'waiting-for-archive' });
  return { replayId, version, handoffMs, prefix: deps.archivePrefix };
}

/**
 * The start of the execution that recorded `running`, run again: Step Functions retries Lambda's
 * service errors, which can come after the function ran (its answer lost). The replay it recorded
 * goes on if its handoff was recorded in time: certainly so if the handoff is still ahead, or if
 * the first start got as far as its progress write (made after that check); else it is failed,
 * as the first start would have failed it.
 */
async function startAgain(running: ReplayRecord, deps: ReplayDeps): Promise<StartResult> {
  const { replayId, version, handoffMs } = running;
  const progressWritten = (await deps.control.readProgress(replayId)).phase !== null;
  if (!progressWritten) {
    if (deps.clock.now() >= handoffMs) {
      await failReplay(
        replayId,
        'the handoff passed before it was known to be recorded (a start retried)',
        deps,
      );
      throw new Error(
        `replay ${replayId}: its start was retried after the handoff and cannot tell whether the handoff was recorded in time: start it again`,
      );
    }
    await deps.control.setProgress(replayId, { reset: true, phase: 'waiting-for-archive' });
  }
  return { replayId, version, handoffMs, prefix: deps.archivePrefix };
}

function runningReplay(pointers: KappaPointers, replayId: string): ReplayRecord {
  const replay = pointers.replay;
  if (!replay || replay.replayId !== replayId)
    throw new Error(`replay ${replayId} is not the current replay`);
  if (replay.status !== 'running') throw new Error(`replay ${replayId} is ${replay.status}, not running`);
  return replay;
}

/** The archive part ends at the handoff (or at the range's end, for a backfill ending earlier). */
function archiveEnd(replay: ReplayRecord): number {
  return replay.range.toMs === null ? replay.handoffMs : Math.min(replay.handoffMs, replay.range.toMs);
}

/** Thrown by `ready` when the archive still does not hold the handoff after the longest wait. */
export class ArchiveNotReadyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArchiveNotReady';
  }
}

/**
 * True once the archive provably holds everything that arrived before the handoff. With
 * `maxWaitMs`, a replay still waiting that long after it started throws ArchiveNotReadyError (the
 * state machine's Catch then fails the replay, which leaves the active versions served), so a
 * stalled archive ends the wait loop before Step Functions' execution history limit does: an
 * execution failed by that limit runs no fail step and would leave the replay marked running.
 */
export async function replayReady(
  replayId: string,
  deps: ReplayDeps,
  maxWaitMs?: number,
): Promise<{ ready: boolean }> {
  const replay = runningReplay(await deps.control.read(), replayId);
  const archived = await deps.watermark.archivedBeforeMs();
  const ready = archived !== null && archived >= archiveEnd(replay);
  if (ready) await deps.control.setProgress(replayId, { phase: 'reading' });
  const waited = deps.clock.now() - replay.startedAt;
  if (!ready && maxWaitMs !== undefined && waited > maxWaitMs)
    throw new ArchiveNotReadyError(
      `replay ${replayId}: after ${Math.round(waited / 60_000)} minutes the archive still does not hold arrivals up to the handoff ${new Date(archiveEnd(replay)).toISOString()} (archived up to ${archived === null ? 'nothing' : new Date(archived).toISOString()}); archive delivery is behind (see the Firehose DataFreshness alarm). The active versions stay served; start the replay again once delivery has caught up`,
    );
  return { ready };
}

const PARTITION = /dt=(\d{4}-\d{2}-\d{2})\/hour=(\d{2})\//;

/** Arrival hour [start, end) of an archive object from its key, when the key says it. */
function partitionSpan(key: string): { startMs: number; endMs: number } | undefined {
  const match = PARTITION.exec(key);
  if (!match) return undefined;
  const startMs = Date.parse(`${match[1]}T${match[2]}:00:00Z`);
  return Number.isNaN(startMs) ? undefined : { startMs, endMs: startMs + 3_600_000 };
}

const OBJECT_NAME = /^(.*\/)?(.+)-(\d+)-(\d+)\.ndjson$/;

/**
 * The order a sole chunk reads archive objects in, so that the first copy of an id it meets is the
 * first to arrive (the copy the batch layer and the speed layer keep) whenever the copies share a
 * shard: by arrival partition, then shard, then first sequence number compared as a number. The
 * archiver names objects `<shardId>-<firstSeq>-<lastSeq>.ndjson`; sorted as text, a sequence
 * number one digit longer came first (the Kappa property test, 2026-12-04, with retries whose
 * `time` was stamped anew: the replay kept a later copy in another bucket). Other names keep their
 * text order.
 */
export function archiveReadOrder(a: string, b: string): number {
  const x = OBJECT_NAME.exec(a);
  const y = OBJECT_NAME.exec(b);
  if (x && y && (x[1] ?? '') === (y[1] ?? '') && x[2] === y[2]) return compareSequence(x[3], y[3]);
  if (x && y && (x[1] ?? '') === (y[1] ?? '')) return x[2] < y[2] ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Short, stable fence id of a chunk (an archive object key, or the local runner's chunk name). */
export function chunkFence(chunkId: string): string {
  return createHash('sha1').update(chunkId).digest('hex').slice(0, 16);
}

/**
 * An archive line as the replay needs it. The same fields as fromArchiveLine, without copying the
 * body: the underscore columns stay in it, where no view can read them (field paths start with a
 * letter), which saves an object copy per event on the replay's hot path.
 */
function archiveEvent(line: string): NormalizedEvent {
  const body = JSON.parse(line) as Record<string, unknown>;
  const { _tm, _am, _shard, _seq } = body;
  if (
    typeof _tm !== 'number' ||
    typeof _am !== 'number' ||
    typeof _shard !== 'string' ||
    typeof _seq !== 'string'
  )
    return fromArchiveLine(line); // throws, naming the line
  return {
    id: String(body.id),
    type: String(body.type),
    timeMs: _tm,
    arrivedMs: _am,
    shardId: _shard,
    seq: _seq,
    partitionKey: typeof body._pk === 'string' ? body._pk : '',
    body,
  };
}

/**
 * Where the replay starts reading: the range's `from`, less the copy window when a range is given
 * (the copies before `from` only mark ids as first sent before it; a whole-archive replay has
 * nothing before its start).
 */
function readFromMs(replay: ReplayRecord, deps: Pick<ReplayDeps, 'copyWindowMs'>): number {
  const from = replay.range.fromMs;
  return from <= 0 ? from : Math.max(0, from - (deps.copyWindowMs ?? RANGE_COPY_WINDOW_MS));
}

/** Objects whose arrival hour lies wholly outside [readFrom, end) hold nothing for this replay. */
function objectsOf(replay: ReplayRecord, keys: readonly string[], readFrom: number): string[] {
  const end = archiveEnd(replay);
  return keys.filter((key) => {
    const span = partitionSpan(key);
    return !span || (span.startMs < end && span.endMs > readFrom);
  });
}

/**
 * Each event of an archive object's text that arrived in [readFrom, end), in line order, and
 * whether it arrived in the replay's range (at or after `from`) or only marks an earlier copy.
 */
function forEachReplayed(
  replay: ReplayRecord,
  text: string,
  readFrom: number,
  onEvent: (event: NormalizedEvent, inRange: boolean) => void,
): void {
  const end = archiveEnd(replay);
  let start = 0;
  while (start < text.length) {
    let stop = text.indexOf('\n', start);
    if (stop < 0) stop = text.length;
    if (stop > start) {
      const event = archiveEvent(text.slice(start, stop));
      if (event.arrivedMs < end && event.arrivedMs >= readFrom)
        onEvent(event, event.arrivedMs >= replay.range.fromMs);
    }
    start = stop + 1;
  }
}

/**
 * The deployed replay's first pass (ADR 024; the state machine's ClaimCopies map, one object per
 * child): offers every copy of every id in the objects to the replay's claims, which keep the
 * earliest (`copyOrderKey`: arrival, shard, sequence number, then object key). Once every object
 * was offered, each id's claim names the copy the batch layer keeps, whatever order the children
 * ran in; the second pass (replayChunk) folds that copy only. Idempotent: a child run again offers
 * the same copies, which change nothing.
 */
export async function offerChunkCopies(
  replayId: string,
  keys: readonly string[],
  deps: ReplayDeps,
): Promise<{ events: number; offered: number }> {
  const replay = runningReplay(await deps.control.read(), replayId);
  // Progress counts the fold's objects: before them, the status says the copies are being claimed.
  await deps.control.setProgress(replayId, { phase: 'claiming copies' });
  let events = 0;
  let offered = 0;
  // Copies before a range's `from` are offered too: an id they hold was first sent before it, so
  // its copy inside the range is not the one kept, and the fold leaves it out.
  const readFrom = readFromMs(replay, deps);
  for (const key of objectsOf(replay, keys, readFrom)) {
    const text = await deps.archive.read(key);
    // Copies of an id within the object are settled here: one offer per id.
    const earliest = new Map<string, string>();
    forEachReplayed(replay, text, readFrom, (event) => {
      events++;
      const copy = copyOrderKey(event, key);
      const current = earliest.get(event.id);
      if (current === undefined || copy < current) earliest.set(event.id, copy);
    });
    await forEachLimit([...earliest], deps.concurrency ?? 32, async ([id, copy]) => {
      await deps.claims.offerCopy(id, copy, replayId);
    });
    offered += earliest.size;
  }
  return { events, offered };
}

/** Running pre-aggregate of one cell: bodies folded in slices, so memory stays per cell, not per event. */
interface CellAccumulator {
  readonly view: ViewDefinition;
  readonly version: number;
  readonly address: CellAddress;
  state: RowState;
  pending: Readonly<Record<string, unknown>>[];
}

const FOLD_SLICE = 512;

export interface ChunkOptions {
  /** Fence id of the chunk; the object key for the state machine's one-object items. */
  readonly chunkId: string;
  /**
   * True when this chunk holds every object of the replay (the local runner): copies of an id can
   * then only be inside the chunk, so no cross-chunk claims are needed. False for one of many
   * chunks (the state machine's children), after offerChunkCopies ran over every object.
   */
  readonly sole: boolean;
  /** Least time between two progress updates in the control table. @default 500 */
  readonly progressEveryMs?: number;
}

/**
 * Replays archive objects into the building version: every event that arrived in the replay's
 * range before the handoff, one copy per id (the first met in a sole chunk; across chunks the
 * earliest, which the claims' first pass, offerChunkCopies, recorded), folded with the same reducer as the processor, and written once
 * per cell with the chunk as fence: a chunk run again, in any order, changes nothing.
 */
export async function replayChunk(
  replayId: string,
  keys: readonly string[],
  options: ChunkOptions,
  deps: ReplayDeps,
): Promise<{
  events: number;
  cells: number;
  duplicates: number;
  /** Where the time went: waiting for archive reads, parsing and folding, writing cells. */
  ms: { read: number; fold: number; write: number };
}> {
  const ms = { read: 0, fold: 0, write: 0 };
  const pointers = await deps.control.read();
  const replay = runningReplay(pointers, replayId);
  const targets: KappaVersion[] = [];
  for (const name of replay.views) {
    const building = viewPointer(pointers.views, name)?.building;
    if (building && building.replayId === replayId) targets.push(building);
  }
  const fence = chunkFence(options.chunkId);
  const seen = new Set<string>();
  const cells = new Map<string, CellAccumulator>();
  let events = 0;
  let duplicates = 0;
  let newestArrival = 0;
  const fold = (acc: CellAccumulator) => {
    acc.state = foldEvents(acc.view, acc.state, acc.pending);
    acc.pending = [];
  };
  const add = (event: NormalizedEvent) => {
    for (const v of targets) {
      if (!feeds(v.definition, event.body)) continue;
      const address = cellOf(v.definition, event);
      const id = `${v.version}|${cellId(address)}`;
      let acc = cells.get(id);
      if (!acc) {
        acc = {
          view: v.definition,
          version: v.version,
          address,
          state: identityRow(v.definition),
          pending: [],
        };
        cells.set(id, acc);
      }
      acc.pending.push(event.body);
      if (acc.pending.length >= FOLD_SLICE) fold(acc);
    }
    events++;
    if (event.arrivedMs > newestArrival) newestArrival = event.arrivedMs;
  };
  // Progress is reported as objects complete, at most every progressEveryMs, as this chunk's own
  // totals from its start: the report replaces the chunk's previous one, so a chunk retried after a
  // failure (the local runner's step retries, the state machine's Retry) counts once, where added
  // deltas counted the failed attempt's part twice and showed more than 100%.
  let reportedAt = deps.clock.now();
  let objectsDone = 0;
  const progress = async (force: boolean) => {
    const now = deps.clock.now();
    if (!force && now - reportedAt < (options.progressEveryMs ?? 500)) return;
    await deps.control.reportChunk(replayId, fence, {
      objects: objectsDone,
      events,
      replayedToMs: newestArrival > 0 ? newestArrival : null,
    });
    reportedAt = now;
  };
  // A sole chunk keeps the first copy it meets: in arrival order, as far as the names tell.
  const readFrom = readFromMs(replay, deps);
  const wanted = objectsOf(replay, keys, readFrom);
  if (options.sole) wanted.sort(archiveReadOrder);
  else await deps.control.setProgress(replayId, { phase: 'reading' });
  objectsDone = keys.length - wanted.length;
  // The next object is fetched while this one is folded.
  let next: Promise<string> | undefined = wanted.length > 0 ? deps.archive.read(wanted[0]) : undefined;
  next?.catch(() => undefined);
  for (let k = 0; k < wanted.length; k++) {
    let t = deps.clock.now();
    const text = await (next as Promise<string>);
    ms.read += deps.clock.now() - t;
    t = deps.clock.now();
    next = k + 1 < wanted.length ? deps.archive.read(wanted[k + 1]) : undefined;
    // Awaited on the next turn; if this object fails first, its rejection must not go unhandled.
    next?.catch(() => undefined);
    const candidates: NormalizedEvent[] = [];
    forEachReplayed(replay, text, readFrom, (event, inRange) => {
      // A copy before a range's `from`: its id was first sent before the range (a sole chunk meets
      // it first, reading in arrival order; across chunks its claim is the earlier one).
      if (!inRange) {
        if (options.sole) seen.add(event.id);
      } else if (!options.sole) candidates.push(event);
      else if (seen.has(event.id)) duplicates++;
      else {
        seen.add(event.id);
        add(event);
      }
    });
    if (candidates.length > 0) {
      // Copies of an id in other objects (producer retries, archive rewrites): the claims' first
      // pass (offerChunkCopies) left each id's earliest copy in its claim; only that copy counts.
      // In the replay's own scope (the same table holds the live processor's claims).
      const kept = await deps.claims.keptCopies(
        candidates.map((e) => e.id),
        replayId,
      );
      const owned = new Set<NormalizedEvent>();
      await forEachLimit(candidates, deps.concurrency ?? 32, async (event) => {
        const mine = copyOrderKey(event, wanted[k]);
        // No claim: the object was archived after the first pass listed the archive (late
        // delivery); the first child to claim such an id keeps its copy, as before ADR 024.
        const copy = kept.get(event.id) ?? (await deps.claims.claimCopyIfNone(event.id, mine, replayId));
        if (copy === mine) owned.add(event);
      });
      for (const event of candidates) {
        if (owned.has(event) && !seen.has(event.id)) {
          seen.add(event.id);
          add(event);
        } else duplicates++;
      }
    }
    objectsDone++;
    ms.fold += deps.clock.now() - t;
    await progress(false);
  }
  const t = deps.clock.now();
  const accumulators = [...cells.values()];
  for (const acc of accumulators) fold(acc);
  await forEachLimit(accumulators, deps.concurrency ?? 16, async (acc) => {
    const attempts = deps.maxWriteAttempts ?? WRITE_ATTEMPTS;
    // Most cells of a new version do not exist yet: try creating before reading.
    let current = undefined as Awaited<ReturnType<KappaCellStore['read']>>;
    for (let attempt = 0; attempt < attempts; attempt++) {
      const next = applyChunk(acc.view, current?.cell, fence, acc.state);
      if (next === undefined) return; // this chunk was already folded into the cell
      if (await deps.cells.write(acc.version, acc.view, acc.address, next, current?.revision)) return;
      current = await deps.cells.read(acc.version, acc.view, acc.address);
    }
    throw new Error(`cell of ${acc.view.name} v${acc.version} kept changing under ${attempts} attempts`);
  });
  ms.write += deps.clock.now() - t;
  await progress(true);
  return { events, cells: accumulators.length, duplicates, ms };
}

/**
 * Where the drop step is: the versions to delete, the one being deleted and the next page of it.
 * The state machine carries it from one invocation to the next (JSON in and out).
 */
export interface DropCursor {
  readonly drops: readonly DroppedVersion[];
  readonly index: number;
  readonly page: string | null;
}

/** What finish and fail hand the drop step: done when nothing is to be deleted. */
export interface DropProgress {
  readonly done: boolean;
  readonly cursor: DropCursor;
  /** Cells deleted by this call. */
  readonly deleted: number;
}

function dropStart(drops: readonly DroppedVersion[]): DropProgress {
  return { done: drops.length === 0, cursor: { drops, index: 0, page: null }, deleted: 0 };
}

/**
 * Flips every view of the replay to its new version in one conditional write: active <- building,
 * previous <- active (kept current by the processor, so a rollback is exact); the version that
 * falls off is recorded in the replay (`dropped`) and deleted afterwards by the drop step
 * (dropReplayCells): deleting it here, one table Scan inside the flip's invocation, timed out on a
 * large table after the flip and ended the execution failed with cells left behind
 * (docs/deploy.md). Run again after the flip (a retried task), it answers flipped: false and the
 * same drops.
 */
export async function finishReplay(
  replayId: string,
  deps: ReplayDeps,
): Promise<{ version: number; flipped: boolean; dropped: DroppedVersion[]; drop: DropProgress }> {
  const outcome = await updateControl(deps, (current) => {
    const replay = current.replay;
    if (!replay || replay.replayId !== replayId)
      throw new Error(`replay ${replayId} is not the current replay`);
    if (replay.status === 'finished')
      return { result: { version: replay.version, flipped: false, dropped: [...(replay.dropped ?? [])] } };
    if (replay.status === 'failed') throw new Error(`replay ${replayId} failed: ${replay.error ?? ''}`);
    const views = pointerCopy(current.views);
    const dropped: DroppedVersion[] = [];
    for (const name of replay.views) {
      const pointer = views[name];
      if (!pointer?.building || pointer.building.replayId !== replayId) continue;
      if (pointer.previous) dropped.push({ view: name, version: pointer.previous.version });
      views[name] = { active: pointer.building, previous: pointer.active, building: null };
    }
    return {
      next: {
        views,
        replay: { ...replay, status: 'finished' as const, finishedAt: deps.clock.now(), dropped },
      },
      result: { version: replay.version, flipped: true, dropped },
    };
  });
  await deps.control.setProgress(replayId, { phase: 'done' });
  return { ...outcome, drop: dropStart(outcome.dropped) };
}

/** Time one drop invocation deletes for before it hands its cursor back (the function may run 15 minutes). */
export const DROP_BUDGET_MS = 10 * 60_000;

/**
 * The drop step: deletes the cells of `cursor.drops`, page by page, until they are gone or
 * `budgetMs` has passed, and returns where it stopped (run it again with that cursor until
 * done). Idempotent: a page deleted twice deletes nothing the second time. Once done, the
 * replay's `dropped` is emptied if it is still the current replay.
 */
export async function dropReplayCells(
  replayId: string,
  cursor: DropCursor,
  deps: Pick<ReplayDeps, 'cells' | 'control' | 'clock'>,
  budgetMs = DROP_BUDGET_MS,
): Promise<DropProgress> {
  const started = deps.clock.now();
  let { index, page } = cursor;
  let deleted = 0;
  while (index < cursor.drops.length) {
    const { view, version } = cursor.drops[index];
    const result = await deps.cells.deleteVersionPage(version, view, page ?? undefined);
    deleted += result.deleted;
    if (result.cursor === undefined) {
      index++;
      page = null;
    } else page = result.cursor;
    if (index < cursor.drops.length && deps.clock.now() - started >= budgetMs)
      return { done: false, cursor: { drops: cursor.drops, index, page }, deleted };
  }
  await updateControl(deps, (current) => {
    const replay = current.replay;
    if (!replay || replay.replayId !== replayId || !replay.dropped?.length) return { result: undefined };
    return { next: { views: current.views, replay: { ...replay, dropped: [] } }, result: undefined };
  });
  return { done: true, cursor: { drops: cursor.drops, index, page: null }, deleted };
}

/**
 * Marks the replay failed and forgets its building versions (recorded in `dropped`, deleted by the
 * drop step); the active versions stay served.
 */
export async function failReplay(
  replayId: string,
  error: string,
  deps: ReplayDeps,
): Promise<{ failed: boolean; drop: DropProgress }> {
  const dropped = await updateControl(deps, (current) => {
    const replay = current.replay;
    if (!replay || replay.replayId !== replayId) return { result: [] as DroppedVersion[] };
    // Failed already (a retried task): the same drops.
    if (replay.status !== 'running') return { result: [...(replay.dropped ?? [])] };
    const views = pointerCopy(current.views);
    const cleared: DroppedVersion[] = [];
    for (const name of replay.views) {
      const pointer = views[name];
      if (pointer?.building?.replayId === replayId) {
        views[name] = { ...pointer, building: null };
        cleared.push({ view: name, version: replay.version });
      }
    }
    return {
      next: {
        views,
        replay: {
          ...replay,
          status: 'failed' as const,
          error,
          finishedAt: deps.clock.now(),
          dropped: cleared,
        },
      },
      result: cleared,
    };
  });
  return { failed: true, drop: dropStart(dropped) };
}

/**
 * After a start step failed (the state machine's Catch): fails the replay that execution
 * `executionId` recorded, if it is still running. The start may have failed after its control
 * write (its progress write refused, its answer lost), and a replay left `running` with no
 * execution behind it would refuse every later replay. Idempotent; a start that recorded nothing
 * fails nothing (`replayId` null).
 */
export async function abandonStart(
  executionId: string,
  error: string,
  deps: ReplayDeps,
): Promise<{ replayId: string | null; failed: boolean; drop: DropProgress }> {
  const replay = (await deps.control.read()).replay;
  if (replay?.executionId !== executionId) return { replayId: null, failed: false, drop: dropStart([]) };
  const failed = await failReplay(
    replay.replayId,
    `the start step failed after recording the replay: ${error}`,
    deps,
  );
  return { replayId: replay.replayId, ...failed };
}

/**
 * Returns views to their previous version (active and previous swap, so a second rollback rolls
 * forward), in one conditional write. The previous version was kept current by the processor, so
 * its answers are exact. Views named in the request must all have a previous version, or nothing
 * changes (NothingToRollBackError, 409): a partial rollback answered 200 for the views it did
 * while skipping others silently. Without names, every view that has one rolls back.
 */
export async function rollback(
  request: { readonly views?: readonly string[] },
  deps: Pick<ReplayDeps, 'control'>,
): Promise<{ views: Record<string, { active: number; previous: number | null }> }> {
  return updateControl(deps, (current) => {
    const named = request.views && request.views.length > 0 ? [...new Set(request.views)] : undefined;
    const names = named ?? Object.keys(current.views);
    const views = pointerCopy(current.views);
    const without = names.filter((name) => !viewPointer(views, name)?.previous);
    if (named && without.length > 0)
      throw new NothingToRollBackError(
        `view${without.length > 1 ? 's' : ''} ${without.join(', ')} ha${without.length > 1 ? 've' : 's'} no previous version to roll back to; nothing was rolled back (leave ${without.length > 1 ? 'them' : 'it'} out of views)`,
      );
    const result: Record<string, { active: number; previous: number | null }> = {};
    for (const name of names) {
      const pointer = viewPointer(views, name);
      if (!pointer?.previous) continue;
      views[name] = { ...pointer, active: pointer.previous, previous: pointer.active };
      result[name] = { active: pointer.previous.version, previous: pointer.active?.version ?? null };
    }
    if (Object.keys(result).length === 0)
      throw new NothingToRollBackError('no view has a previous version to roll back to');
    return { next: { views, replay: current.replay }, result: { views: result } };
  });
}
