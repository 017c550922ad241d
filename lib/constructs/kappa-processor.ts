import { Duration, Tokenization, type RemovalPolicy } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import type { KinesisConsumerEventSource, KinesisEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { kappaProcessorEnvironment } from '../../lambdas/runtime/function-environment';
import { grantTable } from './grants';
import { checkRange } from './validate';
import { HandlerFunction } from './handler-function';
import { addKinesisSource, resolveKinesisSourceOptions, type KinesisSourceOptions } from './kinesis-source';

/** Props of KappaProcessor. */
export interface KappaProcessorProps extends KinesisSourceOptions {
  /** The stream the processor consumes (through a Lambda event source mapping). */
  readonly stream: kinesis.IStream;
  /** Versioned serving rows (read, conditionally written, queried). */
  readonly kappaTable: dynamodb.ITable;
  /** Per-view pointers: which versions the processor writes (the active one, and the one a replay builds). */
  readonly controlTable: dynamodb.ITable;
  /** Event-id claims: the processor always drops producer duplicates (no batch layer corrects it). */
  readonly dedupeTable: dynamodb.ITable;
  /** The views as JSON (what `ENV.views` carries). */
  readonly viewsJson: string;
  /**
   * What happens to the on-failure bucket when the stack is deleted (`DESTROY` empties it first).
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * How long an event-id claim is kept (producer retries further apart than this are counted twice).
   * @default Duration.days(7)
   */
  readonly dedupeWindow?: Duration;
  /**
   * Memory of the processor function in MiB.
   * @default 1024
   */
  readonly memorySize?: number;
}

/**
 * The Kappa stream processor: the `kappa-processor` handler on a Kinesis event source with the
 * speed layer's poison-record handling (partial batch responses, bisection, bounded retries and
 * record age, an encrypted S3 on-failure bucket with the records, with an alarm: the same helper), writing
 * complete views into the serving version(s) the control table names. Event-id dedupe is always
 * on: with no batch layer behind it, the processor must be exact on its own.
 */
export class KappaProcessor extends Construct {
  readonly handler: HandlerFunction;
  /** The on-failure destination: one object per failed batch, records included. */
  readonly deadLetterBucket: s3.Bucket;
  readonly deadLetterAlarm: cloudwatch.Alarm;
  readonly eventSource: KinesisEventSource | KinesisConsumerEventSource;
  /** The enhanced fan-out consumer it reads through (`enhancedFanOut`); absent: a standard iterator. */
  readonly streamConsumer?: kinesis.StreamConsumer;

  constructor(scope: Construct, id: string, props: KappaProcessorProps) {
    super(scope, id);
    const source = resolveKinesisSourceOptions(props);
    const memorySize = props.memorySize ?? 1024;
    checkRange('memorySize', memorySize, 128, 10_240);
    const dedupeWindow = props.dedupeWindow ?? Duration.days(7);
    checkRange('dedupeWindow (seconds)', dedupeWindow.toSeconds(), 3600, undefined);

    this.handler = new HandlerFunction(this, 'Handler', {
      handler: 'kappa-processor',
      timeout: Duration.minutes(5),
      memorySize,
      environment: kappaProcessorEnvironment({
        views: props.viewsJson,
        kappaTable: props.kappaTable.tableName,
        controlTable: props.controlTable.tableName,
        dedupeTable: props.dedupeTable.tableName,
        dedupe: true,
        dedupeTtlSeconds: Tokenization.stringifyNumber(dedupeWindow.toSeconds()),
        // parallelizationFactor is 1 (resolveKinesisSourceOptions): a shard's records come in order.
        fenceBy: 'shard',
      }),
    });
    const fn = this.handler.function;
    grantTable(
      props.kappaTable,
      fn,
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'dynamodb:Query',
    );
    grantTable(props.controlTable, fn, 'dynamodb:GetItem');
    // UpdateItem: noting a copy that arrived before the kept one (decodeAndClaim), and its counter.
    grantTable(props.dedupeTable, fn, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem');

    const consumer = addKinesisSource(
      this,
      this.handler,
      props.stream,
      source,
      'Kappa processor',
      props.removalPolicy,
    );
    this.eventSource = consumer.eventSource;
    this.streamConsumer = consumer.streamConsumer;
    this.deadLetterBucket = consumer.deadLetterBucket;
    this.deadLetterAlarm = consumer.deadLetterAlarm;
  }
}
