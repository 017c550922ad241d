import { Duration, Tokenization, type RemovalPolicy } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import type { KinesisEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { speedEnvironment } from '../../lambdas/runtime/function-environment';
import { arrivalBucketEnv } from './arrival-bucket';
import { grantTable } from './grants';
import { HandlerFunction } from './handler-function';
import { addKinesisSource, resolveKinesisSourceOptions, type KinesisSourceOptions } from './kinesis-source';

/** Props of SpeedLayer. */
export interface SpeedLayerProps extends KinesisSourceOptions {
  /** The stream the speed layer consumes (through a Lambda event source mapping). */
  readonly stream: kinesis.IStream;
  /** Where the fenced speed rows live (read and conditionally written). */
  readonly speedTable: dynamodb.ITable;
  /** Where event-id claims live (used when `eventDedupe` is on). */
  readonly dedupeTable: dynamodb.ITable;
  /** The views as JSON (what `ENV.views` carries). */
  readonly viewsJson: string;
  /** Width of the arrival buckets speed rows are kept per (the cutoff's alignment): at least 1 second, dividing an hour. */
  readonly arrivalBucket: Duration;
  /**
   * Drop repeated event ids (producer retries) in the speed layer: one conditional write per event.
   * @default true
   */
  readonly eventDedupe?: boolean;
  /**
   * What happens to the on-failure bucket when the stack is deleted (`DESTROY` empties it first).
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * How long an event-id claim is kept.
   * @default Duration.days(7)
   */
  readonly dedupeWindow?: Duration;
}

/**
 * The speed layer: the speed handler on a Kinesis event source with partial batch responses,
 * bisection, bounded retries and record age, and an encrypted S3 on-failure bucket (records included) with an alarm.
 */
export class SpeedLayer extends Construct {
  readonly handler: HandlerFunction;
  /** The on-failure destination: one object per failed batch, records included. */
  readonly deadLetterBucket: s3.Bucket;
  readonly deadLetterAlarm: cloudwatch.Alarm;
  readonly eventSource: KinesisEventSource;

  constructor(scope: Construct, id: string, props: SpeedLayerProps) {
    super(scope, id);
    const source = resolveKinesisSourceOptions(props);
    const dedupe = props.eventDedupe ?? true;

    this.handler = new HandlerFunction(this, 'Handler', {
      handler: 'speed',
      timeout: Duration.minutes(5),
      memorySize: 1024,
      environment: speedEnvironment({
        views: props.viewsJson,
        speedTable: props.speedTable.tableName,
        arrivalBucketMs: arrivalBucketEnv(props.arrivalBucket),
        dedupeTable: props.dedupeTable.tableName,
        dedupe,
        dedupeTtlSeconds: Tokenization.stringifyNumber((props.dedupeWindow ?? Duration.days(7)).toSeconds()),
        fenceBy: source.parallelizationFactor > 1 ? 'partitionKey' : 'shard',
      }),
    });
    const fn = this.handler.function;
    grantTable(props.speedTable, fn, 'dynamodb:GetItem', 'dynamodb:PutItem');
    // UpdateItem: noting a copy that arrived before the kept one, and its counter.
    if (dedupe)
      grantTable(props.dedupeTable, fn, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem');

    const consumer = addKinesisSource(
      this,
      this.handler,
      props.stream,
      source,
      'speed layer',
      props.removalPolicy,
    );
    this.eventSource = consumer.eventSource;
    this.deadLetterBucket = consumer.deadLetterBucket;
    this.deadLetterAlarm = consumer.deadLetterAlarm;
  }
}
