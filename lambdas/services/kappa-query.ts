import {
  sameDefinition,
  viewPointer,
  type KappaPointers,
  type KappaVersion,
  type ReplayRecord,
} from '../core/kappa';
import { finalizeRow } from '../core/measures';
import { toIso } from '../core/time';
import type { ViewDefinition } from '../core/view';
import type { Clock } from '../ports/clock';
import type { KappaCellStore, KappaControlStore, ReplayProgress } from '../ports/kappa';
import { pendingViews } from './kappa-replay';
import { boundedAnswer } from './answer-size';
import { parseViewQuery, type HttpResult } from './query-view';

export interface KappaQueryDeps {
  readonly views: readonly ViewDefinition[];
  readonly cells: KappaCellStore;
  readonly control: KappaControlStore;
  readonly clock: Clock;
}

/** A version as GET /admin/status shows it. */
export interface KappaVersionSummary {
  readonly version: number;
  readonly handoff: string;
  readonly from: string | null;
  readonly to: string | null;
  readonly replayId: string;
}

/** The newest replay and its progress, as GET /admin/status shows it. */
export interface KappaReplayStatus {
  readonly replayId: string;
  readonly version: number;
  readonly views: readonly string[];
  readonly status: ReplayRecord['status'];
  readonly phase: ReplayProgress['phase'] | null;
  readonly handoff: string;
  readonly from: string | null;
  readonly to: string | null;
  readonly startedAt: string;
  readonly finishedAt: string | null;
  readonly error: string | null;
  readonly objects: { readonly total: number | null; readonly done: number };
  readonly events: number;
  readonly eventsPerSecond: number;
  /** How far behind the live stream the replayed part is (the processor covers from the handoff on). */
  readonly lagBehindLiveMs: number | null;
  readonly etaSeconds: number | null;
}

/** The Kappa part of GET /admin/status. */
export interface KappaStatus {
  readonly views: Readonly<
    Record<
      string,
      {
        readonly active: KappaVersionSummary | null;
        readonly previous: KappaVersionSummary | null;
        readonly building: KappaVersionSummary | null;
      }
    >
  >;
  /** Views of the module with no version built with their definition. */
  readonly pending: ReturnType<typeof pendingViews>;
  readonly replay: KappaReplayStatus | null;
}

function versionSummary(v: KappaVersion | null): KappaVersionSummary | null {
  return v
    ? {
        version: v.version,
        handoff: toIso(v.handoffMs),
        from: v.range.fromMs > 0 ? toIso(v.range.fromMs) : null,
        to: v.range.toMs === null ? null : toIso(v.range.toMs),
        replayId: v.replayId,
      }
    : null;
}

/**
 * GET /views/{view} in the Kappa architecture: the cells of the view's active version, read with
 * the definition that version was built with. One pointer read, then one version's cells: an
 * answer never mixes versions, and a version is served only after its replay has flipped it. A
 * view of the module with no built version answers 409 (run POST /admin/replay).
 */
export async function queryKappaView(
  viewName: string,
  params: Readonly<Record<string, string | undefined>>,
  deps: KappaQueryDeps,
): Promise<HttpResult> {
  const declared = deps.views.find((v) => v.name === viewName);
  if (!declared) {
    return {
      status: 404,
      body: { error: `unknown view "${viewName}"`, views: deps.views.map((v) => v.name) },
    };
  }
  const pointers = await deps.control.read();
  const pointer = viewPointer(pointers.views, viewName);
  const active = pointer?.active ?? null;
  if (!active) {
    return {
      status: 409,
      body: {
        error: `view "${viewName}" is defined but not built yet: run POST /admin/replay`,
        building: versionSummary(pointer?.building ?? null),
      },
    };
  }
  const view = active.definition;
  const parsed = parseViewQuery(view, params, deps.clock.now());
  if ('problems' in parsed)
    return { status: 400, body: { error: 'invalid query', problems: parsed.problems } };
  const { key, fromBucket, to } = parsed;
  const cells = await deps.cells.query(active.version, view, key, fromBucket, to);
  const changed = !sameDefinition(view, declared);
  // After a rollback the declared definition may be built already, as the previous version.
  const builtAsPrevious = pointer?.previous ? sameDefinition(pointer.previous.definition, declared) : false;
  return boundedAnswer({
    view: view.name,
    key: Object.fromEntries(view.key.map((field, i) => [field, key[i]])),
    granularity: view.granularity,
    from: toIso(fromBucket),
    to: toIso(to),
    architecture: 'kappa',
    version: active.version,
    handoff: toIso(active.handoffMs),
    ...(changed
      ? {
          definitionChanged: builtAsPrevious
            ? `the views module declares another definition of this view; this version serves the one it was built with, and the declared one is built as the previous version (${pointer?.previous?.version}): POST /admin/rollback serves it`
            : 'the views module declares another definition of this view; this version serves the one it was built with until a replay builds the new one (POST /admin/replay)',
        }
      : {}),
    buckets: cells
      .sort((a, b) => a.bucketMs - b.bucketMs)
      .map((c) => ({ start: toIso(c.bucketMs), measures: finalizeRow(view, c.cell.state) })),
  });
}

/** The Kappa part of GET /admin/status: each view's versions, the replay and its progress. */
export async function kappaStatus(deps: KappaQueryDeps): Promise<KappaStatus> {
  const pointers: KappaPointers = await deps.control.read();
  const replay = pointers.replay;
  let progress: ReplayProgress | null = null;
  if (replay) progress = await deps.control.readProgress(replay.replayId);
  const now = deps.clock.now();
  let replayView: KappaReplayStatus | null = null;
  if (replay) {
    const elapsedS = Math.max(0.001, ((replay.finishedAt ?? now) - replay.startedAt) / 1000);
    const events = progress?.events ?? 0;
    const objectsRate = (progress?.objectsDone ?? 0) / elapsedS;
    const remaining =
      progress?.objectsTotal != null ? Math.max(0, progress.objectsTotal - progress.objectsDone) : null;
    replayView = {
      replayId: replay.replayId,
      version: replay.version,
      views: replay.views,
      status: replay.status,
      phase: progress?.phase ?? null,
      handoff: toIso(replay.handoffMs),
      from: replay.range.fromMs > 0 ? toIso(replay.range.fromMs) : null,
      to: replay.range.toMs === null ? null : toIso(replay.range.toMs),
      startedAt: toIso(replay.startedAt),
      finishedAt: replay.finishedAt ? toIso(replay.finishedAt) : null,
      error: replay.error ?? null,
      objects: { total: progress?.objectsTotal ?? null, done: progress?.objectsDone ?? 0 },
      events,
      eventsPerSecond: Math.round(events / elapsedS),
      lagBehindLiveMs:
        replay.status === 'running' ? (progress?.replayedToMs ? now - progress.replayedToMs : null) : 0,
      etaSeconds:
        replay.status !== 'running'
          ? 0
          : remaining === null || objectsRate === 0
            ? null
            : Math.round(remaining / objectsRate),
    };
  }
  return {
    views: Object.fromEntries(
      Object.entries(pointers.views).map(([name, p]) => [
        name,
        {
          active: versionSummary(p.active),
          previous: versionSummary(p.previous),
          building: versionSummary(p.building),
        },
      ]),
    ),
    pending: pendingViews(deps.views, pointers),
    replay: replayView,
  };
}
