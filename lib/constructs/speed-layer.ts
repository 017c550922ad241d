import { Duration, Tokenization, type RemovalPolicy } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import type { KinesisConsumerEventSource, KinesisEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import {
  DEFAULT_DEDUPE_WINDOW_SECONDS,
  speedEnvironment,
  type DedupeScope,
} from '../../lambdas/runtime/function-environment';
import { arrivalBucketEnv } from './arrival-bucket';
import { grantTable } from './grants';
import { HandlerFunction } from './handler-function';
import { addKinesisSource, resolveKinesisSourceOptions, type KinesisSourceOptions } from './kinesis-source';
import { checkRange } from './validate';

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
   * Drop repeated event ids (producer retries) in the speed layer.
   * @default true
   */
  readonly eventDedupe?: boolean;
  /**
   * How far dedupe reaches (ADR 008). `shard`: copies that share a partition key (as every
   * POST /events retry does), at about one id-log write per batch, the window's ids held in the
   * function's memory. `global`: copies under any partition key, at one conditional write per event.
   * @default 'shard'
   */
  readonly dedupeScope?: DedupeScope;
  /**
   * What happens to the on-failure bucket when the stack is deleted (`DESTROY` empties it first).
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * How far apart in arrival copies of an id are still recognized (beyond it the batch layer still
   * keeps one copy, once its cutoff covers them). With `shard` scope the function holds the
   * window's ids in memory: about 150 bytes x records/s of a shard x window.
   * @default Duration.minutes(15) with `shard` scope, Duration.days(7) with `global`
   */
  readonly dedupeWindow?: Duration;
  /**
   * Aggregation window (ADR 012): the event source's tumbling window (TumblingWindowInSeconds).
   * The function folds each batch into the window's state and writes each row once per window,
   * so a row's new values appear only when its window closes (up to this long, plus the batching
   * window, after the event arrived), at a fraction of the row writes. 0 turns it off. At most
   * 900 seconds (https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-windows.html),
   * whole seconds, and only with parallelizationFactor 1 (a window's state is per shard).
   * @default Duration.seconds(0) (off: every batch writes its rows)
   */
  readonly aggregationWindow?: Duration;
}

/** Checks `aggregationWindow` and returns it as the event source's tumbling window (undefined: off). */
export function resolveAggregationWindow(
  window: Duration | undefined,
  parallelizationFactor: number,
): Duration | undefined {
  if (window === undefined) return undefined;
  const seconds = window.toSeconds({ integral: false });
  checkRange('aggregationWindow (seconds)', seconds, 0, 900, {
    why: 'Lambda tumbling windows are whole seconds up to 15 minutes; 0 turns the window off',
  });
  if (seconds === 0) return undefined;
  if (parallelizationFactor !== 1)
    throw new Error(
      `aggregationWindow needs parallelizationFactor 1 (given ${parallelizationFactor}): a window's state is kept per shard, and the rows it writes are fenced per shard`,
    );
  return Duration.seconds(seconds);
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
  readonly eventSource: KinesisEventSource | KinesisConsumerEventSource;
  /** The enhanced fan-out consumer it reads through (`enhancedFanOut`); absent: a standard iterator. */
  readonly streamConsumer?: kinesis.StreamConsumer;

  constructor(scope: Construct, id: string, props: SpeedLayerProps) {
    super(scope, id);
    const source = {
      ...resolveKinesisSourceOptions(props),
      tumblingWindow: resolveAggregationWindow(props.aggregationWindow, props.parallelizationFactor ?? 1),
    };
    const dedupe = props.eventDedupe ?? true;
    const dedupeScope = props.dedupeScope ?? 'shard';
    const dedupeWindow = props.dedupeWindow ?? Duration.seconds(DEFAULT_DEDUPE_WINDOW_SECONDS[dedupeScope]);

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
        dedupeScope,
        dedupeTtlSeconds: Tokenization.stringifyNumber(dedupeWindow.toSeconds()),
        // parallelizationFactor is 1 (resolveKinesisSourceOptions): a shard's records come in order.
        fenceBy: 'shard',
      }),
    });
    const fn = this.handler.function;
    // UpdateItem for the rows (a row keeps the definition it was created under), PutItem for the origin item.
    grantTable(props.speedTable, fn, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem');
    // UpdateItem: noting a copy that arrived before the kept one, and its counter.
    if (dedupe && dedupeScope === 'global')
      grantTable(props.dedupeTable, fn, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem');
    // Query: reading a shard's id log; PutItem: appending to it (ADR 008).
    if (dedupe && dedupeScope === 'shard')
      grantTable(props.dedupeTable, fn, 'dynamodb:Query', 'dynamodb:PutItem');

    const consumer = addKinesisSource(
      this,
      this.handler,
      props.stream,
      source,
      'speed layer',
      props.removalPolicy,
    );
    this.eventSource = consumer.eventSource;
    this.streamConsumer = consumer.streamConsumer;
    this.deadLetterBucket = consumer.deadLetterBucket;
    this.deadLetterAlarm = consumer.deadLetterAlarm;
  }
}
