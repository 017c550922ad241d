import { describe, expect, it } from 'vitest';
import { ArchiveNotReadyError } from '../../lambdas/services/kappa-replay';
import { resolveIntrinsics, type AslMachine, type AslState } from './asl';
import { errorMatches } from './asl-interpreter';
import { replayDefinition, synthKappa } from './kappa-fixture';
import { synth } from './stack-fixture';

/**
 * The retries of the two state machines' Lambda steps, read as Step Functions applies them: the
 * first Retrier whose ErrorEquals matches the error decides (States.TaskFailed matches every
 * error but States.Timeout): https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html
 * Lambda's transient errors, as AWS lists them for a Lambda invoke, are retried on every step
 * (https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html); a failure
 * of the function itself (a handled error, or Lambda.Unknown: a timeout, out of memory) only on
 * the idempotent ones.
 */
type Retrier = { ErrorEquals: string[]; MaxAttempts?: number };

const TRANSIENT = [
  'Lambda.ClientExecutionTimeoutException',
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
];
/** A function error: thrown by the handler (its Error's name), or the function timed out. */
const FUNCTION_ERRORS = ['Error', 'ProvisionedThroughputExceededException', 'Lambda.Unknown'];

/** The Retrier Step Functions applies to `error` in `state`, if any. */
function retrierFor(state: AslState, error: string): Retrier | undefined {
  return ((state.Retry ?? []) as Retrier[]).find((r) => errorMatches(r.ErrorEquals, error));
}

/** How many times `error` is tried again in `state` (ASL's default MaxAttempts is 3). */
function retries(state: AslState, error: string): number {
  const retrier = retrierFor(state, error);
  return retrier === undefined ? 0 : (retrier.MaxAttempts ?? 3);
}

/** Every Task state of a machine, those of Map item processors included, by name. */
function tasks(machine: { States: Record<string, AslState> }): Record<string, AslState> {
  const out: Record<string, AslState> = {};
  for (const [name, state] of Object.entries(machine.States)) {
    if (state.Type === 'Task') out[name] = state;
    const processor = (state.ItemProcessor ?? state.Iterator) as
      { States: Record<string, AslState> } | undefined;
    if (processor) Object.assign(out, tasks(processor));
  }
  return out;
}

describe('the replay state machine retries its Lambda steps', () => {
  // GIVEN the Kappa stack's replay state machine
  const steps = tasks(replayDefinition(synthKappa().template()));

  const idempotent = [
    'AbandonStart',
    'CheckArchive',
    'ClaimObject',
    'DropAbandonedVersion',
    'DropFailedVersion',
    'DropOldVersions',
    'Finish',
    'MarkFailed',
    'ReplayObject',
  ];

  it('has the Lambda steps this test classifies (a new step must be classified here)', () => {
    expect(Object.keys(steps).sort()).toEqual([...idempotent, 'Start'].sort());
  });

  it.each(Object.keys(steps))("%s retries Lambda's transient errors", (name) => {
    for (const error of TRANSIENT) expect(retries(steps[name], error), error).toBeGreaterThan(0);
  });

  it.each(idempotent)('%s (idempotent) retries a failure of the function itself', (name) => {
    for (const error of FUNCTION_ERRORS) expect(retries(steps[name], error), error).toBeGreaterThan(0);
  });

  it("Start retries no failure of the function itself (its failures go to AbandonStart), only Lambda's transient errors, after which it goes on with the replay its execution recorded", () => {
    for (const error of FUNCTION_ERRORS) expect(retries(steps.Start, error), error).toBe(0);
  });

  it("CheckArchive's verdict that the archive will not catch up in time fails the replay at once", () => {
    const name = new ArchiveNotReadyError('archive behind').name;
    expect(retrierFor(steps.CheckArchive, name)).toEqual({ ErrorEquals: [name], MaxAttempts: 0 });
  });
});

describe('the batch state machine retries its Lambda steps', () => {
  // GIVEN the Lambda architecture stack (compaction on: its default)
  const [machine] = Object.values(synth().template().findResources('AWS::StepFunctions::StateMachine'));
  const definition = JSON.parse(
    resolveIntrinsics((machine as { Properties: { DefinitionString: unknown } }).Properties.DefinitionString),
  ) as AslMachine;
  const steps = tasks(definition);
  const idempotent = [
    'Abandon',
    'AbandonCleanup',
    'CheckCompaction',
    'CheckQueries',
    'Cleanup',
    'Publish',
    'WriteObject',
  ];
  const startsQueries = ['AdvanceCompaction', 'Compact', 'Plan'];

  it('has the Lambda steps this test classifies (a new step must be classified here)', () => {
    expect(Object.keys(steps).sort()).toEqual([...idempotent, ...startsQueries].sort());
  });

  it.each(Object.keys(steps))("%s retries Lambda's transient errors", (name) => {
    for (const error of TRANSIENT) expect(retries(steps[name], error), error).toBeGreaterThan(0);
  });

  it.each(idempotent)('%s (idempotent) retries a failure of the function itself', (name) => {
    for (const error of FUNCTION_ERRORS) expect(retries(steps[name], error), error).toBeGreaterThan(0);
  });

  it.each(startsQueries)(
    '%s (starts Athena queries, a version number) retries only errors where the function never ran',
    (name) => {
      for (const error of FUNCTION_ERRORS) expect(retries(steps[name], error), error).toBe(0);
    },
  );
});
