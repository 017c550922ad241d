import { Duration, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { KinesisEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { HandlerFunction } from './handler-function';

/**
 * How a stream consumer (the speed layer, the Kappa processor) reads its Kinesis stream: the
 * event source mapping's fields. Shared so both consumers get the same poison-record handling.
 */
export interface KinesisSourceOptions {
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
}

/** The options with their defaults applied, validated. */
export interface ResolvedKinesisSourceOptions {
  readonly batchSize: number;
  readonly maxBatchingWindow: Duration;
  readonly bisectBatchOnError: boolean;
  readonly retryAttempts: number;
  readonly maxRecordAge: Duration;
  readonly parallelizationFactor: number;
}

/** Throws `<name> must be between <min> and <max> (given <value>)` unless value is an integer in range. */
export function checkRange(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max)
    throw new Error(`${name} must be between ${min} and ${max} (given ${value})`);
}

/** Applies the defaults and validates each option against the event source mapping's limits. */
export function resolveKinesisSourceOptions(options: KinesisSourceOptions): ResolvedKinesisSourceOptions {
  const batchSize = options.batchSize ?? 500;
  checkRange('batchSize', batchSize, 1, 10_000);
  const retryAttempts = options.retryAttempts ?? 10;
  checkRange('retryAttempts', retryAttempts, 0, 10_000);
  const parallelizationFactor = options.parallelizationFactor ?? 1;
  checkRange('parallelizationFactor', parallelizationFactor, 1, 10);
  const windowSeconds = (options.maxBatchingWindow ?? Duration.seconds(1)).toSeconds();
  checkRange('maxBatchingWindow (seconds)', windowSeconds, 0, 300);
  const maxRecordAge = options.maxRecordAge ?? Duration.days(1);
  checkRange('maxRecordAge (seconds)', maxRecordAge.toSeconds(), 60, 604_800);
  return {
    batchSize,
    maxBatchingWindow: Duration.seconds(windowSeconds),
    bisectBatchOnError: options.bisectBatchOnError ?? true,
    retryAttempts,
    maxRecordAge,
    parallelizationFactor,
  };
}

/** What {@link addKinesisSource} created. */
export interface KinesisSource {
  readonly eventSource: KinesisEventSource;
  readonly deadLetterQueue: sqs.Queue;
  readonly deadLetterAlarm: cloudwatch.Alarm;
}

/**
 * Puts `handler` on `stream` through an event source mapping with partial batch responses,
 * bisection, bounded retries and record age, and an encrypted SQS on-failure destination with an
 * alarm. The queue and the alarm are created in `scope` as `DeadLetterQueue` and `DeadLetterAlarm`
 * (the IDs the speed layer always had, so its resources keep their logical IDs).
 */
export function addKinesisSource(
  scope: Construct,
  handler: HandlerFunction,
  stream: kinesis.IStream,
  options: ResolvedKinesisSourceOptions,
  consumerName: string,
): KinesisSource {
  // The AWS-managed key (alias/aws/sqs): its key policy lets the function's role send through SQS,
  // so the event source mapping needs no KMS grant.
  const deadLetterQueue = new sqs.Queue(scope, 'DeadLetterQueue', {
    encryption: sqs.QueueEncryption.KMS_MANAGED,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
  });
  for (const id of ['AwsSolutions-SQS3', 'Serverless-SQSRedrivePolicy']) {
    Validations.of(deadLetterQueue).acknowledge({
      id,
      reason: `This queue is itself the dead-letter (on-failure) destination of the ${consumerName}; it needs no DLQ of its own.`,
    });
  }
  const eventSource = new KinesisEventSource(stream, {
    startingPosition: lambda.StartingPosition.TRIM_HORIZON,
    batchSize: options.batchSize,
    maxBatchingWindow: options.maxBatchingWindow,
    bisectBatchOnError: options.bisectBatchOnError,
    retryAttempts: options.retryAttempts,
    maxRecordAge: options.maxRecordAge,
    parallelizationFactor: options.parallelizationFactor,
    reportBatchItemFailures: true,
    onFailure: new SqsDlq(deadLetterQueue),
  });
  handler.function.addEventSource(eventSource);
  const deadLetterAlarm = deadLetterQueue
    .metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' })
    .createAlarm(scope, 'DeadLetterAlarm', {
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: `Records of the stream failed the ${consumerName} and wait in its dead-letter queue (with their shard and sequence range).`,
    });
  return { eventSource, deadLetterQueue, deadLetterAlarm };
}
