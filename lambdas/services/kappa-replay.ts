/**
 * A Kappa replay's lifecycle (ADR 006): start (and a start run again), waiting for the archive,
 * finish, fail, abandon, rollback, and dropping the versions left behind. Reading the archive into
 * the building version is kappa-replay-chunks.ts.
 */
import { randomUUID } from 'node:crypto';
import {
  sameDefinition,
  viewPointer,
  type KappaPointers,
  type DroppedVersion,
  type KappaViewPointer,
  type ReplayRecord,
} from '../core/kappa';
import type { ViewDefinition } from '../core/view';
import type { ArchiveWatermark } from '../ports/archive';
import type { Clock } from '../ports/clock';
import type { ArchiveReader, KappaCellStore, KappaControlStore, ReplayCopyClaims } from '../ports/kappa';

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

/**
 * The replay's handoff passed before the control table held it, so records arriving meanwhile may
 * have missed the building version: the replay is failed (the local admin route answers 503; a
 * second request may succeed, a larger handoff delay will).
 */
export class HandoffTooLateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HandoffTooLate';
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

export const WRITE_ATTEMPTS = 20;

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
    throw new HandoffTooLateError(
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

export function runningReplay(pointers: KappaPointers, replayId: string): ReplayRecord {
  const replay = pointers.replay;
  if (!replay || replay.replayId !== replayId)
    throw new Error(`replay ${replayId} is not the current replay`);
  if (replay.status !== 'running') throw new Error(`replay ${replayId} is ${replay.status}, not running`);
  return replay;
}

/** The archive part ends at the handoff (or at the range's end, for a backfill ending earlier). */
export function archiveEnd(replay: ReplayRecord): number {
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
