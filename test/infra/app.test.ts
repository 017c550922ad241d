import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { buildApp, loadViewsModule } from '../../bin/build-app';

const FIXTURE = 'test/infra/fixtures/views.ts';
const app = (context: Record<string, unknown>) =>
  new App({ context: { 'aws:cdk:bundling-stacks': [], ...context } });

describe('the CDK app (bin/app.ts)', () => {
  it('synthesizes the Lambda architecture from a views module, with its outputs', () => {
    // GIVEN the context cdk.json and the command line give
    const given = app({ architecture: 'lambda', views: FIXTURE, shardCount: '2', apiRateLimit: '50' });
    // WHEN the app is built
    const [stack] = buildApp(given);
    // THEN one stack holds the fixture's views and takes the context options
    expect(stack.stackName).toBe('StreamfoldLambda');
    const template = Template.fromStack(stack);
    template.hasOutput('ApiUrl', {});
    template.hasOutput('StreamName', {});
    template.hasOutput('ArchiveBucketName', {});
    template.hasResourceProperties('AWS::Kinesis::Stream', { ShardCount: 2 });
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      MethodSettings: [Match.objectLike({ ThrottlingRateLimit: 50 })],
    });
  });

  it('synthesizes the Kappa architecture alone with architecture=kappa, with its outputs', () => {
    // GIVEN architecture=kappa and a replay concurrency
    const given = app({ architecture: 'kappa', views: FIXTURE, shardCount: '3', replayConcurrency: '12' });
    // WHEN the app is built
    const stacks = buildApp(given);
    // THEN one stack, with its own stream and archive, and the context options applied
    expect(stacks.map((s) => s.stackName)).toEqual(['StreamfoldKappa']);
    const template = Template.fromStack(stacks[0]);
    for (const output of ['ApiUrl', 'StreamName', 'ArchiveBucketName', 'ReplayStateMachineArn'])
      template.hasOutput(output, {});
    template.hasResourceProperties('AWS::Kinesis::Stream', { ShardCount: 3 });
    template.resourceCountIs('AWS::KinesisFirehose::DeliveryStream', 1);
    template.resourceCountIs('AWS::StepFunctions::StateMachine', 1);
    expect(JSON.stringify(template.findResources('AWS::StepFunctions::StateMachine'))).toContain(
      '\\"MaxConcurrency\\":12',
    );
  });

  it('puts both architectures on one stream and one archive with architecture=both', () => {
    // GIVEN architecture=both
    const stacks = buildApp(app({ architecture: 'both', views: FIXTURE }));
    // THEN the Lambda stack is the usual one, and the Kappa stack owns no stream, archive or Firehose
    expect(stacks.map((s) => s.stackName)).toEqual(['StreamfoldLambda', 'StreamfoldKappa']);
    const [lambda, kappa] = stacks.map((s) => Template.fromStack(s));
    lambda.resourceCountIs('AWS::Kinesis::Stream', 1);
    lambda.resourceCountIs('AWS::KinesisFirehose::DeliveryStream', 1);
    lambda.resourceCountIs('AWS::Lambda::EventSourceMapping', 1);
    kappa.resourceCountIs('AWS::Kinesis::Stream', 0);
    kappa.resourceCountIs('AWS::KinesisFirehose::DeliveryStream', 0);
    kappa.resourceCountIs('AWS::S3::Bucket', 1); // its processor's on-failure bucket only
    // its processor consumes the Lambda stack's stream, and its replay lists the Lambda stack's archive
    kappa.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::ImportValue': Match.stringLikeRegexp('^StreamfoldLambda:.*EventStream') },
    });
    expect(JSON.stringify(kappa.findResources('AWS::StepFunctions::StateMachine'))).toMatch(
      /Fn::ImportValue.*StreamfoldLambda:.*ArchiveBucket/,
    );
    // each architecture keeps its own tables
    lambda.resourceCountIs('AWS::DynamoDB::Table', 4);
    kappa.resourceCountIs('AWS::DynamoDB::Table', 3);
  });

  it('gives the speed layer and the Kappa processor enhanced fan-out consumers of their own with enhancedFanOut=true', () => {
    // GIVEN both architectures on one stream, with enhanced fan-out
    const stacks = buildApp(app({ architecture: 'both', views: FIXTURE, enhancedFanOut: 'true' }));
    const [lambda, kappa] = stacks.map((s) => Template.fromStack(s));
    // THEN each stack registers one consumer of the Lambda stack's stream, under a different name
    const names = [lambda, kappa].map((t) => {
      const consumers = Object.values(t.findResources('AWS::Kinesis::StreamConsumer'));
      expect(consumers).toHaveLength(1);
      return (consumers[0] as { Properties: { ConsumerName: string } }).Properties.ConsumerName;
    });
    expect(new Set(names).size).toBe(2);
    for (const name of names) expect(name).toMatch(/^[a-zA-Z0-9_.-]{1,128}$/);
    kappa.hasResourceProperties('AWS::Kinesis::StreamConsumer', {
      StreamARN: { 'Fn::ImportValue': Match.stringLikeRegexp('^StreamfoldLambda:.*EventStream') },
    });
    // and each event source mapping reads through its consumer
    for (const t of [lambda, kappa])
      t.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        EventSourceArn: { 'Fn::GetAtt': [Match.anyValue(), 'ConsumerARN'] },
      });
    // without the flag: no consumer
    for (const s of buildApp(app({ architecture: 'both', views: FIXTURE })))
      Template.fromStack(s).resourceCountIs('AWS::Kinesis::StreamConsumer', 0);
  });

  it('deploys the lean configuration the cost model prices (stream retention, batching and aggregation windows)', () => {
    // GIVEN the context of bench/RESULTS.md's lean column, and the tuned column's batching window
    const given = app({
      views: FIXTURE,
      shardCount: '1',
      streamRetentionHours: '24',
      speedBatchingWindowSeconds: '10',
      speedAggregationWindowSeconds: '60',
    });
    // WHEN the app is built
    const template = Template.fromStack(buildApp(given)[0]);
    // THEN the stream keeps records 24 hours, and the speed layer's event source gathers 10 s and
    // aggregates over 60 s tumbling windows
    template.hasResourceProperties('AWS::Kinesis::Stream', { ShardCount: 1, RetentionPeriodHours: 24 });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      MaximumBatchingWindowInSeconds: 10,
      TumblingWindowInSeconds: 60,
    });
    // and by default: 7 days, no batching window, no tumbling window
    const byDefault = Template.fromStack(buildApp(app({ views: FIXTURE }))[0]);
    byDefault.hasResourceProperties('AWS::Kinesis::Stream', { RetentionPeriodHours: 168 });
    byDefault.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      MaximumBatchingWindowInSeconds: 0,
      TumblingWindowInSeconds: Match.absent(),
    });
  });

  it("sets a Kappa stack's own stream retention, and refuses the speed layer's windows for architecture=kappa", () => {
    const [kappa] = buildApp(app({ architecture: 'kappa', views: FIXTURE, streamRetentionHours: '48' }));
    Template.fromStack(kappa).hasResourceProperties('AWS::Kinesis::Stream', { RetentionPeriodHours: 48 });
    for (const name of ['speedBatchingWindowSeconds', 'speedAggregationWindowSeconds'])
      expect(() => buildApp(app({ architecture: 'kappa', views: FIXTURE, [name]: '10' }))).toThrow(
        `context ${name} configures the Lambda architecture's speed layer; architecture=kappa has none`,
      );
  });

  it('fails if the stream retention or a window is outside what Kinesis and Lambda accept, naming the option', () => {
    expect(() => buildApp(app({ views: FIXTURE, streamRetentionHours: '12' }))).toThrow(
      'retention must be between 24 and 8760 hours (given 12)',
    );
    expect(() => buildApp(app({ views: FIXTURE, streamRetentionHours: '24.5' }))).toThrow(
      'context streamRetentionHours must be a whole number of hours, 0 or more (given 24.5)',
    );
    expect(() => buildApp(app({ views: FIXTURE, speedBatchingWindowSeconds: '1.5' }))).toThrow(
      'context speedBatchingWindowSeconds must be a whole number of seconds, 0 or more (given 1.5)',
    );
    expect(() => buildApp(app({ views: FIXTURE, speedBatchingWindowSeconds: '301' }))).toThrow(
      'maxBatchingWindow (seconds) must be between 0 and 300 (given 301)',
    );
    expect(() => buildApp(app({ views: FIXTURE, speedAggregationWindowSeconds: '901' }))).toThrow(
      'aggregationWindow (seconds) must be between 0 and 900 (given 901)',
    );
  });

  it('fails if the architecture is unknown', () => {
    expect(() => buildApp(app({ architecture: 'lamda', views: FIXTURE }))).toThrow(
      'architecture must be one of lambda, kappa, both (given lamda)',
    );
  });

  it('fails if a numeric context option is not a number', () => {
    expect(() => buildApp(app({ views: FIXTURE, shardCount: 'four' }))).toThrow(
      'context shardCount must be a number (given "four")',
    );
  });

  it('fails if the views module does not exist, saying which option names it', () => {
    expect(() => loadViewsModule('no/such/views.ts')).toThrow(/does not exist; pass -c views=/);
  });

  it('loads CommonJS views modules too', () => {
    expect(loadViewsModule('test/fixtures/views.cjs').map((v) => v.name)).toEqual(['clicks']);
  });
});
