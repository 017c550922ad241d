import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import { describe, expect, it } from 'vitest';
import { SpeedLayer, type SpeedLayerProps } from '../../lib/constructs/speed-layer';

function speedLayer(props: Partial<SpeedLayerProps>): Template {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'S');
  const table = (id: string) =>
    new dynamodb.Table(stack, id, { partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING } });
  new SpeedLayer(stack, 'Speed', {
    stream: new kinesis.Stream(stack, 'Stream'),
    speedTable: table('SpeedTable'),
    dedupeTable: table('DedupeTable'),
    viewsJson: '[]',
    arrivalBucket: Duration.minutes(1),
    ...props,
  });
  return Template.fromStack(stack);
}

describe('SpeedLayer: each event-source prop lands on its own CloudFormation field', () => {
  // Distinct values everywhere, so a swap of two props (a published Kinesis solution once swapped
  // retry attempts and parallelization factor) cannot pass.
  const template = speedLayer({
    batchSize: 123,
    maxBatchingWindow: Duration.seconds(4),
    bisectBatchOnError: false,
    retryAttempts: 7,
    maxRecordAge: Duration.hours(2),
  });
  it.each([
    ['batchSize', { BatchSize: 123 }],
    ['maxBatchingWindow', { MaximumBatchingWindowInSeconds: 4 }],
    ['bisectBatchOnError', { BisectBatchOnFunctionError: false }],
    ['retryAttempts', { MaximumRetryAttempts: 7 }],
    ['maxRecordAge', { MaximumRecordAgeInSeconds: 7200 }],
    ['parallelizationFactor (always 1)', { ParallelizationFactor: 1 }],
    ['reportBatchItemFailures (always)', { FunctionResponseTypes: ['ReportBatchItemFailures'] }],
    ['startingPosition (always TRIM_HORIZON)', { StartingPosition: 'TRIM_HORIZON' }],
    [
      'onFailure (the construct on-failure bucket)',
      {
        DestinationConfig: {
          OnFailure: {
            Destination: { 'Fn::GetAtt': [Match.stringLikeRegexp('^SpeedDeadLetterBucket'), 'Arn'] },
          },
        },
      },
    ],
  ])('%s', (_, fields) => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', fields);
  });

  it('turns event-level dedupe off, and with it the dedupe table grant', () => {
    const off = speedLayer({ eventDedupe: false });
    off.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ STREAMFOLD_SPEED_DEDUPE: 'false' }) },
    });
    const policies = JSON.stringify(off.findResources('AWS::IAM::Policy'));
    expect(policies).not.toContain('DedupeTable');
  });

  it('dedupes per shard by default (15-minute window, Query and PutItem on the dedupe table), claims per event with global scope', () => {
    const env = (t: Template) =>
      Object.values(t.findResources('AWS::Lambda::Function'))[0].Properties.Environment.Variables as Record<
        string,
        string
      >;
    const statements = (t: Template) =>
      Object.values(t.findResources('AWS::IAM::Policy')).flatMap(
        (p) => p.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[],
      );
    const dedupeActions = (t: Template) =>
      statements(t)
        .filter((st) => JSON.stringify(st.Resource).includes('DedupeTable'))
        .flatMap((st) => [st.Action].flat())
        .sort();
    const byDefault = speedLayer({});
    expect(env(byDefault)).toMatchObject({
      STREAMFOLD_DEDUPE_SCOPE: 'shard',
      STREAMFOLD_DEDUPE_TTL_SECONDS: '900',
    });
    expect(dedupeActions(byDefault)).toEqual(['dynamodb:PutItem', 'dynamodb:Query']);
    const global = speedLayer({ dedupeScope: 'global' });
    expect(env(global)).toMatchObject({
      STREAMFOLD_DEDUPE_SCOPE: 'global',
      STREAMFOLD_DEDUPE_TTL_SECONDS: '604800',
      STREAMFOLD_FENCE_BY: 'shard',
    });
    expect(dedupeActions(global)).toEqual(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem']);
  });

  it.each([2, 10])(
    'fails if parallelizationFactor is %i: rows fenced per partition key could pass 400 KB',
    (factor) => {
      expect(() => speedLayer({ parallelizationFactor: factor })).toThrow(
        `parallelizationFactor must be 1 (given ${factor}): above 1 Lambda keeps order per partition key only`,
      );
      expect(() => speedLayer({ parallelizationFactor: factor })).toThrow('400 KB item limit');
    },
  );

  it.each([
    [{ batchSize: 10_001 }, 'batchSize must be between 1 and 10000 (given 10001)'],
    [{ retryAttempts: -1 }, 'retryAttempts must be between 0 and 10000 (given -1)'],
    [
      { maxRecordAge: Duration.seconds(30) },
      'maxRecordAge (seconds) must be between 60 and 604800 (given 30)',
    ],
    [
      { maxBatchingWindow: Duration.seconds(301) },
      'maxBatchingWindow (seconds) must be between 0 and 300 (given 301)',
    ],
  ])('fails if given %j', (props, message) => {
    expect(() => speedLayer(props)).toThrow(message);
  });
});

describe('SpeedLayer: grants carry the KMS permissions of a customer-managed key', () => {
  it('lets the speed function use the key of a table encrypted with a customer-managed key', () => {
    // GIVEN a speed table under a customer-managed key (the app's own tables use AWS-managed keys)
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'S');
    const speedTable = new dynamodb.Table(stack, 'SpeedTable', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
    });
    const dedupeTable = new dynamodb.Table(stack, 'DedupeTable', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
    });
    // WHEN the speed layer is granted its exact DynamoDB actions on it
    new SpeedLayer(stack, 'Speed', {
      stream: new kinesis.Stream(stack, 'Stream'),
      speedTable,
      dedupeTable,
      viewsJson: '[]',
      arrivalBucket: Duration.minutes(1),
    });
    // THEN its role may also decrypt and encrypt with that key (it reads and writes speed rows)
    const statements = Object.values(Template.fromStack(stack).findResources('AWS::IAM::Policy')).flatMap(
      (policy) =>
        (policy.Properties.PolicyDocument as { Statement: { Action: string | string[] }[] }).Statement,
    );
    const actions = new Set(statements.flatMap((s) => ([] as string[]).concat(s.Action)));
    for (const action of ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey*'])
      expect(actions).toContain(action);
  });
});

describe('SpeedLayer enhancedFanOut (ADR 025)', () => {
  it('reads through a stream consumer of its own, with the consumer actions on that consumer only', () => {
    const template = speedLayer({ enhancedFanOut: true });
    template.resourceCountIs('AWS::Kinesis::StreamConsumer', 1);
    template.hasResourceProperties('AWS::Kinesis::StreamConsumer', {
      StreamARN: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Stream'), 'Arn'] },
      ConsumerName: Match.stringLikeRegexp('^S-Speed-'),
    });
    // The mapping's source is the consumer, not the stream, with the same fields as without it.
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^SpeedStreamConsumer'), 'ConsumerARN'] },
      StartingPosition: 'TRIM_HORIZON',
      ParallelizationFactor: 1,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: ['kinesis:DescribeStreamConsumer', 'kinesis:SubscribeToShard'],
            Resource: { 'Fn::GetAtt': [Match.stringLikeRegexp('^SpeedStreamConsumer'), 'ConsumerARN'] },
          }),
        ]),
      },
    });
  });

  it('reads the stream with a standard iterator by default (no consumer)', () => {
    const template = speedLayer({});
    template.resourceCountIs('AWS::Kinesis::StreamConsumer', 0);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Stream'), 'Arn'] },
    });
  });
});

describe('SpeedLayer aggregationWindow (ADR 012)', () => {
  it('sets TumblingWindowInSeconds on the event source mapping when given', () => {
    speedLayer({ aggregationWindow: Duration.minutes(1) }).hasResourceProperties(
      'AWS::Lambda::EventSourceMapping',
      { TumblingWindowInSeconds: 60, FunctionResponseTypes: ['ReportBatchItemFailures'] },
    );
  });

  it.each([
    ['not given', {}],
    ['0 (off)', { aggregationWindow: Duration.seconds(0) }],
  ])('leaves TumblingWindowInSeconds out when %s', (_, props) => {
    speedLayer(props).hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      TumblingWindowInSeconds: Match.absent(),
    });
  });

  it('fails if the window is longer than 900 seconds', () => {
    expect(() => speedLayer({ aggregationWindow: Duration.seconds(901) })).toThrow(
      'aggregationWindow (seconds) must be between 0 and 900 (given 901): Lambda tumbling windows are whole seconds up to 15 minutes; 0 turns the window off',
    );
  });

  it('fails if the window is not whole seconds', () => {
    expect(() => speedLayer({ aggregationWindow: Duration.millis(1500) })).toThrow(
      'aggregationWindow (seconds) must be between 0 and 900 (given 1.5)',
    );
  });

  it('fails if parallelizationFactor is above 1', () => {
    expect(() => speedLayer({ aggregationWindow: Duration.seconds(30), parallelizationFactor: 2 })).toThrow(
      'parallelizationFactor must be 1 (given 2)',
    );
  });
});
