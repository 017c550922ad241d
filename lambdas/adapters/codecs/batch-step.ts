import type { BatchPlan, WriteResult } from '../../services/batch-layer';
import type { CleanupCursor, CleanupTask } from '../../services/batch-cleanup';
import type { CompactionStep } from '../../services/cloud-compaction';
import { manifestRefOf, type MapRunManifestRef } from './map-run-results';

/**
 * The input of one step of the cloud's batch state machine (lib/constructs/batch-layer.ts): the
 * state machine builds these, so a malformed one is a bug in the definition, reported by name.
 */
export type BatchStep =
  /** Starts (`compaction` null) or advances the compaction before the plan (ADR 011). */
  | { readonly action: 'compact'; readonly request: unknown; readonly compaction: CompactionStep | null }
  | { readonly action: 'plan'; readonly request: unknown }
  | { readonly action: 'unloaded'; readonly queries: readonly string[] }
  | { readonly action: 'write'; readonly plan: BatchPlan; readonly key: string }
  | {
      readonly action: 'publish';
      readonly plan: BatchPlan;
      /**
       * The writers' answers: where the WriteCells Map Run exported them (its ResultWriter, so
       * their number is not capped by the 256 KiB state limit), or the answers themselves.
       */
      readonly written: readonly WriteResult[] | MapRunManifestRef;
    }
  | { readonly action: 'abandon'; readonly plan: BatchPlan; readonly queries: readonly string[] }
  /** Goes on deleting what a publish left (its result's `cleanup.cursor`, then each step's own). */
  | { readonly action: 'cleanup'; readonly cursor: CleanupCursor };

const ACTIONS = ['compact', 'plan', 'unloaded', 'write', 'publish', 'abandon', 'cleanup'] as const;

/** Is this event a state machine step (rather than a scheduled event or an API request)? */
export function isBatchStep(event: unknown): event is { action: string } {
  return typeof event === 'object' && event !== null && 'action' in event;
}

function fail(action: string, what: string): never {
  throw new Error(`batch step ${action}: ${what}; the state machine definition and the handler disagree`);
}

function plan(action: string, value: unknown): BatchPlan {
  const p = value as Partial<BatchPlan> | undefined;
  if (
    typeof p !== 'object' ||
    p === null ||
    !Number.isSafeInteger(p.version) ||
    !Number.isSafeInteger(p.cutoffMs) ||
    !(p.expectedVersion === null || Number.isSafeInteger(p.expectedVersion)) ||
    !Array.isArray(p.fullViews) ||
    !Number.isSafeInteger(p.startedMs)
  )
    fail(
      action,
      `plan must be {version, cutoffMs, expectedVersion, fullViews, startedMs} (given ${JSON.stringify(value)})`,
    );
  return p as BatchPlan;
}

function strings(action: string, name: string, value: unknown): string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string'))
    fail(action, `${name} must be an array of strings (given ${JSON.stringify(value)})`);
  return value as string[];
}

const PHASES = ['partitions', 'unload', 'stats', 'done'] as const;

/** A compaction step as the previous `compact` returned it, or null (absent) to start one. */
function compaction(value: unknown): CompactionStep | null {
  if (value === null || value === undefined) return null;
  const c = value as Record<string, unknown> | undefined;
  const ints = ['cutoffMs', 'attempt', 'generation'];
  if (
    typeof c !== 'object' ||
    c === null ||
    !PHASES.includes(c.phase as (typeof PHASES)[number]) ||
    !Array.isArray(c.queries) ||
    !c.queries.every((q) => typeof q === 'string') ||
    (c.phase !== 'done' && (typeof c.folder !== 'string' || !ints.every((k) => Number.isSafeInteger(c[k]))))
  )
    fail(
      'compact',
      `compaction must be null or what the previous compact step returned (given ${JSON.stringify(value)})`,
    );
  return c as unknown as CompactionStep;
}

/** One writer's answer (`writeBatchRows`), as a child of the WriteCells Map returned it. */
export function writeResult(value: unknown): WriteResult {
  const w = value as Partial<WriteResult> | null;
  if (
    typeof w !== 'object' ||
    w === null ||
    !Number.isSafeInteger(w.cells) ||
    !Number.isSafeInteger(w.unstorableCount) ||
    !Array.isArray(w.unstorable)
  )
    fail(
      'publish',
      `a write result must be {cells, unstorableCount, unstorable} (given ${JSON.stringify(value)})`,
    );
  return w as WriteResult;
}

function cleanupTask(value: unknown): boolean {
  const t = value as Partial<Record<string, unknown>> | null;
  if (typeof t !== 'object' || t === null) return false;
  if (t.kind === 'speedRows') return Number.isSafeInteger(t.arrivedBeforeMs);
  const s = t.segments as Partial<Record<string, unknown>> | null;
  return (
    t.kind === 'segments' &&
    typeof s === 'object' &&
    s !== null &&
    (Number.isSafeInteger(s.version) || Number.isSafeInteger(s.before))
  );
}

/** A cleanup cursor as the publish or the previous cleanup step returned it. */
function cleanupCursor(value: unknown): CleanupCursor {
  const c = value as Partial<Record<string, unknown>> | null;
  if (
    typeof c !== 'object' ||
    c === null ||
    !Array.isArray(c.tasks) ||
    !c.tasks.every(cleanupTask) ||
    !Number.isSafeInteger(c.index) ||
    !(c.page === null || typeof c.page === 'string')
  )
    fail(
      'cleanup',
      `cursor must be {tasks, index, page} as the publish or the previous cleanup returned it (given ${JSON.stringify(value)})`,
    );
  return { tasks: c.tasks as CleanupTask[], index: c.index as number, page: c.page as string | null };
}

/** Reads a step's input, throwing a message naming the field when the state machine sent something else. */
export function parseBatchStep(event: { action: string }): BatchStep {
  const e = event as Record<string, unknown> & { action: string };
  switch (e.action as (typeof ACTIONS)[number]) {
    case 'compact':
      return { action: 'compact', request: e.request, compaction: compaction(e.compaction) };
    case 'plan':
      return { action: 'plan', request: e.request };
    case 'unloaded':
      return { action: 'unloaded', queries: strings(e.action, 'queries', e.queries) };
    case 'write':
      if (typeof e.key !== 'string') fail(e.action, `key must be a string (given ${JSON.stringify(e.key)})`);
      return { action: 'write', plan: plan(e.action, e.plan), key: e.key };
    case 'publish': {
      const ref = manifestRefOf(e.written);
      if (!Array.isArray(e.written) && ref === undefined)
        fail(
          e.action,
          `written must be the WriteCells Map's output {ResultWriterDetails: {Bucket, Key}} or an array of write results (given ${JSON.stringify(e.written)})`,
        );
      return {
        action: 'publish',
        plan: plan(e.action, e.plan),
        written: ref ?? (e.written as unknown[]).map((w) => writeResult(w)),
      };
    }
    case 'abandon':
      return {
        action: 'abandon',
        plan: plan(e.action, e.plan),
        queries: strings(e.action, 'queries', e.queries),
      };
    case 'cleanup':
      return { action: 'cleanup', cursor: cleanupCursor(e.cursor) };
    default:
      return fail(String(e.action), `unknown action; one of ${ACTIONS.join(', ')}`);
  }
}
