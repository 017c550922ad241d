import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import type { ViewDefinition } from '../../lambdas/core/view';
import { lambdaQueryEnvironment } from '../../lambdas/runtime/function-environment';
import type { DedupeScope } from '../../lambdas/runtime/function-environment';
import { ServingApi } from '../constructs/api';
import { API_FUNCTION_TIMEOUT } from '../constructs/api-timeouts';
import { Archive } from '../constructs/archive';
import { arrivalBucketEnv, DEFAULT_ARRIVAL_BUCKET } from '../constructs/arrival-bucket';
import { BatchLayer } from '../constructs/batch-layer';
import { EventStream } from '../constructs/event-stream';
import { grantTable } from '../constructs/grants';
import { HandlerFunction } from '../constructs/handler-function';
import { Operations } from '../constructs/operations';
import { ServingTables } from '../constructs/serving-tables';
import { SpeedLayer } from '../constructs/speed-layer';
import type { ServingApiOptions } from './serving-api-options';
import { addDashboardFunction, addIngestFunction, checkIngestMaxBodyBytes, viewsToJson } from './shared';

// Re-exported where it was first defined: apps may import it from here.
export { MAX_VIEWS_JSON_BYTES } from './shared';

/** Props of LambdaArchitectureStack. */
export interface LambdaArchitectureStackProps extends StackProps, ServingApiOptions {
  /** The views to serve (validated definitions from views.ts); they travel to every function as JSON. */
  readonly views: readonly ViewDefinition[];
  /**
   * Provisioned shards of the stream.
   * @default - on-demand
   */
  readonly shardCount?: number;
  /**
   * How long records stay on the stream (EventStreamProps.retention). Beyond 24 hours Kinesis bills
   * extended retention; at 24 hours a speed layer or Firehose stopped for longer loses records
   * from the stream (the archive then holds only what Firehose read). Context `streamRetentionHours`.
   * @default Duration.days(7)
   */
  readonly streamRetention?: Duration;
  /**
   * Batch schedule.
   * @default Duration.minutes(15)
   */
  readonly batchSchedule?: Duration;
  /**
   * Compact the archive into Parquet by event hour before each batch run, and read it (ADR 011):
   * `false` keeps every run reading the NDJSON archive.
   * @default true
   */
  readonly batchCompaction?: boolean;
  /**
   * The compaction period (BatchLayerProps.compactionPeriod): objects are compacted once their
   * arrival hour ended before the start of the run cutoff's period.
   * @default Duration.days(1)
   */
  readonly batchCompactionPeriod?: Duration;
  /**
   * Firehose buffer interval (bounds how far the batch cutoff trails arrival).
   * @default Duration.seconds(60)
   */
  readonly archiveBufferInterval?: Duration;
  /**
   * Reserved concurrency of the archive's Firehose transform function (new archive only).
   * @default 10
   */
  readonly archiveTransformReservedConcurrency?: number;
  /**
   * Days before archived events move to S3 Intelligent-Tiering (no retrieval charge).
   * @default 30
   */
  readonly archiveTransitionDays?: number;
  /**
   * First arrival day (`yyyy-MM-dd`) the archive's partition projection enumerates: the
   * first day of the archive or earlier, never later (the batch layer would leave out earlier days).
   * @default '2026-11-24' (DEFAULT_ARCHIVE_START_DATE)
   */
  readonly archiveStartDate?: string;
  /**
   * Bytes one Athena query of the batch layer may scan before the workgroup cancels it.
   * @default 10 GiB
   */
  readonly athenaBytesScannedCutoff?: number;
  /**
   * Width of arrival buckets, the cutoff's alignment.
   * @default Duration.minutes(1)
   */
  readonly arrivalBucket?: Duration;
  /**
   * Speed layer event source batch size (bounds only a backlog's batches: ADR 026).
   * @default 10000
   */
  readonly speedBatchSize?: number;
  /**
   * Speed layer parallelization factor: only 1 is accepted (PARALLELIZATION_REFUSED in
   * lib/constructs/kinesis-source.ts says why).
   * @default 1
   */
  readonly speedParallelizationFactor?: number;
  /**
   * How long the speed layer's event source gathers records before invoking (MaximumBatchingWindowInSeconds,
   * 0 to 300 s): fewer, larger invocations and row writes, an event served up to that much later
   * (ADR 014). Context `speedBatchingWindowSeconds`.
   * @default Duration.seconds(0)
   */
  readonly speedMaxBatchingWindow?: Duration;
  /**
   * The speed layer reads the stream through an enhanced fan-out consumer of its own: records
   * pushed (typically 70 ms on average) instead of a read of each caught-up shard once a second,
   * at a consumer-shard hour and per-GB charge (KinesisSourceOptions.enhancedFanOut, ADR 025).
   * Context `enhancedFanOut=true`.
   * @default false
   */
  readonly speedEnhancedFanOut?: boolean;
  /**
   * Speed-layer event-level dedupe by event id; turn off only if producers never retry a request.
   * @default true
   */
  readonly speedEventDedupe?: boolean;
  /**
   * How far speed-layer dedupe reaches: `shard` (copies sharing a partition key, about one write
   * per batch) or `global` (any copies, one conditional write per event). See ADR 008.
   * @default 'shard'
   */
  readonly speedDedupeScope?: DedupeScope;
  /**
   * How far apart in arrival copies of an id are still recognized by the speed layer
   * (SpeedLayerProps.dedupeWindow; the batch layer keeps one copy of any, once its cutoff covers them).
   * @default Duration.minutes(15) with `shard` scope, Duration.days(7) with `global`
   */
  readonly speedDedupeWindow?: Duration;
  /**
   * The speed layer's aggregation window (ADR 012): rows are written once per window per shard
   * instead of once per batch, and appear only when their window closes. 0 turns it off. Context
   * `speedAggregationWindowSeconds`.
   * @default Duration.seconds(0) (off)
   */
  readonly speedAggregationWindow?: Duration;
  /**
   * What happens to the stream, the tables, the archive and the on-failure buckets when the stack
   * is deleted: `DESTROY` takes them all (emptying the buckets first, versions included).
   * @default RemovalPolicy.RETAIN
   */
  readonly dataRemovalPolicy?: RemovalPolicy;
}

/** The Lambda architecture: ingestion, archive, batch, speed and serving layers, with operations. */
export class LambdaArchitectureStack extends Stack {
  readonly eventStream: EventStream;
  readonly tables: ServingTables;
  readonly archive: Archive;
  readonly speedLayer: SpeedLayer;
  readonly batchLayer: BatchLayer;
  readonly ingest: HandlerFunction;
  readonly query: HandlerFunction;
  readonly servingApi: ServingApi;
  readonly operations: Operations;

  constructor(scope: Construct, id: string, props: LambdaArchitectureStackProps) {
    super(scope, id, props);
    const viewsJson = viewsToJson(props.views);
    const arrivalBucket = props.arrivalBucket ?? DEFAULT_ARRIVAL_BUCKET;
    const maxBodyBytes = checkIngestMaxBodyBytes(props.ingestMaxBodyBytes ?? 1_048_576);
    this.eventStream = new EventStream(this, 'EventStream', {
      shardCount: props.shardCount,
      retention: props.streamRetention,
      removalPolicy: props.dataRemovalPolicy,
    });
    const stream = this.eventStream.stream;
    this.tables = new ServingTables(this, 'Tables', { removalPolicy: props.dataRemovalPolicy });
    this.archive = new Archive(this, 'Archive', {
      stream,
      viewsJson,
      bufferInterval: props.archiveBufferInterval,
      archiveTransitionDays: props.archiveTransitionDays,
      archiveStartDate: props.archiveStartDate,
      transformReservedConcurrency: props.archiveTransformReservedConcurrency,
      bytesScannedCutoffPerQuery: props.athenaBytesScannedCutoff,
      removalPolicy: props.dataRemovalPolicy,
    });
    this.speedLayer = new SpeedLayer(this, 'SpeedLayer', {
      stream,
      speedTable: this.tables.speedTable,
      dedupeTable: this.tables.dedupeTable,
      viewsJson,
      arrivalBucket,
      batchSize: props.speedBatchSize,
      parallelizationFactor: props.speedParallelizationFactor,
      maxBatchingWindow: props.speedMaxBatchingWindow,
      enhancedFanOut: props.speedEnhancedFanOut,
      eventDedupe: props.speedEventDedupe,
      dedupeScope: props.speedDedupeScope,
      dedupeWindow: props.speedDedupeWindow,
      aggregationWindow: props.speedAggregationWindow,
      removalPolicy: props.dataRemovalPolicy,
    });
    this.batchLayer = new BatchLayer(this, 'BatchLayer', {
      archive: this.archive,
      speedTable: this.tables.speedTable,
      batchTable: this.tables.batchTable,
      controlTable: this.tables.controlTable,
      viewsJson,
      arrivalBucket,
      schedule: props.batchSchedule,
      compaction: props.batchCompaction,
      compactionPeriod: props.batchCompactionPeriod,
    });
    this.ingest = addIngestFunction(this, stream, viewsJson, maxBodyBytes);
    this.query = new HandlerFunction(this, 'Query', {
      handler: 'query',
      timeout: API_FUNCTION_TIMEOUT,
      environment: lambdaQueryEnvironment({
        views: viewsJson,
        speedTable: this.tables.speedTable.tableName,
        batchTable: this.tables.batchTable.tableName,
        controlTable: this.tables.controlTable.tableName,
        arrivalBucketMs: arrivalBucketEnv(arrivalBucket),
      }),
    });
    // GetItem: the speed layer's origin item, read while no batch version exists.
    grantTable(this.tables.speedTable, this.query.function, 'dynamodb:Query', 'dynamodb:GetItem');
    grantTable(this.tables.batchTable, this.query.function, 'dynamodb:Query');
    grantTable(this.tables.controlTable, this.query.function, 'dynamodb:GetItem');
    this.servingApi = new ServingApi(this, 'Api', {
      ingestFunction: this.ingest.function,
      queryFunction: this.query.function,
      batchFunction: this.batchLayer.starter.function,
      dashboardFunction: props.dashboard ? addDashboardFunction(this).function : undefined,
      apiKeyRequired: props.apiKeyRequired,
      rateLimit: props.apiRateLimit,
      burstLimit: props.apiBurstLimit,
    });
    this.operations = new Operations(this, 'Operations', {
      stream,
      functions: {
        Ingest: this.ingest.function,
        Query: this.query.function,
        Speed: this.speedLayer.handler.function,
        Batch: this.batchLayer.handler.function,
        BatchStarter: this.batchLayer.starter.function,
        ArchiveTransform: this.archive.transform.function,
      },
      speedFunction: this.speedLayer.handler.function,
      batchFunction: this.batchLayer.handler.function,
      deadLetterQueues: [this.batchLayer.ruleDeadLetterQueue],
      batchSchedule: props.batchSchedule,
      workGroup: this.archive.workGroup,
    });
    new CfnOutput(this, 'ApiUrl', {
      value: this.servingApi.api.url,
      description: 'POST events, GET /views/{view} (SigV4-signed)',
    });
    new CfnOutput(this, 'StreamName', { value: stream.streamName });
    new CfnOutput(this, 'ArchiveBucketName', { value: this.archive.bucket.bucketName });
  }
}
