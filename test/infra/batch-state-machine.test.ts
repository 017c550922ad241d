import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { ENV } from '../../lambdas/runtime/env';
import { checkAsl, resolveIntrinsics, type AslMachine, type AslState } from './asl';
import { synth } from './stack-fixture';

type Resource = { Type: string; Properties: Record<string, unknown> };

describe('the batch layer runs as a Step Functions workflow of parallel writers', () => {
  // GIVEN the Lambda architecture stack with default props
  const { template: lazy, stack } = synth();
  const template = lazy();
  const machines = Object.values(template.findResources('AWS::StepFunctions::StateMachine')) as Resource[];
  const definition = JSON.parse(resolveIntrinsics(machines[0].Properties.DefinitionString)) as AslMachine;
  const S = definition.States;
  const functionId = (fn: { node: { defaultChild?: unknown } }) =>
    stack.getLogicalId(fn.node.defaultChild as Parameters<typeof stack.getLogicalId>[0]);
  const steps = functionId(stack.batchLayer.handler.function);
  const starter = functionId(stack.batchLayer.starter.function);

  it('is one valid Standard state machine with a run timeout', () => {
    expect(machines.length).toBe(1);
    expect(machines[0].Properties.StateMachineType).toBe('STANDARD');
    expect(checkAsl(definition)).toEqual([]);
    expect(definition.StartAt).toBe('Compact');
    expect(definition.TimeoutSeconds).toBe(6 * 3600);
  });

  it('plans, waits for the Athena queries without holding a Lambda, writes in a Distributed Map, then publishes', () => {
    expect(S.Plan.Next).toBe('Planned');
    expect(JSON.stringify(S.Planned)).toContain('"Next":"NothingToDo"');
    expect(S.Planned.Default).toBe('WaitForQueries');
    expect(S.WaitForQueries).toMatchObject({ Type: 'Wait', Seconds: 15, Next: 'CheckQueries' });
    expect(S.CheckQueries.Next).toBe('QueriesDone');
    expect(S.QueriesDone).toMatchObject({
      Type: 'Choice',
      Choices: [{ Variable: '$.unloaded.done', BooleanEquals: true, Next: 'WriteCells' }],
      Default: 'WaitForQueries',
    });
    // Publish is reached only from the Map: after every writer succeeded.
    const into = (name: string) =>
      Object.entries(S)
        .filter(([, s]) => s.Next === name || JSON.stringify(s.Choices ?? []).includes(`"Next":"${name}"`))
        .map(([n]) => n);
    expect(into('Publish')).toEqual(['WriteCells']);
    expect(into('WriteCells')).toEqual(['QueriesDone']);
    // Then what it retired and the speed rows it covers, page by page, in a loop of their own:
    // inside Publish, a table Scan at scale outlasted Lambda's 15 minutes after the flip.
    expect(S.Publish.Next).toBe('CleanupLeft');
    expect(S.CleanupLeft).toMatchObject({
      Type: 'Choice',
      Choices: [
        {
          And: [
            { Variable: '$.result.cleanup', IsPresent: true },
            { Variable: '$.result.cleanup.done', BooleanEquals: false },
          ],
          Next: 'Cleanup',
        },
      ],
      Default: 'Done',
    });
    expect(S.Cleanup).toMatchObject({
      ResultPath: '$.result.cleanup',
      Next: 'CleanupLeft',
      Catch: [{ ErrorEquals: ['States.ALL'], Next: 'CleanupFailed' }],
    });
    expect(JSON.stringify(S.Cleanup.Parameters)).toContain('"cursor.$":"$.result.cleanup.cursor"');
    expect(S.CleanupFailed).toMatchObject({ Type: 'Fail', Error: 'BatchCleanupFailed' });
  });

  it('retries Publish on Lambda service errors, so a publish whose answer was lost runs twice (publishBatch is idempotent for its own version)', () => {
    const retried = (S.Publish.Retry as { ErrorEquals: string[] }[]).flatMap((r) => r.ErrorEquals);
    expect(retried).toEqual(expect.arrayContaining(['Lambda.ServiceException', 'Lambda.SdkClientException']));
  });

  it('gives every writer one unloaded object, with no tolerated failure and bounded concurrency', () => {
    const map = S.WriteCells as AslState & Record<string, unknown>;
    expect(map.Type).toBe('Map');
    expect(map).toMatchObject({
      MaxConcurrency: 10,
      ToleratedFailureCount: 0,
      ItemProcessor: { ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' } },
      ItemReader: {
        Resource: 'arn:aws:states:::s3:listObjectsV2',
        Parameters: { 'Prefix.$': '$.planned.prefix' },
      },
      ItemSelector: { action: 'write', 'plan.$': '$.planned.plan', 'key.$': '$$.Map.Item.Value.Key' },
    });
    const processor = map.ItemProcessor as { States: Record<string, AslState> };
    const writer = processor.States.WriteObject as Record<string, unknown>;
    expect(JSON.stringify(writer.Retry)).toContain('Lambda.TooManyRequestsException');
    expect(resolveIntrinsics(JSON.stringify(writer.Parameters ?? writer))).toContain(steps);
  });

  it("exports the writers' answers to S3 for Publish instead of holding them in the state (256 KiB)", () => {
    const map = S.WriteCells as AslState & Record<string, unknown>;
    expect(map.ResultWriter).toEqual({
      Resource: 'arn:aws:states:::s3:putObject',
      Parameters: { Bucket: expect.stringMatching(/^REF:ArchiveBucket/), Prefix: 'batch-runs/map-results/' },
    });
    expect(map.ResultPath).toBe('$.written');
    // Publish gets the Map's output (the manifest's location), read by the handler.
    expect(S.Publish.Parameters).toMatchObject({ action: 'publish', 'written.$': '$.written' });
    // The state machine may write there and only there; the steps function reads batch-runs/.
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: [
              's3:PutObject',
              's3:GetObject',
              's3:ListMultipartUploadParts',
              's3:AbortMultipartUpload',
            ],
            Resource: {
              'Fn::Join': [
                '',
                [
                  { 'Fn::GetAtt': [Match.stringLikeRegexp('^ArchiveBucket'), 'Arn'] },
                  '/batch-runs/map-results/*',
                ],
              ],
            },
          }),
        ]),
      },
      Roles: [{ Ref: Match.stringLikeRegexp('^BatchLayerStateMachineRole') }],
    });
  });

  it('abandons the unpublished segment on any failure after the plan, and never publishes then', () => {
    for (const name of ['CheckQueries', 'WriteCells', 'Publish'])
      expect(S[name].Catch, name).toEqual([
        { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Abandon' },
      ]);
    expect(S.Plan.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'RunFailed' }]);
    expect(JSON.stringify(S.Abandon)).toContain('"action":"abandon"');
    // What Abandon could not delete in one invocation, page by page, before the run fails.
    expect(S.Abandon.Next).toBe('AbandonLeft');
    expect(S.AbandonLeft).toMatchObject({
      Type: 'Choice',
      Choices: [{ Variable: '$.abandoned.done', BooleanEquals: false, Next: 'AbandonCleanup' }],
      Default: 'RunFailed',
    });
    expect(S.AbandonCleanup).toMatchObject({ ResultPath: '$.abandoned', Next: 'AbandonLeft' });
    expect(JSON.stringify(S.AbandonCleanup.Parameters)).toContain('"cursor.$":"$.abandoned.cursor"');
    expect(S.RunFailed.Type).toBe('Fail');
  });

  it('starts runs from the schedule and POST /admin/batch through the starter, which only starts executions', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [starter, 'Arn'] } })],
    });
    const functions = template.findResources('AWS::Lambda::Function') as Record<string, Resource>;
    const env = (id: string) =>
      (functions[id].Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(env(starter)[ENV.batchStateMachine]).toEqual({
      Ref: expect.stringMatching(/^BatchLayerStateMachine/),
    });
    expect(env(steps)[ENV.batchStateMachine]).toBeUndefined();
    expect(env(steps)[ENV.batchRunsPrefix]).toBe('batch-runs/');
    const policies = template.findResources('AWS::IAM::Policy') as Record<string, Resource>;
    const starterPolicies = Object.entries(policies).filter(([id]) => id.startsWith('BatchLayerStarterRole'));
    // Its own log group, the schedule's dead-letter queue and X-Ray, like every function; beyond that only
    // StartExecution, and ListExecutions to start none while a run is RUNNING.
    const actions = starterPolicies.flatMap(([, p]) =>
      (
        p.Properties.PolicyDocument as { Statement: { Action: string | string[]; Resource: unknown }[] }
      ).Statement.flatMap((st) =>
        [st.Action].flat().map((action) => `${action} ${JSON.stringify(st.Resource)}`),
      ),
    );
    expect(actions.filter((a) => !/^(logs:|xray:|sqs:SendMessage)/.test(a)).sort()).toEqual([
      expect.stringMatching(/^states:ListExecutions \{"Ref":"BatchLayerStateMachine/),
      expect.stringMatching(/^states:StartExecution \{"Ref":"BatchLayerStateMachine/),
    ]);
  });

  it('lets the steps function write and read unloaded rows under batch-runs/ only, and expires them after 7 days', () => {
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Action: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload'],
            Effect: 'Allow',
            Resource: {
              'Fn::Join': [
                '',
                [{ 'Fn::GetAtt': [Match.stringLikeRegexp('^ArchiveBucket'), 'Arn'] }, '/batch-runs/*'],
              ],
            },
          },
        ]),
      },
      Roles: [{ Ref: Match.stringLikeRegexp('^BatchLayerHandlerRole') }],
    });
    template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([Match.objectLike({ Prefix: 'batch-runs/', ExpirationInDays: 7 })]),
      },
    });
  });

  it('alarms when a run fails or times out', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ExecutionsFailed',
      Namespace: 'AWS/States',
      Threshold: 0,
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ExecutionsTimedOut',
      Threshold: 0,
    });
  });
});
