import { App, CfnParameter, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import { describe, expect, it } from 'vitest';
import { ENV } from '../../lambdas/runtime/env';
import { Archive } from '../../lib/constructs/archive';
import { BatchLayer } from '../../lib/constructs/batch-layer';
import { EventStream } from '../../lib/constructs/event-stream';
import { KappaProcessor } from '../../lib/constructs/kappa-processor';
import { SpeedLayer } from '../../lib/constructs/speed-layer';
import { checkPollingHistory } from '../../lib/constructs/step-functions';
import { checkRange } from '../../lib/constructs/validate';

function stack(): Stack {
  return new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'S');
}
const param = (scope: Stack, id: string) => new CfnParameter(scope, id, { type: 'Number' }).valueAsNumber;
const table = (scope: Stack, id: string) =>
  new dynamodb.Table(scope, id, { partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING } });

describe('checkRange', () => {
  it.each([
    [0, 'batchSize must be between 1 and 10 (given 0)'],
    [11, 'batchSize must be between 1 and 10 (given 11)'],
    [2.5, 'batchSize must be between 1 and 10 (given 2.5)'],
  ])('fails if given %s', (value, message) => {
    expect(() => checkRange('batchSize', value, 1, 10)).toThrow(message);
  });
  it('accepts a fraction when told to, and says the unit and the reason', () => {
    expect(() => checkRange('rate', 1.5, 1, undefined, { integer: false })).not.toThrow();
    expect(() =>
      checkRange('rate', 0.5, 1, undefined, { integer: false, unit: 'per second', why: 'API Gateway' }),
    ).toThrow('rate must be at least 1 per second (given 0.5): API Gateway');
  });
  it('leaves an unresolved token (a CfnParameter) to CloudFormation', () => {
    expect(() => checkRange('batchSize', param(stack(), 'P'), 1, 10)).not.toThrow();
  });
});

describe('props from CfnParameters synthesize (validated by CloudFormation at deploy time)', () => {
  // Not maxRecordAge: aws-cdk-lib's own EventSourceMapping compares it at synth time, token or not.
  it('takes the speed layer event source settings and the arrival bucket from parameters', () => {
    // GIVEN a speed layer whose numbers are CloudFormation parameters
    const s = stack();
    new SpeedLayer(s, 'Speed', {
      stream: new kinesis.Stream(s, 'Stream'),
      speedTable: table(s, 'SpeedTable'),
      dedupeTable: table(s, 'DedupeTable'),
      viewsJson: '[]',
      arrivalBucket: Duration.millis(param(s, 'ArrivalBucketMs')),
      batchSize: param(s, 'BatchSize'),
      retryAttempts: param(s, 'RetryAttempts'),
    });
    // WHEN synthesized / THEN the parameters land on their fields
    const template = Template.fromStack(s);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      BatchSize: { Ref: 'BatchSize' },
      MaximumRetryAttempts: { Ref: 'RetryAttempts' },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({ [ENV.arrivalBucketMs]: { Ref: 'ArrivalBucketMs' } }),
      },
    });
  });

  it('takes the stream shard count, the archive settings and the processor memory from parameters', () => {
    const s = stack();
    const { stream } = new EventStream(s, 'Events', { shardCount: param(s, 'Shards') });
    new Archive(s, 'Archive', {
      stream,
      viewsJson: '[]',
      archiveTransitionDays: param(s, 'TransitionDays'),
      transformReservedConcurrency: param(s, 'TransformConcurrency'),
    });
    new KappaProcessor(s, 'Processor', {
      stream,
      kappaTable: table(s, 'KappaTable'),
      controlTable: table(s, 'ControlTable'),
      dedupeTable: table(s, 'DedupeTable'),
      viewsJson: '[]',
      memorySize: param(s, 'ProcessorMemory'),
    });
    const template = Template.fromStack(s);
    template.hasResourceProperties('AWS::Kinesis::Stream', { ShardCount: { Ref: 'Shards' } });
    template.hasResourceProperties('AWS::Lambda::Function', {
      ReservedConcurrentExecutions: { Ref: 'TransformConcurrency' },
    });
    template.hasResourceProperties('AWS::Lambda::Function', { MemorySize: { Ref: 'ProcessorMemory' } });
  });

  it('fails if the parallelization factor is a parameter, naming why it must be known at synth time', () => {
    const s = stack();
    expect(
      () =>
        new SpeedLayer(s, 'Speed', {
          stream: new kinesis.Stream(s, 'Stream'),
          speedTable: table(s, 'SpeedTable'),
          dedupeTable: table(s, 'DedupeTable'),
          viewsJson: '[]',
          arrivalBucket: Duration.minutes(1),
          parallelizationFactor: param(s, 'Factor'),
        }),
    ).toThrow('parallelizationFactor must be a value known at synth time');
  });
});

describe('polling loops stay under the execution history limit', () => {
  const batchLayer = (props: { runTimeout?: Duration; queryPollInterval?: Duration }) => {
    const s = stack();
    new BatchLayer(s, 'Batch', {
      archive: new Archive(s, 'Archive', { stream: new kinesis.Stream(s, 'Stream'), viewsJson: '[]' }),
      speedTable: table(s, 'SpeedTable'),
      batchTable: table(s, 'BatchTable'),
      controlTable: table(s, 'ControlTable'),
      viewsJson: '[]',
      arrivalBucket: Duration.minutes(1),
      ...props,
    });
  };

  it('accepts the batch state machine defaults (6 hours, 15 s polls)', () => {
    expect(() => batchLayer({})).not.toThrow();
  });

  it('fails if a batch run could poll past 25,000 history events before its runTimeout', () => {
    expect(() => batchLayer({ queryPollInterval: Duration.seconds(1) })).toThrow(
      "runTimeout (21600 s) / queryPollInterval (1 s) allows 21601 polls of 16 execution history events each (346616 with the rest of the run), past Step Functions' limit of 25000 events per execution",
    );
    expect(() =>
      batchLayer({ runTimeout: Duration.hours(3), queryPollInterval: Duration.seconds(8) }),
    ).not.toThrow();
  });

  it('counts polls as whole turns plus the first check', () => {
    expect(() =>
      checkPollingHistory({ longest: 'a', poll: 'b' }, Duration.seconds(100), Duration.seconds(10), 10, 0),
    ).not.toThrow();
    // 100 s / 10 s = 10 turns, plus the first check: 11 x 10 = 110 events, over a limit reached with 24,900 reserved
    expect(() =>
      checkPollingHistory(
        { longest: 'a', poll: 'b' },
        Duration.seconds(100),
        Duration.seconds(10),
        10,
        24_900,
      ),
    ).toThrow('allows 11 polls of 10 execution history events each (25010 with the rest of the run)');
  });
});
