import { Duration } from 'aws-cdk-lib';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { validateViews } from '../../lambdas/core/view';
import { ENV } from '../../lambdas/runtime/env';
import { checkAsl, type AslMachine, type AslState } from './asl';
import { replayDefinition, synthKappa } from './kappa-fixture';

type Resource = { Type: string; Properties: Record<string, unknown> };
type Resources = Record<string, Resource>;
type Statement = { Action: string | string[]; Resource: unknown; Effect: string };
const resources = (template: Template, type: string): Resources => template.findResources(type) as Resources;
const idOf = (template: Template, type: string, prefix: string): string => {
  const ids = Object.keys(resources(template, type)).filter((id) => id.startsWith(prefix));
  if (ids.length !== 1) throw new Error(`expected one ${type} named ${prefix}*, found ${ids.join(', ')}`);
  return ids[0];
};

/** Every Allow statement of every inline policy attached to the role whose logical ID starts with `rolePrefix`. */
function statementsOf(template: Template, rolePrefix: string): Statement[] {
  const roleId = idOf(template, 'AWS::IAM::Role', rolePrefix);
  return Object.values(resources(template, 'AWS::IAM::Policy'))
    .filter((p) => (p.Properties.Roles as { Ref: string }[]).some((r) => r.Ref === roleId))
    .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
}
const actionsOf = (template: Template, rolePrefix: string): string[] =>
  [...new Set(statementsOf(template, rolePrefix).flatMap((s) => ([] as string[]).concat(s.Action)))].sort();

/** The dedupe window (seconds, as text) a template gives the function whose logical ID starts with `prefix`. */
function ttlOf(template: Template, prefix: string): unknown {
  const fn = resources(template, 'AWS::Lambda::Function')[idOf(template, 'AWS::Lambda::Function', prefix)];
  return (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables[
    ENV.dedupeTtlSeconds
  ];
}

describe('KappaArchitectureStack: the processor on the stream', () => {
  // GIVEN the stack with distinct processor values (a swap of two props cannot pass)
  const template = synthKappa({ processorBatchSize: 321 }).template();

  it('wires the event source with bisect, partial batch responses, retries, record age and the S3 on-failure destination (records included)', () => {
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 1);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: Match.stringLikeRegexp('^ProcessorHandlerFunction') },
      EventSourceArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^EventStream'), 'Arn'] },
      BatchSize: 321,
      ParallelizationFactor: 1,
      BisectBatchOnFunctionError: true,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      MaximumRetryAttempts: 10,
      MaximumRecordAgeInSeconds: 86_400,
      MaximumBatchingWindowInSeconds: 0,
      StartingPosition: 'TRIM_HORIZON',
      DestinationConfig: {
        OnFailure: {
          Destination: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ProcessorDeadLetterBucket'), 'Arn'] },
        },
      },
    });
  });

  it('gives the processor the views, its three tables, dedupe always on, and fences per partition key above factor 1', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          [ENV.views]: Match.anyValue(),
          [ENV.kappaTable]: { Ref: Match.stringLikeRegexp('^TablesKappaTable') },
          [ENV.controlTable]: { Ref: Match.stringLikeRegexp('^TablesControlTable') },
          [ENV.dedupeTable]: { Ref: Match.stringLikeRegexp('^TablesDedupeTable') },
          [ENV.speedDedupe]: 'true',
          [ENV.dedupeTtlSeconds]: '604800',
          [ENV.fenceBy]: 'shard',
        }),
      },
    });
  });

  it('alarms on new failed-batch objects and on the processor iterator age', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'IteratorAge',
      Dimensions: [
        { Name: 'FunctionName', Value: { Ref: Match.stringLikeRegexp('^ProcessorHandlerFunction') } },
      ],
      Threshold: 300_000,
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/S3',
      MetricName: 'PutRequests',
      Dimensions: Match.arrayWith([
        { Name: 'BucketName', Value: { Ref: Match.stringLikeRegexp('^ProcessorDeadLetterBucket') } },
        { Name: 'FilterId', Value: 'FailedBatches' },
      ]),
      Threshold: 0,
    });
  });
});

describe('KappaArchitectureStack: the replay handoff waits for what the archive provably holds', () => {
  const template = synthKappa().template();

  it('gives the replay function the lag by construction and the delivery stream whose measured delays lengthen it', () => {
    const deliveryStreamId = Object.keys(template.findResources('AWS::KinesisFirehose::DeliveryStream'))[0];
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          [ENV.archiveWatermark]: 'clock',
          [ENV.archiveLagMs]: '270000', // 60 s processor buffer + 1.5 x 60 s + 60 s read + 60 s margin
          [ENV.firehoseDeliveryStream]: { Ref: deliveryStreamId },
          [ENV.kappaTable]: Match.anyValue(),
        }),
      },
    });
  });
});

describe('KappaArchitectureStack: encryption at rest', () => {
  const template = synthKappa().template();

  it('encrypts the stream with KMS', () => {
    template.hasResourceProperties('AWS::Kinesis::Stream', {
      StreamEncryption: { EncryptionType: 'KMS', KeyId: 'alias/aws/kinesis' },
    });
  });

  it('has exactly the kappa, control and dedupe tables: pk/sk strings, encrypted, point-in-time recovery', () => {
    const tables = Object.entries(resources(template, 'AWS::DynamoDB::Table'));
    expect(tables.map(([id]) => id.replace(/[0-9A-F]{8}$/, '')).sort()).toEqual([
      'TablesControlTable',
      'TablesDedupeTable',
      'TablesKappaTable',
    ]);
    for (const [id, table] of tables) {
      expect(table.Properties).toMatchObject({
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
        SSESpecification: { SSEEnabled: true },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      });
      const ttl = (table.Properties.TimeToLiveSpecification as { AttributeName?: string } | undefined)
        ?.AttributeName;
      expect(ttl).toBe(id.startsWith('TablesDedupeTable') ? 'expiresAt' : undefined);
    }
  });

  it('encrypts the archive bucket, enforces TLS, and expires the replay results', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      VersioningConfiguration: { Status: 'Enabled' },
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ Prefix: 'replay-results/', ExpirationInDays: 7, Status: 'Enabled' }),
        ]),
      },
    });
    for (const policy of Object.values(resources(template, 'AWS::S3::BucketPolicy')))
      expect(JSON.stringify(policy.Properties.PolicyDocument)).toContain('"aws:SecureTransport":"false"');
  });

  it('encrypts the processor on-failure bucket and refuses plain HTTP to it', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      MetricsConfigurations: [{ Id: 'FailedBatches' }],
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: Match.stringLikeRegexp('^ProcessorDeadLetterBucket') },
      PolicyDocument: Match.objectLike({
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      }),
    });
  });

  it('logs every replay event to a log group encrypted with a rotated KMS key the Logs service may use', () => {
    const keyId = idOf(template, 'AWS::KMS::Key', 'ReplayLogKey');
    template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: 'logs.eu-west-1.amazonaws.com' },
            Condition: { ArnLike: { 'kms:EncryptionContext:aws:logs:arn': Match.anyValue() } },
          }),
        ]),
      },
    });
    const logsId = idOf(template, 'AWS::Logs::LogGroup', 'ReplayLogs');
    template.hasResource('AWS::Logs::LogGroup', {
      Properties: { KmsKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] }, RetentionInDays: 90 },
    });
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineType: 'STANDARD',
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: {
        Level: 'ALL',
        IncludeExecutionData: false,
        Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: { 'Fn::GetAtt': [logsId, 'Arn'] } } }],
      },
    });
  });
});

describe('KappaArchitectureStack: the replay state machine', () => {
  // GIVEN a replay concurrency no default could produce
  const template = synthKappa({ replayConcurrency: 37 }).template();
  const definition = replayDefinition(template);
  const states = definition.States;
  const bucketRef = `REF:${idOf(template, 'AWS::S3::Bucket', 'ArchiveBucket')}`;
  const replayFnArn = `arn:aws:placeholder:eu-west-1:123456789012:${idOf(template, 'AWS::Lambda::Function', 'ReplayHandlerFunction')}`;

  it('is structurally valid Amazon States Language', () => {
    expect(checkAsl(definition)).toEqual([]);
  });

  it('runs start, then waits for the archive, then the Distributed Map, then finish', () => {
    expect(definition.StartAt).toBe('Start');
    expect(states.Start).toMatchObject({
      Type: 'Task',
      QueryLanguage: 'JSONata',
      Resource: 'arn:aws:states:::lambda:invoke',
      Arguments: {
        FunctionName: replayFnArn,
        Payload:
          "{% $merge([$states.input, {'action': 'start', 'executionId': $states.context.Execution.Id}]) %}",
      },
      Output: { start: '{% $states.result.Payload %}' },
      Next: 'WaitForArchive',
    });
    expect(states.WaitForArchive).toMatchObject({ Type: 'Wait', Seconds: 30, Next: 'CheckArchive' });
    expect(states.CheckArchive).toMatchObject({
      Type: 'Task',
      Resource: replayFnArn,
      Parameters: { action: 'ready', 'replayId.$': '$.start.replayId' },
      ResultPath: '$.ready',
      Next: 'ArchiveReady',
    });
    expect(states.ArchiveReady).toEqual({
      Type: 'Choice',
      Choices: [{ Variable: '$.ready.ready', BooleanEquals: true, Next: 'ClaimCopies' }],
      Default: 'WaitForArchive',
    });
    // ADR 024: every object's copies claimed before any object is folded.
    expect(states.ClaimCopies.Next).toBe('ReplayArchive');
    expect(states.ReplayArchive.Next).toBe('Finish');
    expect(states.Finish).toMatchObject({
      Type: 'Task',
      Resource: replayFnArn,
      Parameters: { action: 'finish', 'replayId.$': '$.start.replayId' },
      ResultPath: '$.finish',
      Next: 'DropOldVersionsDone',
    });
    // The version that fell off is deleted after the flip, one invocation after another until done.
    expect(states.DropOldVersionsDone).toEqual({
      Type: 'Choice',
      Choices: [{ Variable: '$.finish.drop.done', BooleanEquals: true, Next: 'Done' }],
      Default: 'DropOldVersions',
    });
    expect(states.DropOldVersions).toMatchObject({
      Type: 'Task',
      Resource: replayFnArn,
      Parameters: { action: 'drop', 'replayId.$': '$.start.replayId', 'cursor.$': '$.finish.drop.cursor' },
      ResultPath: '$.finish.drop',
      Next: 'DropOldVersionsDone',
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.dropError', Next: 'DropFailed' }],
    });
    expect(states.DropFailed).toMatchObject({ Type: 'Fail', Error: 'DropFailed' });
    expect(states.Done).toEqual({ Type: 'Succeed' });
  });

  it.each([
    ['ClaimCopies', 'claim', '$.claimMap'],
    ['ReplayArchive', 'object', '$.map'],
  ])(
    'reads the archive listing with a Distributed Map (%s): S3 ItemReader, MaxConcurrency from the prop, no tolerated failure',
    (name, action, resultPath) => {
      const map = states[name];
      expect(map).toMatchObject({
        Type: 'Map',
        MaxConcurrency: 37,
        ToleratedFailureCount: 0,
        ItemReader: {
          Resource: 'arn:aws:states:::s3:listObjectsV2',
          Parameters: { Bucket: bucketRef, 'Prefix.$': '$.start.prefix' },
        },
        ItemSelector: { action, 'replayId.$': '$.start.replayId', 'key.$': '$$.Map.Item.Value.Key' },
        ResultWriter: {
          Resource: 'arn:aws:states:::s3:putObject',
          Parameters: { Bucket: bucketRef, Prefix: 'replay-results/' },
        },
        ResultPath: resultPath,
      });
      const processor = map.ItemProcessor as AslMachine;
      expect(processor.ProcessorConfig).toEqual({ Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' });
      expect(processor.States[processor.StartAt]).toMatchObject({
        Type: 'Task',
        Resource: replayFnArn,
        End: true,
      });
      // the child passes its whole input ({action, replayId, key}) as the payload
      expect(processor.States[processor.StartAt]).not.toHaveProperty('Parameters');
    },
  );

  it('sends every failure after start to the fail task, then to a Fail state', () => {
    for (const name of ['CheckArchive', 'ClaimCopies', 'ReplayArchive', 'Finish']) {
      expect(states[name].Catch).toEqual([
        { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'MarkFailed' },
      ]);
    }
    expect(states.MarkFailed).toMatchObject({
      Type: 'Task',
      Resource: replayFnArn,
      Parameters: { action: 'fail', 'replayId.$': '$.start.replayId', 'error.$': '$.error' },
      Next: 'DropFailedVersionDone',
      Catch: [expect.objectContaining({ ErrorEquals: ['States.ALL'], Next: 'ReplayFailed' })],
    });
    // the failed replay's version is deleted as a flip's dropped one is, then the Fail state
    expect(states.DropFailedVersionDone).toEqual({
      Type: 'Choice',
      Choices: [{ Variable: '$.failed.drop.done', BooleanEquals: true, Next: 'ReplayFailed' }],
      Default: 'DropFailedVersion',
    });
    expect(states.DropFailedVersion).toMatchObject({
      Parameters: { action: 'drop', 'replayId.$': '$.start.replayId', 'cursor.$': '$.failed.drop.cursor' },
      ResultPath: '$.failed.drop',
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.dropError', Next: 'ReplayFailed' }],
    });
    expect(states.ReplayFailed.Type).toBe('Fail');
    // a start refused because another replay runs (two requests at once) fails nothing: a Succeed
    // state; any other failed start fails the replay its execution recorded, if any (the start
    // records the execution's id), deletes its version's cells, then the Fail state
    expect(states.Start.Catch as AslState[]).toEqual([
      expect.objectContaining({ ErrorEquals: ['ReplayInProgress'], Next: 'AnotherReplayRunning' }),
      expect.objectContaining({ ErrorEquals: ['States.ALL'], Next: 'AbandonStart' }),
    ]);
    expect(JSON.stringify(states.Start.Arguments)).toContain("'executionId': $states.context.Execution.Id");
    expect(states.AnotherReplayRunning.Type).toBe('Succeed');
    expect(states.AbandonStart).toMatchObject({
      Resource: replayFnArn,
      Parameters: { action: 'abandon', 'executionId.$': '$$.Execution.Id', 'error.$': '$' },
      ResultPath: '$.abandoned',
      Next: 'DropAbandonedVersionDone',
      Catch: [expect.objectContaining({ ErrorEquals: ['States.ALL'], Next: 'ReplayFailed' })],
    });
    expect(states.DropAbandonedVersionDone).toEqual({
      Type: 'Choice',
      Choices: [{ Variable: '$.abandoned.drop.done', BooleanEquals: true, Next: 'ReplayFailed' }],
      Default: 'DropAbandonedVersion',
    });
  });

  it('times out after 24 hours by default', () => {
    expect(definition.TimeoutSeconds).toBe(86_400);
  });

  it('alarms on failed and timed-out replays and on replay duration', () => {
    const smId = idOf(template, 'AWS::StepFunctions::StateMachine', 'ReplayStateMachine');
    const dimensions = [{ Name: 'StateMachineArn', Value: { Ref: smId } }];
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/States',
      MetricName: 'ExecutionsFailed',
      Dimensions: dimensions,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/States',
      MetricName: 'ExecutionsTimedOut',
      Dimensions: dimensions,
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/States',
      MetricName: 'ExecutionTime',
      Dimensions: dimensions,
      Statistic: 'Maximum',
      Threshold: 7_200_000,
    });
  });

  it('takes the duration alarm threshold from maxReplayDuration', () => {
    synthKappa({ maxReplayDuration: Duration.minutes(45) })
      .template()
      .hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'ExecutionTime', Threshold: 2_700_000 });
  });

  it('gives dedupeWindow to both the processor and the replay function (the same producer retries left out live and in a replay)', () => {
    const two = synthKappa({ dedupeWindow: Duration.days(2) }).template();
    expect(ttlOf(two, 'ProcessorHandlerFunction')).toBe('172800');
    expect(ttlOf(two, 'ReplayHandlerFunction')).toBe('172800');
    expect(ttlOf(template, 'ProcessorHandlerFunction')).toBe('604800');
    expect(ttlOf(template, 'ReplayHandlerFunction')).toBe('604800');
  });

  it('gives the replay function the archive and tables it reads and writes, with the clock watermark', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Timeout: 900,
      Environment: {
        Variables: Match.objectLike({
          [ENV.archiveBucket]: { Ref: Match.stringLikeRegexp('^ArchiveBucket') },
          [ENV.archivePrefix]: 'events/',
          [ENV.archiveWatermark]: 'clock',
          // processor buffer 60 s + 1.5 x 60 s buffering hint + 60 s Kinesis read + 60 s margin
          [ENV.archiveLagMs]: '270000',
          [ENV.kappaTable]: Match.anyValue(),
          [ENV.controlTable]: Match.anyValue(),
          [ENV.dedupeTable]: Match.anyValue(),
        }),
      },
    });
  });
});

describe('KappaArchitectureStack: least privilege', () => {
  const template = synthKappa().template();
  const logs = ['logs:CreateLogStream', 'logs:PutLogEvents'];
  const xray = ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'];
  const expected: Record<string, string[]> = {
    IngestRole: ['kinesis:PutRecords', ...logs, ...xray],
    QueryRole: ['dynamodb:GetItem', 'dynamodb:Query', ...logs, ...xray],
    KappaAdminRole: [
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:Query',
      'dynamodb:UpdateItem',
      ...logs,
      'states:StartExecution',
      ...xray,
    ],
    ProcessorHandlerRole: [
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:Query',
      'dynamodb:UpdateItem',
      'kinesis:DescribeStream',
      'kinesis:DescribeStreamConsumer',
      'kinesis:DescribeStreamSummary',
      'kinesis:GetRecords',
      'kinesis:GetShardIterator',
      'kinesis:ListShards',
      'kinesis:ListStreams',
      'kinesis:SubscribeToShard',
      ...logs,
      's3:ListBucket', // the on-failure bucket
      's3:PutObject',
      ...xray,
    ],
    ReplayHandlerRole: [
      'cloudwatch:GetMetricData', // Firehose's measured delays hold the handoff back (resource "*": none other exists)
      'dynamodb:BatchGetItem', // the fold reads the claims of the first map (ADR 024)
      'dynamodb:BatchWriteItem',
      'dynamodb:DeleteItem',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:Query',
      'dynamodb:Scan', // the cells of a dropped or failed version (deleteVersionPage)
      'dynamodb:UpdateItem',
      ...logs,
      's3:GetObject',
      's3:ListBucket',
      ...xray,
    ],
    ReplayStateMachineRole: [
      'lambda:InvokeFunction',
      'logs:CreateLogDelivery',
      'logs:DeleteLogDelivery',
      'logs:DescribeLogGroups',
      'logs:DescribeResourcePolicies',
      'logs:GetLogDelivery',
      'logs:ListLogDeliveries',
      'logs:PutResourcePolicy',
      'logs:UpdateLogDelivery',
      's3:AbortMultipartUpload',
      's3:GetObject',
      's3:ListBucket',
      's3:ListMultipartUploadParts',
      's3:PutObject',
      'states:DescribeExecution',
      'states:RedriveExecution',
      'states:StartExecution',
      'states:StopExecution',
      'xray:GetSamplingRules',
      'xray:GetSamplingTargets',
      ...xray,
    ],
    ArchiveTransformRole: [...logs, ...xray],
  };

  it.each(Object.keys(expected))('gives the %s exactly the actions it needs', (role) => {
    expect(actionsOf(template, role)).toEqual(expected[role]);
  });

  it('grants no wildcard action to any role', () => {
    for (const policy of Object.values(resources(template, 'AWS::IAM::Policy')))
      for (const statement of (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement)
        for (const action of ([] as string[]).concat(statement.Action)) expect(action).not.toContain('*');
  });

  it('lets the admin function start this state machine and nothing else in Step Functions', () => {
    const smId = idOf(template, 'AWS::StepFunctions::StateMachine', 'ReplayStateMachine');
    const states = statementsOf(template, 'KappaAdminRole').filter((s) =>
      String(s.Action).startsWith('states:'),
    );
    expect(states).toEqual([{ Action: 'states:StartExecution', Effect: 'Allow', Resource: { Ref: smId } }]);
  });

  it('gives the Distributed Map what AWS documents: start/describe/stop its own child executions, list the archive, invoke the replay function', () => {
    const smId = idOf(template, 'AWS::StepFunctions::StateMachine', 'ReplayStateMachine');
    const bucketId = idOf(template, 'AWS::S3::Bucket', 'ArchiveBucket');
    const fnId = idOf(template, 'AWS::Lambda::Function', 'ReplayHandlerFunction');
    const statements = statementsOf(template, 'ReplayStateMachineRole');
    const find = (action: string) =>
      statements.filter((s) => ([] as string[]).concat(s.Action).includes(action));
    expect(find('states:StartExecution').map((s) => s.Resource)).toEqual([{ Ref: smId }]);
    const executions = JSON.stringify(find('states:DescribeExecution').map((s) => s.Resource));
    expect(executions).toContain(':execution:');
    expect(executions).toContain(smId);
    expect(find('states:StopExecution')).toEqual(find('states:DescribeExecution'));
    expect(find('s3:ListBucket').map((s) => s.Resource)).toEqual([{ 'Fn::GetAtt': [bucketId, 'Arn'] }]);
    expect(find('lambda:InvokeFunction').map((s) => s.Resource)).toEqual([
      [{ 'Fn::GetAtt': [fnId, 'Arn'] }, { 'Fn::Join': ['', [{ 'Fn::GetAtt': [fnId, 'Arn'] }, ':*']] }],
    ]);
    expect(find('s3:PutObject').map((s) => s.Resource)).toEqual([
      { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, '/replay-results/*']] },
    ]);
  });

  it('lets the replay function read only the accepted events of the archive', () => {
    const bucketId = idOf(template, 'AWS::S3::Bucket', 'ArchiveBucket');
    const s3 = statementsOf(template, 'ReplayHandlerRole').filter((s) => String(s.Action).startsWith('s3:'));
    expect(s3).toEqual([
      {
        Action: 's3:GetObject',
        Effect: 'Allow',
        Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, '/events/*']] },
      },
      { Action: 's3:ListBucket', Effect: 'Allow', Resource: { 'Fn::GetAtt': [bucketId, 'Arn'] } },
    ]);
  });
});

describe('KappaArchitectureStack: the API', () => {
  const template = synthKappa().template();

  it('authorizes every method with IAM and validates every request', () => {
    const methods = Object.values(resources(template, 'AWS::ApiGateway::Method'));
    expect(methods.length).toBe(7);
    for (const method of methods) {
      expect(method.Properties.AuthorizationType).toBe('AWS_IAM');
      expect(method.Properties.RequestValidatorId).toBeDefined();
    }
  });

  it('routes GET /views, /views/{view}, /health, /admin/status to the query function, the admin routes to the admin function, POST /events to ingest', () => {
    const resourcePaths = new Map<string, string>();
    for (const [id, r] of Object.entries(resources(template, 'AWS::ApiGateway::Resource')))
      resourcePaths.set(id, r.Properties.PathPart as string);
    const parents = new Map<string, string | undefined>();
    for (const [id, r] of Object.entries(resources(template, 'AWS::ApiGateway::Resource'))) {
      const parent = r.Properties.ParentId as { Ref?: string };
      parents.set(id, parent.Ref);
    }
    const pathOf = (id: string): string => {
      const parent = parents.get(id);
      return `${parent ? pathOf(parent) : ''}/${resourcePaths.get(id)}`;
    };
    const routes = Object.values(resources(template, 'AWS::ApiGateway::Method')).map((m) => {
      const uri = JSON.stringify((m.Properties.Integration as { Uri: unknown }).Uri);
      const target = /"(IngestFunction|QueryFunction|KappaAdminFunction)[0-9A-F]{8}"/.exec(uri)?.[1];
      return `${m.Properties.HttpMethod as string} ${pathOf((m.Properties.ResourceId as { Ref: string }).Ref)} -> ${target}`;
    });
    expect(routes.sort()).toEqual([
      'GET /admin/status -> QueryFunction',
      'GET /health -> QueryFunction',
      'GET /views -> QueryFunction',
      'GET /views/{view} -> QueryFunction',
      'POST /admin/replay -> KappaAdminFunction',
      'POST /admin/rollback -> KappaAdminFunction',
      'POST /events -> IngestFunction',
    ]);
  });

  it('validates the POST /admin/replay body against {views?, from?, to?}, the fields the admin function reads', () => {
    template.hasResourceProperties('AWS::ApiGateway::Model', {
      Name: Match.absent(),
      Schema: Match.objectLike({
        title: 'StreamfoldReplay',
        additionalProperties: false,
        properties: {
          views: Match.objectLike({ type: 'array', items: Match.objectLike({ type: 'string' }) }),
          from: { type: ['string', 'number', 'null'] },
          to: { type: ['string', 'number', 'null'] },
        },
      }),
    });
    template.hasResourceProperties('AWS::ApiGateway::Method', {
      HttpMethod: 'POST',
      RequestModels: { $default: { Ref: Match.stringLikeRegexp('ReplayModel') } },
    });
  });

  it('tells the query function it serves the Kappa architecture, from the kappa and control tables', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: {
          [ENV.architecture]: 'kappa',
          [ENV.views]: Match.anyValue(),
          [ENV.kappaTable]: { Ref: Match.stringLikeRegexp('^TablesKappaTable') },
          [ENV.controlTable]: { Ref: Match.stringLikeRegexp('^TablesControlTable') },
          NODE_OPTIONS: '--enable-source-maps',
        },
      },
    });
  });

  it('tells the admin function which state machine to start', () => {
    const smId = idOf(template, 'AWS::StepFunctions::StateMachine', 'ReplayStateMachine');
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ [ENV.replayStateMachineArn]: { Ref: smId } }) },
    });
  });

  it('runs every function on Node.js 24, ARM, traced', () => {
    const functions = Object.values(resources(template, 'AWS::Lambda::Function')).filter(
      (f) => f.Properties.Handler === 'index.handler',
    );
    expect(functions.length).toBe(6);
    for (const fn of functions)
      expect(fn.Properties).toMatchObject({
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        TracingConfig: { Mode: 'Active' },
      });
  });

  it('outputs the API URL, stream, bucket and replay state machine', () => {
    for (const output of ['ApiUrl', 'StreamName', 'ArchiveBucketName', 'ReplayStateMachineArn'])
      template.hasOutput(output, {});
  });
});

describe('KappaArchitectureStack: validation of props', () => {
  it.each([
    [{ replayConcurrency: 0 }, 'replayConcurrency must be between 1 and 1000 (given 0)'],
    [{ replayConcurrency: 1001 }, 'replayConcurrency must be between 1 and 1000 (given 1001)'],
    [{ replayConcurrency: 2.5 }, 'replayConcurrency must be between 1 and 1000 (given 2.5)'],
    [{ processorBatchSize: 0 }, 'batchSize must be between 1 and 10000 (given 0)'],
    [{ processorParallelizationFactor: 11 }, 'parallelizationFactor must be between 1 and 10 (given 11)'],
    [
      { processorParallelizationFactor: 4 },
      'parallelizationFactor must be 1 (given 4): above 1 Lambda keeps order per partition key only',
    ],
    [
      { maxReplayDuration: Duration.hours(25) },
      'maxReplayDuration must not exceed timeout (given 1500 minutes, timeout 1440 minutes)',
    ],
    [{ shardCount: 0 }, 'shardCount must be between 1 and 500 (given 0)'],
    [
      { archiveBufferInterval: Duration.seconds(30) },
      'bufferInterval must be between 60 and 900 seconds (given 30)',
    ],
    [{ ingestMaxBodyBytes: 0 }, 'ingestMaxBodyBytes must be between 1 and 3000000 (given 0)'],
  ])('fails if given %j', (props, message) => {
    expect(() => synthKappa(props as never)).toThrow(message);
  });

  it('fails if the views do not fit in a Lambda environment', () => {
    const many = validateViews(
      Array.from({ length: 40 }, (_, i) => ({
        name: `view_number_${i}`,
        eventType: 'some.event.type',
        key: ['someKeyField'],
        granularity: '1m',
        measures: { count: { kind: 'count' } },
      })),
    );
    expect(() => synthKappa({ views: many })).toThrow(/at most 3000 bytes of views fit/);
  });

  it('fails if a stream is given without its archive', () => {
    const other = synthKappa();
    expect(() => synthKappa({ stream: other.stack.stream })).toThrow(
      "stream and archive go together: give both (to share another stack's) or neither",
    );
  });

  it('fails if a stream and shardCount are both given', () => {
    const other = synthKappa();
    expect(() =>
      synthKappa({ stream: other.stack.stream, archive: other.stack.archive, shardCount: 2 }),
    ).toThrow('shardCount applies to a new stream: give either stream or shardCount, not both');
  });

  it("fails if a stream and streamRetention are both given (the retention is the stream owner's)", () => {
    const other = synthKappa();
    expect(() =>
      synthKappa({
        stream: other.stack.stream,
        archive: other.stack.archive,
        streamRetention: Duration.hours(24),
      }),
    ).toThrow('streamRetention applies to a new stream: give either stream or streamRetention, not both');
  });
});

describe('the structural ASL checker itself', () => {
  // GIVEN a valid definition, then one broken copy per rule: each must be caught
  const valid = (): AslMachine => ({
    StartAt: 'A',
    States: {
      A: { Type: 'Task', Resource: 'arn:aws:lambda:eu-west-1:123456789012:function:f', Next: 'B' },
      B: { Type: 'Choice', Choices: [{ Variable: '$.x', BooleanEquals: true, Next: 'C' }], Default: 'A' },
      C: { Type: 'Succeed' },
    },
  });
  it('accepts the valid definition', () => {
    expect(checkAsl(valid())).toEqual([]);
  });
  it.each<[string, (m: AslMachine) => void, RegExp]>([
    ['a Next to no state', (m) => (m.States.A.Next = 'Nowhere'), /Next "Nowhere" is not a state/],
    ['a Task with neither Next nor End', (m) => delete m.States.A.Next, /exactly one of Next and End/],
    ['a StartAt to no state', (m) => (m.StartAt = 'Z'), /StartAt "Z" is not a state/],
    ['a string Parameters', (m) => (m.States.A.Parameters = '$'), /Parameters must be an object/],
    ['a .$ field that is no path', (m) => (m.States.A.Parameters = { 'x.$': 'oops' }), /must be a path/],
    [
      'States.ALL before another catcher',
      (m) =>
        (m.States.A.Catch = [
          { ErrorEquals: ['States.ALL'], Next: 'C' },
          { ErrorEquals: ['X'], Next: 'C' },
        ]),
      /States.ALL must appear alone and last/,
    ],
    ['an unreachable state', (m) => (m.States.D = { Type: 'Succeed' }), /D is unreachable/],
    [
      'a JSONPath field in a JSONata state',
      (m) => Object.assign(m.States.A, { QueryLanguage: 'JSONata', ResultPath: '$.r' }),
      /ResultPath is not allowed in a JSONata state/,
    ],
    [
      'a Distributed Map reading from something else than S3',
      (m) =>
        (m.States.A = {
          Type: 'Map',
          Next: 'B',
          ItemReader: { Resource: 'arn:aws:lambda:::invoke' },
          ItemProcessor: {
            ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' },
            StartAt: 'P',
            States: { P: { Type: 'Pass', End: true } },
          },
        }),
      /ItemReader.Resource must be an arn:aws:states:::s3/,
    ],
  ])('fails if the definition has %s', (_, breakIt, message) => {
    const machine = valid();
    breakIt(machine);
    expect(checkAsl(machine).join('\n')).toMatch(message);
  });
});
