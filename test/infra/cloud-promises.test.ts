import { App, Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildApp, stackNames } from '../../bin/build-app';
import { ENV } from '../../lambdas/runtime/env';
import { synth } from './stack-fixture';

// Issue 9: the cloud deployment keeps the promises the local runtime keeps.

type Resources = Record<
  string,
  { Type: string; Properties: Record<string, unknown>; DeletionPolicy?: string }
>;
const resources = (template: Template, type: string): Resources => template.findResources(type) as Resources;
const FIXTURE = path.join(__dirname, 'fixtures', 'views.ts');

describe('the batch cutoff trails arrival by the archive worst case by construction, capped by measurement', () => {
  const template = synth().template();

  it('passes processor buffer + 1.5 x the buffering hint + the Kinesis read allowance + margin as the lag', () => {
    // 60 s processor buffer + 90 s (1.5 x 60 s) + 60 s Kinesis read + 60 s margin = 270 s
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          [ENV.archiveWatermark]: 'clock',
          [ENV.archiveLagMs]: '270000',
          [ENV.firehoseDeliveryStream]: { Ref: Match.stringLikeRegexp('^ArchiveDeliveryStream') },
        }),
      },
    });
  });

  it('grows the lag with the buffer interval (900 s: 60 + 1350 + 60 + 60 s)', () => {
    synth({ archiveBufferInterval: Duration.seconds(900) })
      .template()
      .hasResourceProperties('AWS::Lambda::Function', {
        Environment: { Variables: Match.objectLike({ [ENV.archiveLagMs]: '1530000' }) },
      });
  });

  it('lets the batch function read the measured delays (GetMetricData), in a policy of its own', () => {
    const policies = Object.values(resources(template, 'AWS::IAM::Policy'));
    const withMetrics = policies.filter((p) =>
      JSON.stringify(p.Properties).includes('cloudwatch:GetMetricData'),
    );
    expect(withMetrics).toHaveLength(1);
    expect(withMetrics[0].Properties.PolicyDocument).toEqual({
      Version: '2012-10-17',
      Statement: [{ Action: 'cloudwatch:GetMetricData', Effect: 'Allow', Resource: '*' }],
    });
    const roles = withMetrics[0].Properties.Roles as { Ref: string }[];
    expect(roles).toHaveLength(1);
    expect(roles[0].Ref).toMatch(/^BatchLayerHandlerRole/);
  });

  it('alarms when Firehose freshness exceeds the worst case by construction', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Firehose',
      MetricName: 'DeliveryToS3.DataFreshness',
      Dimensions: [
        { Name: 'DeliveryStreamName', Value: { Ref: Match.stringLikeRegexp('^ArchiveDeliveryStream') } },
      ],
      Statistic: 'Maximum',
      Threshold: 210, // seconds: the lag without the margin
      ComparisonOperator: 'GreaterThanThreshold',
    });
  });
});

describe('a failed transform invocation does not lose events silently', () => {
  const template = synth().template();

  it('raises the processor retries above Firehose default of 3', () => {
    template.hasResourceProperties('AWS::KinesisFirehose::DeliveryStream', {
      ExtendedS3DestinationConfiguration: Match.objectLike({
        ProcessingConfiguration: {
          Enabled: true,
          Processors: [
            Match.objectLike({
              Parameters: Match.arrayWith([{ ParameterName: 'NumberOfRetries', ParameterValue: '10' }]),
            }),
          ],
        },
        ErrorOutputPrefix: Match.stringLikeRegexp('^errors/'),
      }),
    });
  });

  it('reserves concurrency for the transform (default 10, configurable, validated)', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Handler: 'index.handler',
      ReservedConcurrentExecutions: 10,
      Timeout: 60,
    });
    expect(() => synth({ archiveTransformReservedConcurrency: 0 })).toThrow(
      'transformReservedConcurrency must be between 1 and 1000 (given 0)',
    );
    synth({ archiveTransformReservedConcurrency: 25 })
      .template()
      .hasResourceProperties('AWS::Lambda::Function', { ReservedConcurrentExecutions: 25 });
  });

  it('alarms on ExecuteProcessing.Success and DeliveryToS3.Success below 1', () => {
    for (const metric of ['ExecuteProcessing.Success', 'DeliveryToS3.Success']) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/Firehose',
        MetricName: metric,
        Statistic: 'Minimum',
        Threshold: 1,
        ComparisonOperator: 'LessThanThreshold',
      });
    }
  });

  it('alarms on new objects under the error prefix (S3 request metrics filtered on errors/: no extra permission)', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      MetricsConfigurations: [{ Id: 'FirehoseErrors', Prefix: 'errors/' }],
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/S3',
      MetricName: 'PutRequests',
      Dimensions: Match.arrayWith([
        { Name: 'BucketName', Value: { Ref: Match.stringLikeRegexp('^ArchiveBucket') } },
        { Name: 'FilterId', Value: 'FirehoseErrors' },
      ]),
      Threshold: 0,
    });
  });
});

describe('monitoring that fires', () => {
  const template = synth({ batchSchedule: Duration.minutes(30) }).template();

  it('alarms on Athena bytes over the dimensions Athena publishes together (WorkGroup, QueryState, QueryType)', () => {
    const alarms = Object.values(resources(template, 'AWS::CloudWatch::Alarm')).filter(
      (a) => a.Properties.Metrics !== undefined,
    );
    expect(alarms).toHaveLength(1);
    const text = JSON.stringify(alarms[0].Properties.Metrics);
    for (const state of ['SUCCEEDED', 'FAILED', 'CANCELED'])
      expect(text).toContain(`{"Name":"QueryState","Value":"${state}"}`);
    expect(text).toContain('{"Name":"QueryType","Value":"DML"}');
    expect(text).toContain('MAX([succeeded, failed, canceled])');
  });

  it('fires the reconciliation alarm on two runs in a row: one period per run, every run of each disagreeing', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ReconciliationMismatches',
      Period: 1800,
      Statistic: 'Minimum',
      EvaluationPeriods: 2,
      DatapointsToAlarm: 2,
      Threshold: 0,
    });
  });
});

describe('ingestMaxBodyBytes stays within what one synchronous Lambda invocation carries', () => {
  it('accepts 3,000,000 bytes and refuses one byte more', () => {
    expect(() => synth({ ingestMaxBodyBytes: 3_000_000 })).not.toThrow();
    expect(() => synth({ ingestMaxBodyBytes: 3_000_001 })).toThrow(
      'ingestMaxBodyBytes must be between 1 and 3000000 (given 3000001)',
    );
  });
});

describe('dataRemovalPolicy', () => {
  it('retains the stream, tables and buckets by default', () => {
    const template = synth().template();
    for (const type of ['AWS::Kinesis::Stream', 'AWS::DynamoDB::Table', 'AWS::S3::Bucket'])
      for (const r of Object.values(resources(template, type))) expect(r.DeletionPolicy).toBe('Retain');
    template.resourceCountIs('Custom::S3AutoDeleteObjects', 0);
  });

  it('with DESTROY deletes the stream, the tables, and empties then deletes every bucket', () => {
    const template = synth({ dataRemovalPolicy: RemovalPolicy.DESTROY }).template();
    for (const type of ['AWS::Kinesis::Stream', 'AWS::DynamoDB::Table', 'AWS::S3::Bucket'])
      for (const r of Object.values(resources(template, type))) expect(r.DeletionPolicy).toBe('Delete');
    // archive (versioned), its access logs, the speed layer's on-failure bucket
    template.resourceCountIs('Custom::S3AutoDeleteObjects', 3);
  });
});

describe('context options', () => {
  const app = (context: Record<string, string>) =>
    new App({ context: { 'aws:cdk:bundling-stacks': [], views: FIXTURE, ...context } });

  it('names the stacks from stackName (a second deployment in one account and region)', () => {
    expect(buildApp(app({ stackName: 'Team-A' })).map((s) => s.stackName)).toEqual(['Team-A']);
    expect(buildApp(app({ stackName: 'TeamB', architecture: 'both' })).map((s) => s.stackName)).toEqual([
      'TeamB-Lambda',
      'TeamB-Kappa',
    ]);
    expect(stackNames('kappa', undefined)).toEqual({ lambda: 'StreamfoldLambda', kappa: 'StreamfoldKappa' });
  });

  it('derives Glue and Athena names from the stack, so two deployments do not collide', () => {
    const [a] = buildApp(app({ stackName: 'TeamA' }));
    const [b] = buildApp(app({ stackName: 'TeamB' }));
    const names = (stack: typeof a) => {
      const t = JSON.stringify(
        Object.values(
          (stack.node.root as App).synth().getStackByName(stack.stackName).template.Resources as object,
        ),
      );
      return [...t.matchAll(/"Name":"([^"]+)"/g)].map((m) => m[1]);
    };
    const shared = names(a).filter((n) => names(b).includes(n) && /teama|teamb|streamfold/i.test(n));
    expect(shared).toEqual([]);
  });

  it.each([
    [{ stackName: '1abc' }, 'context stackName must start with a letter'],
    [{ stackName: 'my_stack' }, 'context stackName must start with a letter'],
    [
      { dataRemovalPolicy: 'delete' },
      'context dataRemovalPolicy must be one of retain, destroy (given "delete")',
    ],
    [{ ingestMaxBodyBytes: '8000000' }, 'ingestMaxBodyBytes must be between 1 and 3000000'],
    [{ ingestMaxBodyBytes: 'big' }, 'context ingestMaxBodyBytes must be a number'],
    [{ batchCompaction: 'no' }, 'context batchCompaction must be true or false (given "no")'],
    [{ batchCompactionHours: '0.5' }, 'compactionPeriod (hours) must be between 1 and 720 (given 0.5)'],
  ])('fails if given %j', (context, message) => {
    expect(() => buildApp(app(context))).toThrow(message);
  });

  it('passes dataRemovalPolicy=destroy to the stacks', () => {
    const [stack] = buildApp(app({ dataRemovalPolicy: 'destroy' }));
    const template = (stack.node.root as App).synth().getStackByName(stack.stackName).template as {
      Resources: Resources;
    };
    const stream = Object.values(template.Resources).find((r) => r.Type === 'AWS::Kinesis::Stream');
    expect(stream?.DeletionPolicy).toBe('Delete');
  });

  it('turns the compaction off with batchCompaction=false and sets its period with batchCompactionHours', () => {
    const resources = (context: Record<string, string>) => {
      const [stack] = buildApp(app(context));
      return Object.values(
        (stack.node.root as App).synth().getStackByName(stack.stackName).template.Resources as Resources,
      );
    };
    const tables = (rs: ReturnType<typeof resources>) =>
      rs.filter((r) => r.Type === 'AWS::Glue::Table').length;
    expect(tables(resources({ batchCompaction: 'false' }))).toBe(1);
    const six = resources({ batchCompactionHours: '6' });
    expect(tables(six)).toBe(2);
    expect(JSON.stringify(six)).toContain(`"STREAMFOLD_ATHENA_COMPACTION_PERIOD_MS":"${6 * 3_600_000}"`);
  });
});
