/**
 * The replay's read of the archive (ADR 006, 024): which objects hold its range, in what order,
 * the copies it claims across chunks, and each chunk folded into the building version.
 */
import { createHash } from 'node:crypto';
import { fromArchiveLineKeepingColumns, type NormalizedEvent } from '../core/event';
import { applyChunk, feeds, viewPointer, type KappaVersion, type ReplayRecord } from '../core/kappa';
import { foldEvents, identityRow, type RowState } from '../core/measures';
import { copyOrderKey } from '../core/dedupe';
import { compareSequence } from '../core/sequence';
import { cellId, cellOf, type CellAddress } from '../core/reducer';
import type { ViewDefinition } from '../core/view';
import type { KappaCellStore } from '../ports/kappa';
import {
  archiveEnd,
  RANGE_COPY_WINDOW_MS,
  runningReplay,
  WRITE_ATTEMPTS,
  type ReplayDeps,
} from './kappa-replay';
import { forEachLimit } from './speed-layer';

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
      const event = fromArchiveLineKeepingColumns(text.slice(start, stop));
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
