import type { BatchPlan, WriteResult } from '../../services/batch-layer';

/**
 * The input of one step of the cloud's batch state machine (lib/constructs/batch-layer.ts): the
 * state machine builds these, so a malformed one is a bug in the definition, reported by name.
 */
export type BatchStep =
  | { readonly action: 'plan'; readonly request: unknown }
  | { readonly action: 'unloaded'; readonly queries: readonly string[] }
  | { readonly action: 'write'; readonly plan: BatchPlan; readonly key: string }
  | { readonly action: 'publish'; readonly plan: BatchPlan; readonly written: readonly WriteResult[] }
  | { readonly action: 'abandon'; readonly plan: BatchPlan; readonly queries: readonly string[] };

const ACTIONS = ['plan', 'unloaded', 'write', 'publish', 'abandon'] as const;

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

/** Reads a step's input, throwing a message naming the field when the state machine sent something else. */
export function parseBatchStep(event: { action: string }): BatchStep {
  const e = event as Record<string, unknown> & { action: string };
  switch (e.action as (typeof ACTIONS)[number]) {
    case 'plan':
      return { action: 'plan', request: e.request };
    case 'unloaded':
      return { action: 'unloaded', queries: strings(e.action, 'queries', e.queries) };
    case 'write':
      if (typeof e.key !== 'string') fail(e.action, `key must be a string (given ${JSON.stringify(e.key)})`);
      return { action: 'write', plan: plan(e.action, e.plan), key: e.key };
    case 'publish':
      if (!Array.isArray(e.written))
        fail(e.action, `written must be an array (given ${JSON.stringify(e.written)})`);
      return { action: 'publish', plan: plan(e.action, e.plan), written: e.written as WriteResult[] };
    case 'abandon':
      return {
        action: 'abandon',
        plan: plan(e.action, e.plan),
        queries: strings(e.action, 'queries', e.queries),
      };
    default:
      return fail(String(e.action), `unknown action; one of ${ACTIONS.join(', ')}`);
  }
}
