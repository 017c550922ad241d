import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import { describe, expect, it } from 'vitest';
import { ENV } from '../../lambdas/runtime/env';
import { Archive } from '../../lib/constructs/archive';
import { KappaTables } from '../../lib/constructs/kappa-tables';
import { Replay, type ReplayProps } from '../../lib/constructs/replay';
import { resolveIntrinsics, type AslMachine } from './asl';

function replay(props: Partial<ReplayProps>): Template {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'R', { env: { account: '123456789012', region: 'eu-west-1' } });
  const stream = new kinesis.Stream(stack, 'Stream');
  const tables = new KappaTables(stack, 'Tables');
  new Replay(stack, 'Replay', {
    archive: new Archive(stack, 'Archive', {
      stream,
      viewsJson: '[]',
      bufferInterval: Duration.seconds(120),
    }),
    kappaTable: tables.kappaTable,
    controlTable: tables.controlTable,
    dedupeTable: tables.dedupeTable,
    viewsJson: '[]',
    ...props,
  });
  return Template.fromStack(stack);
}

describe('Replay: each prop lands on its own field', () => {
  // GIVEN distinct values for every tunable prop
  const template = replay({
    replayConcurrency: 7,
    readyPollInterval: Duration.seconds(45),
    archiveMargin: Duration.seconds(30),
    timeout: Duration.hours(6),
    memorySize: 3008,
    dedupeWindow: Duration.days(3),
  });
  const [machine] = Object.values(template.findResources('AWS::StepFunctions::StateMachine'));
  const definition = JSON.parse(resolveIntrinsics(machine.Properties.DefinitionString)) as AslMachine;

  it.each<[string, () => void]>([
    [
      'replayConcurrency -> MaxConcurrency',
      () => {
        expect(definition.States.ClaimCopies.MaxConcurrency).toBe(7);
        expect(definition.States.ReplayArchive.MaxConcurrency).toBe(7);
      },
    ],
    ['readyPollInterval -> the Wait state', () => expect(definition.States.WaitForArchive.Seconds).toBe(45)],
    [
      "dedupeWindow -> the replay function's claims TTL and range copy window",
      () =>
        template.hasResourceProperties('AWS::Lambda::Function', {
          Environment: { Variables: Match.objectLike({ [ENV.dedupeTtlSeconds]: '259200' }) },
        }),
    ],
    ['timeout -> TimeoutSeconds', () => expect(definition.TimeoutSeconds).toBe(21_600)],
    [
      'archiveMargin + the archive worst case -> archiveLagMs',
      () =>
        template.hasResourceProperties('AWS::Lambda::Function', {
          MemorySize: 3008,
          // processor buffer 60 s + 1.5 x the 120 s buffer + 60 s Kinesis read + the 30 s margin
          Environment: { Variables: Match.objectLike({ [ENV.archiveLagMs]: '330000' }) },
        }),
    ],
  ])('%s', (_, check) => check());
});

describe('Replay: validation of props', () => {
  it.each([
    [{ replayConcurrency: 0 }, 'replayConcurrency must be between 1 and 1000 (given 0)'],
    [
      { readyPollInterval: Duration.seconds(0) },
      'readyPollInterval (seconds) must be between 1 and 3600 (given 0)',
    ],
    [{ timeout: Duration.minutes(30) }, 'timeout (seconds) must be between 3600 and 31536000 (given 1800)'],
    [{ memorySize: 64 }, 'memorySize must be between 128 and 10240 (given 64)'],
    [
      { timeout: Duration.hours(1), maxReplayDuration: Duration.hours(2) },
      'maxReplayDuration must not exceed timeout (given 120 minutes, timeout 60 minutes)',
    ],
  ])('fails if given %j', (props, message) => {
    expect(() => replay(props)).toThrow(message);
  });
});

describe('Replay: the wait for the archive ends before the execution history limit', () => {
  const definitionOf = (template: Template) => {
    const [machine] = Object.values(template.findResources('AWS::StepFunctions::StateMachine'));
    return JSON.parse(resolveIntrinsics(machine.Properties.DefinitionString)) as AslMachine;
  };

  it('CheckArchive gives the replay function the longest wait (2 hours by default), past which it fails the replay', () => {
    const definition = definitionOf(replay({}));
    expect(definition.States.CheckArchive).toMatchObject({
      Parameters: { action: 'ready', maxWaitMs: 7_200_000 },
    });
    // A thrown ArchiveNotReady goes through MarkFailed, which clears the building version
    expect(JSON.stringify(definition.States.CheckArchive.Catch)).toContain('"Next":"MarkFailed"');
    expect(definitionOf(replay({ maxArchiveWait: Duration.minutes(30) })).States.CheckArchive).toMatchObject({
      Parameters: { maxWaitMs: 1_800_000 },
    });
  });

  it('fails if the wait could poll past 25,000 history events (a 1 s poll for 24 hours)', () => {
    expect(() =>
      replay({ readyPollInterval: Duration.seconds(1), maxArchiveWait: Duration.hours(23) }),
    ).toThrow("past Step Functions' limit of 25000 events per execution");
    // The old defaults' wait (30 s polls for the whole 24 h timeout) would have crossed it too
    expect(() => replay({ maxArchiveWait: Duration.hours(23) })).toThrow('allows 2761 polls');
  });

  it('fails if maxArchiveWait is not shorter than the timeout', () => {
    expect(() => replay({ timeout: Duration.hours(2), maxArchiveWait: Duration.hours(2) })).toThrow(
      'maxArchiveWait must be shorter than timeout (given 120 minutes, timeout 120 minutes)',
    );
  });
});
