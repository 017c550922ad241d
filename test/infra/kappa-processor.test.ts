import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import { describe, expect, it } from 'vitest';
import { ENV } from '../../lambdas/runtime/env';
import { KappaProcessor, type KappaProcessorProps } from '../../lib/constructs/kappa-processor';
import { KappaTables } from '../../lib/constructs/kappa-tables';

function processor(props: Partial<KappaProcessorProps>): Template {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'P');
  const tables = new KappaTables(stack, 'Tables');
  new KappaProcessor(stack, 'Processor', {
    stream: new kinesis.Stream(stack, 'Stream'),
    kappaTable: tables.kappaTable,
    controlTable: tables.controlTable,
    dedupeTable: tables.dedupeTable,
    viewsJson: '[]',
    ...props,
  });
  return Template.fromStack(stack);
}

describe('KappaProcessor: each event-source prop lands on its own CloudFormation field', () => {
  // GIVEN distinct values everywhere (a swap of two props cannot pass)
  const template = processor({
    batchSize: 222,
    maxBatchingWindow: Duration.seconds(6),
    bisectBatchOnError: false,
    retryAttempts: 9,
    maxRecordAge: Duration.hours(3),
    dedupeWindow: Duration.days(2),
    memorySize: 1536,
  });
  it.each([
    ['batchSize', { BatchSize: 222 }],
    ['maxBatchingWindow', { MaximumBatchingWindowInSeconds: 6 }],
    ['bisectBatchOnError', { BisectBatchOnFunctionError: false }],
    ['retryAttempts', { MaximumRetryAttempts: 9 }],
    ['maxRecordAge', { MaximumRecordAgeInSeconds: 10_800 }],
    ['parallelizationFactor (always 1)', { ParallelizationFactor: 1 }],
    ['reportBatchItemFailures (always)', { FunctionResponseTypes: ['ReportBatchItemFailures'] }],
    [
      'onFailure (the construct S3 bucket: failed batches with their records)',
      {
        DestinationConfig: {
          OnFailure: {
            Destination: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ProcessorDeadLetterBucket'), 'Arn'] },
          },
        },
      },
    ],
  ])('%s', (_, fields) => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', fields);
  });

  it('dedupeWindow and memorySize land on the function', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      MemorySize: 1536,
      Environment: {
        Variables: Match.objectLike({ [ENV.dedupeTtlSeconds]: '172800', [ENV.fenceBy]: 'shard' }),
      },
    });
  });

  it('alarms as soon as a failed batch is written to its on-failure bucket', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/S3',
      MetricName: 'PutRequests',
      Threshold: 0,
      AlarmDescription: Match.stringLikeRegexp('failed the Kappa processor'),
    });
  });
});

describe('KappaProcessor: validation of props', () => {
  it.each([
    [{ batchSize: 0 }, 'batchSize must be between 1 and 10000 (given 0)'],
    [{ retryAttempts: 10_001 }, 'retryAttempts must be between 0 and 10000 (given 10001)'],
    [
      { maxRecordAge: Duration.days(8) },
      'maxRecordAge (seconds) must be between 60 and 604800 (given 691200)',
    ],
    [{ memorySize: 100 }, 'memorySize must be between 128 and 10240 (given 100)'],
    [{ dedupeWindow: Duration.minutes(5) }, 'dedupeWindow (seconds) must be at least 3600 (given 300)'],
  ])('fails if given %j', (props, message) => {
    expect(() => processor(props)).toThrow(message);
  });
});
