import {
  bucketRanges,
  copyTimeRanges,
  coveringRange,
  nextLineage,
  unionRanges,
  viewsNeedingFull,
  type BucketRange,
  isVisible,
  selectionOf,
} from '../core/batch-lineage';
import { nextCutoff } from '../core/merge';
import { reconcileWindow, type Mismatch } from '../core/reconcile';
import { keyProblem } from '../core/reducer';
import { type TypedSource } from '../core/archive-source-sql';
import { batchRowToCell, type BatchResultRow } from '../core/batch-result-row';
import { batchSql, keptCopiesSql, touchedBucketsSql } from '../core/batch-sql';
import { granularityMs } from '../core/time';
import { typedFields } from '../core/typed-columns';
import type { ViewDefinition } from '../core/view';
import type { ArchiveWatermark } from '../ports/archive';
import type { ArchiveCompactor, CompactionResult } from '../ports/archive-compactor';
import type { Clock } from '../ports/clock';
import type { QueryEngine } from '../ports/query-engine';
import type { BatchViewStore, ControlStore, ServingPointer, SpeedRowStore } from '../ports/stores';
import { settleWithin } from './settle-within';
import { forEachLimit } from './speed-layer';
import {
  cleanUp,
  cleanupAfterPublish,
  cleanupOfPublished,
  startCleanup,
  type CleanupProgress,
  type CleanupTask,
} from './batch-cleanup';

export interface BatchLayerDeps {
  readonly views: readonly ViewDefinition[];
  readonly engine: QueryEngine;
  readonly watermark: ArchiveWatermark;
  readonly batch: BatchViewStore;
  readonly control: ControlStore;
  readonly speed: SpeedRowStore;
  readonly clock: Clock;
  readonly arrivalBucketMs: number;
  /**
   * Compacts the archive before the run reads it (ADR 011); absent, the run reads the raw
   * NDJSON objects as before.
   */
  readonly compactor?: ArchiveCompactor;
}

/** What a run recomputes beyond the cells that newly arrived events can change. */
export interface BatchRunRequest {
  /** Recompute every view over the whole archive (a new base for every view). */
  readonly full?: boolean;
  /** Also recompute every cell whose bucket overlaps the event times [fromMs, toMs) (a backfill). */
  readonly backfill?: { readonly fromMs: number; readonly toMs: number };
}

export interface BatchRunResult {
  readonly status: 'published' | 'skipped';
  /**
   * full: every view recomputed; incremental: only the buckets new arrivals (and a backfill
   * range) touch, in the views whose definition is unchanged (`fullViews` lists the others).
   */
  readonly mode?: 'full' | 'incremental';
  /** Views recomputed in full this run (asked for, new, or changed definition). */
  readonly fullViews?: readonly string[];
  readonly version: number | null;
  readonly cutoff: string | null;
  readonly cutoffMs: number | null;
  /** Cells written by this run (an incremental run carries the others forward unwritten). */
  readonly cells: number;
  readonly reason?: string;
  /** What the compaction before the run did (absent: the engine does not compact, or the run was skipped). */
  readonly compaction?: CompactionResult;
  readonly durationMs: number;
  readonly speedRowsDeleted: number;
  /**
   * What is left to delete after the publish, when the publish was asked to leave it to the
   * cleanup step (the cloud's state machine runs it in a loop: batch-cleanup.ts); absent when the
   * publish deleted it itself (`speedRowsDeleted` counts what it deleted) or did not publish.
   */
  readonly cleanup?: CleanupProgress;
  /**
   * Cells left out because their key is too long for the tables (archived before ingestion
   * refused such keys); the speed layer and replay leave the same events out. Up to 20 listed.
   */
  readonly skippedCells?: {
    readonly count: number;
    readonly examples: readonly { view: string; key: string; problem: string }[];
  };
  /**
   * Batch vs speed over the arrival window [previous cutoff, this cutoff): cells compared and the
   * measures that differ (at most 20 listed). Null on the first run.
   */
  readonly reconciliation: {
    readonly from: string;
    readonly to: string;
    readonly cellsCompared: number;
    readonly mismatchCount: number;
    readonly mismatches: readonly Mismatch[];
    /**
     * Views new or changed since the previous version, not compared: the speed layer wrote the
     * window under their old definition, or before they existed (a probe counted 326 false
     * mismatches for one changed and one new view, 2026-12-04).
     */
    readonly viewsNotCompared?: readonly string[];
    readonly error?: string;
  } | null;
}

/**
 * A run's plan: the version it writes, its cutoff, and one query per view to recompute (the
 * views with nothing new are absent: their cells are carried forward). Everything the writers and
 * the publish step need, small enough to travel as a Step Functions state (the queries' SQL stays
 * in the planning process: the cloud starts them there, ADR 010).
 */
export interface BatchPlan {
  readonly version: number;
  readonly cutoffMs: number;
  /** The version the pointer must still hold when this run publishes (null: no pointer yet). */
  readonly expectedVersion: number | null;
  /** Views recomputed in full (asked for, new, or changed definition). */
  readonly fullViews: readonly string[];
  readonly startedMs: number;
}

/** Cells a writer wrote, and the cells it left out for a key the tables cannot hold. */
export interface WriteResult {
  readonly cells: number;
  readonly unstorableCount: number;
  readonly unstorable: readonly { view: string; key: string; problem: string }[];
}

/**
 * The cutoff a run starting now would take (null: nothing archived yet): what the compaction
 * before the plan compacts up to (ADR 011). The plan reads the watermark again; it can only be
 * later, so the plan's reads cover at least what this cutoff's compaction left raw.
 */
export async function batchCutoff(
  deps: Pick<BatchLayerDeps, 'control' | 'watermark' | 'arrivalBucketMs'>,
): Promise<number | null> {
  const current = await deps.control.readPointer();
  const archivedBefore = await deps.watermark.archivedBeforeMs();
  return archivedBefore === null
    ? null
    : nextCutoff(archivedBefore, deps.arrivalBucketMs, current?.cutoffMs ?? null);
}

/**
 * Plans a run: reads the pointer and the archive watermark, takes a version number, and finds
 * per view what to recompute. `skipped` when there is nothing the archive provably holds.
 */
export async function planBatch(
  deps: BatchLayerDeps,
  request: BatchRunRequest = {},
): Promise<
  | {
      readonly plan: BatchPlan;
      readonly queries: readonly { view: ViewDefinition; sql: string }[];
      readonly compaction?: CompactionResult;
      /**
       * The copies the run's dedupe kept (ADR 016, 020), as a source its publish can reconcile from
       * instead of deduplicating the window's buckets again. Absent: the engine keeps nothing.
       */
      readonly kept?: KeptCopies;
      /**
       * Frees what the plan kept in the engine for its queries (`kept`): call it once the queries
       * ran and the run published (or failed), whatever happened. Absent: nothing kept.
       */
      readonly release?: () => Promise<void>;
    }
  | { readonly skipped: BatchRunResult }
> {
  const started = deps.clock.now();
  const current = await deps.control.readPointer();
  const archivedBefore = await deps.watermark.archivedBeforeMs();
  if (archivedBefore === null)
    return {
      skipped: skippedResult(deps, current, started, 'the archive has no watermark yet (nothing archived)'),
    };
  if (request.backfill && !(request.backfill.fromMs < request.backfill.toMs))
    throw new Error(
      `a backfill needs from before to (given ${request.backfill.fromMs} and ${request.backfill.toMs})`,
    );
  const cutoffMs = nextCutoff(archivedBefore, deps.arrivalBucketMs, current?.cutoffMs ?? null);
  // A pointer written before incremental runs has no lineage to build on: everything in full.
  const fullViews = viewsNeedingFull(deps.views, current?.lineage, request.full === true);
  const { fields, typed } = typedRead(deps);
  // Before any read: the sources below then read the new generation instead of its NDJSON.
  const compaction = await compactBeforeRun(deps.compactor, cutoffMs, fields);
  const source = await deps.engine.source(cutoffMs, undefined, undefined, undefined, fields);
  // Only the arrival window [previous cutoff, cutoff) says which buckets changed.
  const arrived =
    current && current.cutoffMs < cutoffMs && fullViews.size < deps.views.length && source !== null
      ? await deps.engine.source(cutoffMs, current.cutoffMs, undefined, 0, fields)
      : null;
  const version = await deps.control.nextVersion();
  // Per view: the buckets its arrivals touched (one query each), then its query. Views are planned
  // `concurrentQueries` at a time: in the cloud each touched-bucket query is an Athena round trip
  // of seconds, and the plan is one Lambda invocation (15 minutes at most).
  const planned: (PlannedQuery | undefined)[] = new Array(deps.views.length);
  await forEachLimit(
    source === null ? [] : deps.views.map((view, i) => ({ view, i })),
    deps.engine.concurrentQueries ?? 1,
    async ({ view, i }) => {
      let buckets: BucketRange[] | undefined;
      if (!fullViews.has(view.name)) {
        buckets =
          arrived === null ? [] : await touchedBuckets(deps, view, arrived, current!.cutoffMs, cutoffMs);
        const width = granularityMs(view.granularity);
        if (request.backfill)
          buckets = unionRanges(buckets, [
            coveringRange(request.backfill.fromMs, request.backfill.toMs, width),
          ]);
        if (buckets.length === 0) return; // nothing new for this view: every cell carried forward
      }
      // Only the archive objects that hold events of those buckets or copies of their ids (within
      // COPY_TIME_HORIZON_MS of them), where the engine can tell.
      const viewSource =
        buckets === undefined
          ? (source as string)
          : await deps.engine.source(cutoffMs, undefined, copyTimeRanges(buckets), undefined, fields);
      if (viewSource === null) return;
      planned[i] = {
        view,
        buckets,
        sql: batchSql(view, deps.engine.dialect, viewSource, cutoffMs, undefined, buckets, typed).sql,
      };
    },
  );
  // An empty archive (source null): the version has no cells, which is its true content.
  const queries = planned.filter((q): q is PlannedQuery => q !== undefined);
  // A publish after this run reconciles the arrival window: it can read the kept copies too.
  const reconciles = current !== null && current.cutoffMs < cutoffMs;
  const shared = await sharedDedupe(deps.engine, queries, source, cutoffMs, typed, reconciles);
  return {
    plan: {
      version,
      cutoffMs,
      expectedVersion: current?.version ?? null,
      fullViews: [...fullViews],
      startedMs: started,
    },
    queries: (shared?.queries ?? queries).map(({ view, sql }) => ({ view, sql })),
    ...(compaction ? { compaction } : {}),
    ...(shared ? { kept: shared.kept, release: shared.release } : {}),
  };
}

/** A view's query in a plan, with the buckets it recomputes (undefined: every bucket). */
interface PlannedQuery {
  readonly view: ViewDefinition;
  readonly buckets?: readonly BucketRange[];
  readonly sql: string;
}

/**
 * The copies a run's dedupe kept, in the engine: `source` holds, for every id with an event in a
 * bucket the run recomputes (every bucket of a view recomputed in full), its first copy that
 * arrived before `keptBefore`, with the fields `fields` as typed columns.
 */
export interface KeptCopies {
  readonly source: string;
  readonly keptBefore: number;
  readonly fields: readonly string[];
  /** The views whose recomputed buckets the kept copies cover. */
  readonly views: readonly string[];
}

/**
 * The dedupe the views of a run share (ADR 016, ADR 020). Each view's query ranked every copy of
 * every id of its source again (all event types: an id's earliest copy decides whatever its type),
 * and the reconciliation after the publish ranked the window's buckets once more per view: at
 * 1,000 events/s with events up to 20 minutes late, four rankings of the same 20 minutes of the
 * archive, most of an incremental run. Where the engine can keep rows between queries, the kept
 * copies are computed once, over the union of what the views read (the whole archive when one is
 * recomputed in full, else the objects holding events of any view's recomputed buckets, or within
 * COPY_TIME_HORIZON_MS of them), and every view aggregates its own buckets from them. That union
 * holds every copy of every id whose event falls in any of those buckets (its copies' times lie
 * within the horizon of each other), so the copy kept for
 * such an id is the one each view's own dedupe keeps; ids outside every recomputed bucket are
 * never aggregated. Undefined when one query would read it and no reconciliation follows.
 */
async function sharedDedupe(
  engine: QueryEngine,
  queries: readonly PlannedQuery[],
  source: string | null,
  cutoffMs: number,
  typed: TypedSource | undefined,
  reconciles: boolean,
): Promise<{ queries: PlannedQuery[]; kept: KeptCopies; release: () => Promise<void> } | undefined> {
  if (engine.materialize === undefined || typed === undefined || source === null) return undefined;
  if (queries.length === 0 || (queries.length < 2 && !reconciles)) return undefined;
  const full = queries.some((q) => q.buckets === undefined);
  const union = full
    ? source
    : await engine.source(
        cutoffMs,
        undefined,
        copyTimeRanges(queries.reduce<BucketRange[]>((all, q) => unionRanges(all, q.buckets!), [])),
        undefined,
        typed.fields,
      );
  if (union === null) return undefined;
  const kept = await engine.materialize(keptCopiesSql(union, cutoffMs, typed.fields));
  const onKept: TypedSource = { fields: typed.fields, keptBefore: cutoffMs };
  return {
    queries: queries.map(({ view, buckets }) => ({
      view,
      buckets,
      sql: batchSql(view, engine.dialect, kept.source, cutoffMs, undefined, buckets, onKept).sql,
    })),
    kept: {
      source: kept.source,
      keptBefore: cutoffMs,
      fields: typed.fields,
      views: queries.map((q) => q.view.name),
    },
    release: kept.release,
  };
}

/**
 * Writes one slice of a view's batch result rows as cells of segment `version`: the writer step,
 * the same code whether the rows come from DuckDB in-process or from one object Athena unloaded
 * (a Step Functions Map runs many writers at once in the cloud). Cells whose key the tables cannot
 * hold are left out and reported: ingestion refuses such keys, but an archive written before that
 * check (or by another producer) may hold one, and the speed layer and replay skip them too.
 */
export async function writeBatchRows(
  batch: BatchViewStore,
  version: number,
  view: ViewDefinition,
  rows: readonly BatchResultRow[],
): Promise<WriteResult> {
  const unstorable: { view: string; key: string; problem: string }[] = [];
  let unstorableCount = 0;
  const storable = rows
    .map((row) => batchRowToCell(view, row))
    .filter((cell) => {
      const problem = keyProblem(view, cell.key);
      if (problem === undefined) return true;
      if (unstorable.length < 20)
        unstorable.push({ view: view.name, key: `${cell.key.join(',').slice(0, 80)}...`, problem });
      unstorableCount++;
      return false;
    });
  await batch.writeCells(version, view, storable);
  return { cells: storable.length, unstorableCount, unstorable };
}

/**
 * Publishes a planned run whose cells are all written: `{version, cutoff, lineage}` in one
 * conditional write (the pointer still at `plan.expectedVersion`), then the reconciliation, the
 * retirement of what only the dropped version read, and the speed rows its cutoff covers
 * (deleted here, or with `deferCleanup` listed in the result's `cleanup` for the cleanup step).
 * A lost race deletes this run's segment and leaves the winner served.
 */
export async function publishBatch(
  deps: BatchLayerDeps,
  plan: BatchPlan,
  written: WriteResult,
  kept?: KeptCopies,
  options: {
    readonly deferCleanup?: boolean;
    /**
     * When the reconciliation must have answered (epoch ms by `deps.clock`): the cloud's Publish
     * step passes its invocation's end less a margin, so a slow reconciliation is reported as
     * unfinished (counted by the mismatch alarm) instead of timing the step out, whose retry finds
     * the version published and reports no reconciliation at all. Absent: no limit (locally).
     */
    readonly reconcileBy?: number;
  } = {},
): Promise<BatchRunResult> {
  const finish = async (result: BatchRunResult, tasks: CleanupTask[]): Promise<BatchRunResult> => {
    if (options.deferCleanup) return { ...result, cleanup: startCleanup(tasks) };
    const done = await cleanUp(startCleanup(tasks).cursor, deps, Number.POSITIVE_INFINITY);
    return { ...result, speedRowsDeleted: done.speedRowsDeleted };
  };
  const current = await deps.control.readPointer();
  // A second Publish of the same plan: the first one wrote the pointer but its answer was lost, and
  // Step Functions retried the step (LambdaInvoke retries Lambda.ServiceException,
  // Lambda.SdkClientException and Lambda.ClientExecutionTimeoutException by default:
  // https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html). The
  // pointer holds this run's version: it is served, so it must never be deleted as a lost race.
  // The same when a later run has published on top of this one since: its version is still read
  // (kept as `previous`, or carried forward in the lineage), so it must not be deleted either.
  if (current !== null && readByPointer(current, plan.version)) {
    // Its own pointer still served: what the first invocation may not have deleted, deleted now.
    const tasks = current.version === plan.version ? cleanupOfPublished(current) : [];
    return finish(
      {
        status: 'published',
        mode: plan.fullViews.length === deps.views.length ? 'full' : 'incremental',
        fullViews: [...plan.fullViews],
        version: plan.version,
        cutoffMs: plan.cutoffMs,
        cutoff: new Date(plan.cutoffMs).toISOString(),
        cells: written.cells,
        durationMs: deps.clock.now() - plan.startedMs,
        speedRowsDeleted: 0,
        reconciliation: null,
        skippedCells: { count: written.unstorableCount, examples: written.unstorable },
      },
      tasks,
    );
  }
  if ((current?.version ?? null) !== plan.expectedVersion) {
    // A lost race: its own segment, which no lineage reads, goes (a full run's: page by page).
    return finish(skippedResult(deps, current, plan.startedMs, 'another batch run published first'), [
      { kind: 'segments', segments: { version: plan.version } },
    ]);
  }
  const { version, cutoffMs } = plan;
  const fullViews = new Set(plan.fullViews);
  const lineage = nextLineage(current?.lineage, current?.version ?? null, version, deps.views, fullViews);
  const next: ServingPointer = {
    version,
    cutoffMs,
    publishedAt: new Date(deps.clock.now()).toISOString(),
    lineage,
    previous: current
      ? {
          version: current.version,
          cutoffMs: current.cutoffMs,
          ...(current.lineage ? { lineage: current.lineage } : {}),
        }
      : null,
  };
  if (
    !(await deps.control.publish(next, plan.expectedVersion)) &&
    !readByPointer(await deps.control.readPointer(), version)
  ) {
    return finish(skippedResult(deps, current, plan.startedMs, 'another batch run published first'), [
      { kind: 'segments', segments: { version } },
    ]);
  }
  // Keep the version just replaced for queries that read the old pointer a moment ago (its cells
  // are read after the pointer); what only older versions needed can go, and the speed rows the
  // new cutoff covers (queries read those before the pointer: ADR 028).
  // After the publish: a reconciliation problem is reported (and alarmed on), it does not undo the version.
  const reconciliation =
    current && current.cutoffMs < cutoffMs
      ? await answeredBy(
          reconcile(
            deps,
            current.cutoffMs,
            cutoffMs,
            kept?.keptBefore === cutoffMs ? kept : undefined,
            current.lineage === undefined ? new Set() : viewsNeedingFull(deps.views, current.lineage, false),
          ),
          options.reconcileBy === undefined ? undefined : options.reconcileBy - deps.clock.now(),
        ).catch((error: Error) => ({
          from: new Date(current.cutoffMs).toISOString(),
          to: new Date(cutoffMs).toISOString(),
          cellsCompared: 0,
          mismatchCount: 0,
          mismatches: [],
          error: error.message,
        }))
      : null;
  return finish(
    {
      status: 'published',
      mode: fullViews.size === deps.views.length ? 'full' : 'incremental',
      fullViews: [...fullViews],
      version,
      cutoffMs,
      cutoff: new Date(cutoffMs).toISOString(),
      cells: written.cells,
      durationMs: deps.clock.now() - plan.startedMs,
      speedRowsDeleted: 0,
      reconciliation,
      skippedCells: { count: written.unstorableCount, examples: written.unstorable },
    },
    cleanupAfterPublish(current, next),
  );
}

/**
 * Brings the batch view up to the newest cutoff the archive provably covers, in one process
 * (locally, and the tests): plan, run each view's query and write its rows, publish. A view is
 * recomputed in full when asked, when it is new or its definition changed; otherwise only the
 * event-time buckets that events arriving since the previous cutoff fall in (late ones included)
 * are recomputed, over the whole archive so duplicates and exact distinct counts stay exact, and
 * every other cell is carried forward unwritten (core/batch-lineage.ts, ADR 007). The run writes
 * its cells as a new segment and only then publishes `{version, cutoff, lineage}` in one
 * conditional write. A run that fails before the publish leaves the previous version served;
 * its partial segment is never read (no published lineage holds it). The cloud runs the same
 * steps as a Step Functions workflow (lib/constructs/batch-layer.ts, ADR 010).
 */
export async function runBatch(deps: BatchLayerDeps, request: BatchRunRequest = {}): Promise<BatchRunResult> {
  const planned = await planBatch(deps, request);
  if ('skipped' in planned) return planned.skipped;
  let written: WriteResult = { cells: 0, unstorableCount: 0, unstorable: [] };
  let published: BatchRunResult;
  try {
    for (const { view, sql } of planned.queries) {
      const write = async (rows: BatchResultRow[]) => {
        written = addWrites(written, await writeBatchRows(deps.batch, planned.plan.version, view, rows));
      };
      // A chunk at a time where the engine streams: a full run's cells of one view need not fit in memory.
      if (deps.engine.runInChunks) await deps.engine.runInChunks(sql, write);
      else await write(await deps.engine.run(sql));
    }
    // The kept copies stay for the publish's reconciliation (ADR 020), then go.
    published = await publishBatch(deps, planned.plan, written, planned.kept);
  } finally {
    await planned.release?.();
  }
  return planned.compaction ? { ...published, compaction: planned.compaction } : published;
}

/**
 * Cleans up after a run that failed before it published: deletes its segment (no lineage reads
 * it). Does nothing when the pointer still reads the run's version (a failure after the publish,
 * in its housekeeping, must never delete what is served, also once a later run published on top).
 */
export async function abandonBatch(
  deps: Pick<BatchLayerDeps, 'batch' | 'control'>,
  version: number,
): Promise<number> {
  if (readByPointer(await deps.control.readPointer(), version)) return 0;
  return deps.batch.deleteVersion(version);
}

/**
 * What abandoning the run of `version` deletes, for the cleanup step (a full run's segment holds
 * every cell of the views: at scale more than one invocation deletes): its segment, or nothing
 * when the pointer still reads it (see abandonBatch).
 */
export async function abandonTasks(
  deps: Pick<BatchLayerDeps, 'control'>,
  version: number,
): Promise<CleanupTask[]> {
  if (readByPointer(await deps.control.readPointer(), version)) return [];
  return [{ kind: 'segments', segments: { version } }];
}

/** Two writers' results together (at most 20 examples kept). */
export function addWrites(a: WriteResult, b: WriteResult): WriteResult {
  return {
    cells: a.cells + b.cells,
    unstorableCount: a.unstorableCount + b.unstorableCount,
    unstorable: [...a.unstorable, ...b.unstorable].slice(0, 20),
  };
}

function skippedResult(
  deps: BatchLayerDeps,
  current: ServingPointer | null,
  startedMs: number,
  reason: string,
): BatchRunResult {
  return {
    status: 'skipped',
    version: current?.version ?? null,
    cutoffMs: current?.cutoffMs ?? null,
    cutoff: current ? new Date(current.cutoffMs).toISOString() : null,
    cells: 0,
    reason,
    durationMs: deps.clock.now() - startedMs,
    speedRowsDeleted: 0,
    reconciliation: null,
  };
}

/**
 * The compaction before a run (ADR 011). It only makes reads cheaper: a failure (DuckDB out of
 * memory on a large generation, a full disk) must not stop the batch layer, whose run reads the
 * same objects raw instead. Nothing a failed compaction wrote is read without its manifest.
 */
async function compactBeforeRun(
  compactor: ArchiveCompactor | undefined,
  cutoffMs: number,
  fields: readonly string[],
): Promise<CompactionResult | undefined> {
  if (compactor === undefined) return undefined;
  try {
    return await compactor.compact(cutoffMs, fields);
  } catch (error) {
    return { status: 'failed', reason: error instanceof Error ? error.message : String(error) };
  }
}

/**
 * The fields the run's views read, and what an engine with typed sources carries of them (ADR
 * 013): every source of this run is asked for all of them, so each query finds its view's fields.
 */
function typedRead(deps: Pick<BatchLayerDeps, 'views' | 'engine'>): {
  fields: string[];
  typed: TypedSource | undefined;
} {
  // core's typedFields: the set the cloud's compaction and Glue table use too (ADR 019).
  const fields = typedFields(deps.views);
  return { fields, typed: deps.engine.typedSources === true ? { fields } : undefined };
}

/** The bucket ranges of a view that arrivals in [fromMs, toMs) fall in. */
async function touchedBuckets(
  deps: BatchLayerDeps,
  view: ViewDefinition,
  arrived: string,
  fromMs: number,
  toMs: number,
): Promise<BucketRange[]> {
  const rows = await deps.engine.run(
    touchedBucketsSql(view, deps.engine.dialect, arrived, fromMs, toMs, typedRead(deps).typed).sql,
  );
  return bucketRanges(
    rows.map((row) => Number(row.bucket)),
    granularityMs(view.granularity),
  );
}

/**
 * Did this run's pointer write land although the store answered that the condition failed? The
 * SDK retries a request whose answer was lost (a dropped connection, a timeout), and the retry of
 * a conditional put that had landed meets its own write: "another run published first" would
 * then delete the cells of the version being served (the fault suite lost 568 of 600 events so,
 * 2026-12-02). Versions are unique (an atomic counter), so the pointer holding this version, or
 * naming it as the one it replaced, means it landed; a run that published on top of it since
 * would be a second publish within this one's, which one-at-a-time runs never make.
 */
/**
 * Does the pointer still read segment `version`: as the served version, as the one kept for
 * in-flight queries (`previous`), or carried forward in either one's lineage? Only a version that
 * published can be (a run that never did is in every later lineage's `skip`), and such a version
 * must never be deleted by a run that meets a newer pointer: in the cloud a Publish step retried
 * after its pointer write can run after another run published on top of it (runs overlap when one
 * outlasts the schedule), and deleting its segment would take cells the served lineage reads.
 */
export function readByPointer(pointer: ServingPointer | null, version: number): boolean {
  if (pointer === null) return false;
  const served = [
    { version: pointer.version, lineage: pointer.lineage },
    ...(pointer.previous ? [pointer.previous] : []),
  ];
  return served.some(
    (p) =>
      p.version === version ||
      (p.lineage !== undefined &&
        Object.keys(p.lineage.views).some((view) =>
          isVisible(version, p.version, selectionOf(p.lineage, view)),
        )),
  );
}

/**
 * `work`'s answer, or a failure saying the reconciliation did not finish once `withinMs` have
 * passed (undefined: no limit). Its queries run on until they end (Athena's, at most the
 * workgroup's time and bytes limits); what it answers late is dropped.
 */
function answeredBy<T>(work: Promise<T>, withinMs: number | undefined): Promise<T> {
  if (withinMs === undefined) return work;
  const allowedMs = Math.max(0, withinMs);
  return settleWithin(work, allowedMs, () => {
    throw new Error(
      `the reconciliation did not finish within ${(allowedMs / 1000).toFixed(0)} s, what the batch function had left after the publish: this run's batch and speed parts were not compared (the published version is served all the same; its queries may still be running). If it recurs, a shorter batch schedule (the batchSchedule prop) gives each run less to compare`,
    );
  });
}

/** Reconciles each view over one arrival window (see core/reconcile.ts). */
async function reconcile(
  deps: BatchLayerDeps,
  fromMs: number,
  toMs: number,
  kept?: KeptCopies,
  notCompared: ReadonlySet<string> = new Set(),
): Promise<NonNullable<BatchRunResult['reconciliation']>> {
  const views = deps.views.filter((view) => !notCompared.has(view.name));
  // Where the engine prunes by event time: the window's own lines say which buckets its events
  // fall in, and every earlier copy of one of them has an event time within COPY_TIME_HORIZON_MS,
  // so each view reads only those buckets and the horizon around them (a day of history less per
  // view and run). Elsewhere, one read per view.
  const prune = deps.engine.prunesByEventTime === true;
  const { fields, typed } = typedRead(deps);
  const keptFor = (view: ViewDefinition) => kept !== undefined && kept.views.includes(view.name);
  const arrived = views.every(keptFor)
    ? null
    : prune
      ? await deps.engine.source(toMs, fromMs, undefined, 0, fields)
      : await deps.engine.source(toMs, fromMs, undefined, undefined, fields);
  // Views are compared `concurrentQueries` at a time (one or two queries each), in the publish step.
  const results: ReturnType<typeof reconcileWindow>[] = new Array(views.length);
  await forEachLimit(
    views.map((view, i) => ({ view, i })),
    deps.engine.concurrentQueries ?? 1,
    async ({ view, i }) => {
      let sql: string | null;
      if (keptFor(view)) {
        // The run's kept copies (ADR 020): the window [fromMs, toMs) is the run's arrival window,
        // so every event that arrived in it falls in a bucket the run recomputed, and the kept copy
        // of its id is there; a first copy that arrived in the window is what the window adds.
        const onKept: TypedSource = { fields: kept!.fields, keptBefore: kept!.keptBefore };
        sql = batchSql(view, deps.engine.dialect, kept!.source, toMs, fromMs, undefined, onKept).sql;
      } else {
        let source = arrived;
        if (prune && arrived !== null) {
          const buckets = await touchedBuckets(deps, view, arrived, fromMs, toMs);
          source =
            buckets.length === 0
              ? null
              : await deps.engine.source(toMs, fromMs, copyTimeRanges(buckets), undefined, fields);
        }
        sql =
          source === null
            ? null
            : batchSql(view, deps.engine.dialect, source, toMs, fromMs, undefined, typed).sql;
      }
      const rows = sql === null ? [] : await deps.engine.run(sql);
      const batchCells = rows
        .map((row) => ({ view: view.name, ...batchRowToCell(view, row) }))
        .filter((cell) => keyProblem(view, cell.key) === undefined);
      results[i] = reconcileWindow(view, batchCells, await deps.speed.listArrived(view, fromMs, toMs));
    },
  );
  let cellsCompared = 0;
  const mismatches: Mismatch[] = [];
  for (const result of results) {
    cellsCompared += result.cellsCompared;
    mismatches.push(...result.mismatches);
  }
  return {
    from: new Date(fromMs).toISOString(),
    to: new Date(toMs).toISOString(),
    cellsCompared,
    mismatchCount: mismatches.length,
    mismatches: mismatches.slice(0, 20),
    ...(notCompared.size > 0 ? { viewsNotCompared: [...notCompared] } : {}),
  };
}
