import { Duration, Names, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import {
  KinesisConsumerEventSource,
  KinesisEventSource,
  type KinesisEventSourceProps,
} from 'aws-cdk-lib/aws-lambda-event-sources';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { DEFAULT_STREAM_BATCH_SIZE } from '../../lambdas/runtime/function-environment';
import { grantBucket, grantObjects } from './grants';
import type { HandlerFunction } from './handler-function';
import { checkRange, requireResolved } from './validate';

/** Days a failed batch stays in the on-failure bucket (time to redrive it). */
export const FAILED_BATCH_RETENTION_DAYS = 14;

/**
 * The on-failure destination of a Kinesis event source mapping as an S3 bucket, granting the
 * function's role only what Lambda documents it needs for an S3 destination: s3:PutObject and
 * s3:ListBucket (https://docs.aws.amazon.com/lambda/latest/dg/with-msk-on-failure.html, the same
 * event source mapping destinations). aws-cdk-lib's S3OnFailureDestination grants read-write
 * (wildcard actions such as s3:GetObject*, s3:DeleteObject*).
 * For an S3 destination Lambda sends "the entire invocation record along with the metadata"
 * (https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html); an SQS or
 * SNS destination gets the metadata only.
 */
export class S3FailedBatchDestination implements lambda.IEventSourceDlq {
  constructor(private readonly bucket: s3.IBucket) {}

  bind(_target: lambda.IEventSourceMapping, targetHandler: lambda.IFunction): lambda.DlqDestinationConfig {
    grantObjects(this.bucket, targetHandler, '*', 's3:PutObject');
    grantBucket(this.bucket, targetHandler, 's3:ListBucket');
    return { destination: this.bucket.bucketArn };
  }
}

/**
 * How a stream consumer (the speed layer, the Kappa processor) reads its Kinesis stream: the
 * event source mapping's fields. Shared so both consumers get the same poison-record handling.
 */
export interface KinesisSourceOptions {
  /**
   * Most records per invocation. With no batching window a caught-up shard's batch is what one
   * read brings (about a second of its records) whatever this is; the limit only matters when the
   * consumer is behind, where a larger batch works the backlog off in fewer invocations and fewer
   * row writes per event. Lambda also ends a batch at its 6 MB invocation payload (about 9,000
   * clickstream records of 160 bytes). ADR 026.
   * @default 10000 (Lambda's largest for Kinesis)
   */
  readonly batchSize?: number;
  /**
   * How long the event source gathers records before invoking with a partial batch. Lambda
   * already reads each shard at most once a second when it has caught up, so every batch holds
   * about a second of records anyway: a window adds its length to the time before an event is
   * served, for fewer invocations only below about one record a second per shard (ADR 014).
   * @default Duration.seconds(0) (Lambda's default: invoke as soon as records are read)
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
   * Concurrent batches per shard. Only 1 is accepted: see {@link PARALLELIZATION_REFUSED} (scale
   * a stream consumer with shards instead).
   * @default 1
   */
  readonly parallelizationFactor?: number;
  /**
   * Read the stream through an enhanced fan-out consumer of its own (a registered stream consumer:
   * records pushed over HTTP/2, "typically an average of 70 ms" from PutRecords, against about
   * 200 ms on average and a read of each caught-up shard once a second with a standard iterator),
   * for events served sooner. It adds a consumer-shard hour and a per-GB retrieval charge
   * (https://aws.amazon.com/kinesis/data-streams/pricing/), and a stream takes at most 20
   * registered consumers. Order per shard and parents before children are kept as with a standard
   * iterator, so the fences and the dedupe are unchanged (ADR 025).
   * @default false
   */
  readonly enhancedFanOut?: boolean;
}

/**
 * Why a ParallelizationFactor above 1 is refused at synth time. With it, Lambda keeps records in
 * order per partition key only, not per shard ("Lambda still ensures in-order processing at the
 * partition-key level": https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html), so an
 * exact row must keep one sequence fence per shard and partition key that wrote it (ADR 003). A
 * fence is about 200 bytes (shard id, partition key of up to 256 characters:
 * https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecord.html, and the padded
 * 129-digit sequence number), and POST /events uses each event's id as its partition key: a speed
 * row (one key, bucket and arrival minute) or a Kappa cell (one key and bucket, every arrival)
 * fed more than about 2,000 events would pass DynamoDB's 400 KB item limit
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html), its
 * write would fail on every retry, and its batch would be dead-lettered: valid events not served.
 * No documented bound on a row's partition keys exists, so the factor stays 1.
 */
export const PARALLELIZATION_REFUSED =
  "above 1 Lambda keeps order per partition key only, so every row would need a fence per partition key; POST /events uses each event's id as its partition key, so a row fed more than about 2,000 events would pass DynamoDB's 400 KB item limit and its batch would be dead-lettered (docs/deploy.md). Scale the consumer with shards instead: on-demand capacity (the default) or -c shardCount=N";

/** The options with their defaults applied, validated. */
export interface ResolvedKinesisSourceOptions {
  readonly batchSize: number;
  readonly maxBatchingWindow: Duration;
  readonly bisectBatchOnError: boolean;
  readonly retryAttempts: number;
  readonly maxRecordAge: Duration;
  readonly parallelizationFactor: number;
  readonly enhancedFanOut: boolean;
  /** TumblingWindowInSeconds (the speed layer's `aggregationWindow`); absent: no window. */
  readonly tumblingWindow?: Duration;
}

/** Applies the defaults and validates each option against the event source mapping's limits. */
export function resolveKinesisSourceOptions(options: KinesisSourceOptions): ResolvedKinesisSourceOptions {
  const batchSize = options.batchSize ?? DEFAULT_STREAM_BATCH_SIZE;
  checkRange('batchSize', batchSize, 1, 10_000);
  const retryAttempts = options.retryAttempts ?? 10;
  checkRange('retryAttempts', retryAttempts, 0, 10_000);
  const parallelizationFactor = options.parallelizationFactor ?? 1;
  checkRange('parallelizationFactor', parallelizationFactor, 1, 10);
  requireResolved('parallelizationFactor', parallelizationFactor, 'only 1 is accepted');
  if (parallelizationFactor !== 1)
    throw new Error(
      `parallelizationFactor must be 1 (given ${parallelizationFactor}): ${PARALLELIZATION_REFUSED}`,
    );
  const maxBatchingWindow = options.maxBatchingWindow ?? Duration.seconds(0);
  checkRange('maxBatchingWindow (seconds)', maxBatchingWindow.toSeconds(), 0, 300);
  const maxRecordAge = options.maxRecordAge ?? Duration.days(1);
  checkRange('maxRecordAge (seconds)', maxRecordAge.toSeconds(), 60, 604_800);
  return {
    batchSize,
    maxBatchingWindow,
    bisectBatchOnError: options.bisectBatchOnError ?? true,
    retryAttempts,
    maxRecordAge,
    parallelizationFactor,
    enhancedFanOut: options.enhancedFanOut ?? false,
  };
}

/** What {@link addKinesisSource} created. */
export interface KinesisSource {
  readonly eventSource: KinesisEventSource | KinesisConsumerEventSource;
  /** The enhanced fan-out consumer the event source reads through (`enhancedFanOut`); absent: a standard iterator. */
  readonly streamConsumer?: kinesis.StreamConsumer;
  /** Where failed batches go, each as one object holding the invocation record (the records themselves). */
  readonly deadLetterBucket: s3.Bucket;
  readonly deadLetterAlarm: cloudwatch.Alarm;
}

/**
 * Puts `handler` on `stream` through an event source mapping with partial batch responses,
 * bisection, bounded retries and record age, and an S3 on-failure destination (encrypted,
 * TLS-only, private, expiring after {@link FAILED_BATCH_RETENTION_DAYS} days) with an alarm on new
 * objects. The bucket and the alarm are created in `scope` as `DeadLetterBucket` and
 * `DeadLetterAlarm`. A failed batch object is redriven with `npm run redrive` (docs/deploy.md).
 */
export function addKinesisSource(
  scope: Construct,
  handler: HandlerFunction,
  stream: kinesis.IStream,
  options: ResolvedKinesisSourceOptions,
  consumerName: string,
  removalPolicy: RemovalPolicy = RemovalPolicy.RETAIN,
): KinesisSource {
  const deadLetterBucket = new s3.Bucket(scope, 'DeadLetterBucket', {
    encryption: s3.BucketEncryption.S3_MANAGED,
    enforceSSL: true,
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    lifecycleRules: [
      {
        expiration: Duration.days(FAILED_BATCH_RETENTION_DAYS),
        abortIncompleteMultipartUploadAfter: Duration.days(1),
      },
    ],
    // Request metrics on every object: a PUT means a failed batch (the alarm below).
    metrics: [{ id: 'FailedBatches' }],
    removalPolicy,
    autoDeleteObjects: removalPolicy === RemovalPolicy.DESTROY,
  });
  Validations.of(deadLetterBucket).acknowledge({
    id: 'AwsSolutions-S1',
    reason: `Only Lambda's event source mapping writes here (the ${consumerName}'s failed batches, expired after ${FAILED_BATCH_RETENTION_DAYS} days); every write is also an S3 request metric the dead-letter alarm watches.`,
  });
  const sourceProps: KinesisEventSourceProps = {
    startingPosition: lambda.StartingPosition.TRIM_HORIZON,
    batchSize: options.batchSize,
    maxBatchingWindow: options.maxBatchingWindow,
    bisectBatchOnError: options.bisectBatchOnError,
    retryAttempts: options.retryAttempts,
    maxRecordAge: options.maxRecordAge,
    parallelizationFactor: options.parallelizationFactor,
    tumblingWindow: options.tumblingWindow,
    reportBatchItemFailures: true,
    onFailure: new S3FailedBatchDestination(deadLetterBucket),
  };
  // A consumer's name is unique per stream: the construct path keeps the speed layer's and the
  // Kappa processor's apart when both read one stream (`-c architecture=both`).
  const streamConsumer = options.enhancedFanOut
    ? new kinesis.StreamConsumer(scope, 'StreamConsumer', {
        stream,
        streamConsumerName: Names.uniqueResourceName(scope, { maxLength: 128, separator: '-' }),
      })
    : undefined;
  const eventSource = streamConsumer
    ? new KinesisConsumerEventSource(streamConsumer, sourceProps)
    : new KinesisEventSource(stream, sourceProps);
  handler.function.addEventSource(eventSource);
  Validations.of(handler.role).acknowledge({
    id: `AwsSolutions-IAM5[Resource::<${Stack.of(scope).getLogicalId(deadLetterBucket.node.defaultChild as s3.CfnBucket)}.Arn>/*]`,
    reason: `Lambda writes each failed batch of the ${consumerName} under a key it generates: s3:PutObject on the objects of this one on-failure bucket.`,
  });
  const deadLetterAlarm = new cloudwatch.Metric({
    namespace: 'AWS/S3',
    metricName: 'PutRequests',
    dimensionsMap: { BucketName: deadLetterBucket.bucketName, FilterId: 'FailedBatches' },
    statistic: 'Sum',
    period: Duration.minutes(1),
  }).createAlarm(scope, 'DeadLetterAlarm', {
    threshold: 0,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    evaluationPeriods: 1,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    alarmDescription: `A batch of stream records failed the ${consumerName} and was written, records included, to its on-failure bucket: redrive it (docs/deploy.md).`,
  });
  return { eventSource, streamConsumer, deadLetterBucket, deadLetterAlarm };
}
