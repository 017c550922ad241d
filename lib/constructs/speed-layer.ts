import { Duration, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { KinesisEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ENV } from '../../lambdas/runtime/env';
import { HandlerFunction } from './handler-function';

/** Props of SpeedLayer. */
export interface SpeedLayerProps {
  /** The stream the speed layer consumes (through a Lambda event source mapping). */
  readonly stream: kinesis.IStream;
  /** Where the fenced speed rows live (read and conditionally written). */
  readonly speedTable: dynamodb.ITable;
  /** Where event-id claims live (used when `eventDedupe` is on). */
  readonly dedupeTable: dynamodb.ITable;
  /** The views as JSON (what `ENV.views` carries). */
  readonly viewsJson: string;
  /** Width of the arrival buckets speed rows are kept per (the cutoff's alignment), in milliseconds. */
  readonly arrivalBucketMs: number;
  /**
   * Most records per invocation.
   * @default 500
   */
  readonly batchSize?: number;
  /**
   * How long the event source gathers records before invoking with a partial batch.
   * @default Duration.seconds(1)
   */
  readonly maxBatchingWindow?: Duration;
  /**
   * Split a failing batch in two and retry each half (isolates a poison record).
   * @default true
   */
  readonly bisectBatchOnError?: boolean;
  /**
   * Retries of a failing batch before it goes to the dead-letter queue.
   * @default 10
   */
  readonly retryAttempts?: number;
  /**
   * Records older than this go to the dead-letter queue unprocessed.
   * @default Duration.days(1)
   */
  readonly maxRecordAge?: Duration;
  /**
   * Concurrent batches per shard. Above 1, Lambda keeps order only per partition key, so rows are
   * fenced per shard and partition key (one fence per key on a row).
   * @default 1
   */
  readonly parallelizationFactor?: number;
  /**
   * Drop repeated event ids (producer retries) in the speed layer: one conditional write per event.
   * @default true
   */
  readonly eventDedupe?: boolean;
  /**
   * How long an event-id claim is kept.
   * @default Duration.days(7)
   */
  readonly dedupeWindow?: Duration;
}

function checkRange(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max)
    throw new Error(`${name} must be between ${min} and ${max} (given ${value})`);
}

/**
 * The speed layer: the speed handler on a Kinesis event source with partial batch responses,
 * bisection, bounded retries and record age, and an encrypted SQS dead-letter queue with an alarm.
 */
export class SpeedLayer extends Construct {
  readonly handler: HandlerFunction;
  readonly deadLetterQueue: sqs.Queue;
  readonly deadLetterAlarm: cloudwatch.Alarm;
  readonly eventSource: KinesisEventSource;

  constructor(scope: Construct, id: string, props: SpeedLayerProps) {
    super(scope, id);
    const batchSize = props.batchSize ?? 500;
    checkRange('batchSize', batchSize, 1, 10_000);
    const retryAttempts = props.retryAttempts ?? 10;
    checkRange('retryAttempts', retryAttempts, 0, 10_000);
    const parallelizationFactor = props.parallelizationFactor ?? 1;
    checkRange('parallelizationFactor', parallelizationFactor, 1, 10);
    const windowSeconds = (props.maxBatchingWindow ?? Duration.seconds(1)).toSeconds();
    checkRange('maxBatchingWindow (seconds)', windowSeconds, 0, 300);
    const maxRecordAge = props.maxRecordAge ?? Duration.days(1);
    checkRange('maxRecordAge (seconds)', maxRecordAge.toSeconds(), 60, 604_800);
    const dedupe = props.eventDedupe ?? true;

    // The AWS-managed key (alias/aws/sqs): its key policy lets the function's role send through SQS,
    // so the event source mapping needs no KMS grant.
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.KMS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    for (const id of ['AwsSolutions-SQS3', 'Serverless-SQSRedrivePolicy']) {
      Validations.of(this.deadLetterQueue).acknowledge({
        id,
        reason:
          'This queue is itself the dead-letter (on-failure) destination of the speed layer; it needs no DLQ of its own.',
      });
    }
    this.handler = new HandlerFunction(this, 'Handler', {
      handler: 'speed',
      timeout: Duration.minutes(5),
      memorySize: 1024,
      environment: {
        [ENV.views]: props.viewsJson,
        [ENV.speedTable]: props.speedTable.tableName,
        [ENV.dedupeTable]: props.dedupeTable.tableName,
        [ENV.speedDedupe]: String(dedupe),
        [ENV.dedupeTtlSeconds]: String((props.dedupeWindow ?? Duration.days(7)).toSeconds()),
        [ENV.fenceBy]: parallelizationFactor > 1 ? 'partitionKey' : 'shard',
        [ENV.arrivalBucketMs]: String(props.arrivalBucketMs),
      },
    });
    const role = this.handler.role;
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:GetItem', 'dynamodb:PutItem'],
        resources: [props.speedTable.tableArn],
      }),
    );
    if (dedupe)
      role.addToPolicy(
        new iam.PolicyStatement({
          // UpdateItem: noting a copy that arrived before the kept one, and its counter.
          actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
          resources: [props.dedupeTable.tableArn],
        }),
      );

    this.eventSource = new KinesisEventSource(props.stream, {
      startingPosition: lambda.StartingPosition.TRIM_HORIZON,
      batchSize,
      maxBatchingWindow: Duration.seconds(windowSeconds),
      bisectBatchOnError: props.bisectBatchOnError ?? true,
      retryAttempts,
      maxRecordAge,
      parallelizationFactor,
      reportBatchItemFailures: true,
      onFailure: new SqsDlq(this.deadLetterQueue),
    });
    this.handler.function.addEventSource(this.eventSource);

    this.deadLetterAlarm = this.deadLetterQueue
      .metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' })
      .createAlarm(this, 'DeadLetterAlarm', {
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription:
          'Records of the stream failed the speed layer and wait in its dead-letter queue (with their shard and sequence range).',
      });
  }
}
