import { CfnOutput, type Duration, type RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import type { ViewDefinition } from '../../lambdas/core/view';
import { kappaAdminEnvironment, kappaQueryEnvironment } from '../../lambdas/runtime/function-environment';
import { ServingApi } from '../constructs/api';
import { API_FUNCTION_TIMEOUT } from '../constructs/api-timeouts';
import { Archive } from '../constructs/archive';
import { EventStream } from '../constructs/event-stream';
import { grantTable } from '../constructs/grants';
import { HandlerFunction } from '../constructs/handler-function';
import { KappaProcessor } from '../constructs/kappa-processor';
import { KappaTables } from '../constructs/kappa-tables';
import { Operations } from '../constructs/operations';
import { Replay } from '../constructs/replay';
import type { ServingApiOptions } from './serving-api-options';
import { addDashboardFunction, addIngestFunction, checkIngestMaxBodyBytes, viewsToJson } from './shared';

/** Props of KappaArchitectureStack. */
export interface KappaArchitectureStackProps extends StackProps, ServingApiOptions {
  /** The views to serve (validated definitions from views.ts); they travel to every function as JSON. */
  readonly views: readonly ViewDefinition[];
  /**
   * An existing event stream to consume (`architecture=both`: the Lambda stack's); give `archive` with it.
   * @default - a new EventStream
   */
  readonly stream?: kinesis.IStream;
  /**
   * The existing archive of that stream (`architecture=both`: the Lambda stack's); give `stream` with it.
   * @default - a new Archive of this stack's stream
   */
  readonly archive?: Archive;
  /**
   * Provisioned shards of a new stream (not with `stream`).
   * @default - on-demand
   */
  readonly shardCount?: number;
  /**
   * How long records stay on a new stream (EventStreamProps.retention; not with `stream`). At 24
   * hours a processor stopped for longer loses records from the stream: replay the archive then.
   * Context `streamRetentionHours`.
   * @default Duration.days(7)
   */
  readonly streamRetention?: Duration;
  /**
   * Firehose buffer interval of a new archive (not with `archive`).
   * @default Duration.seconds(60)
   */
  readonly archiveBufferInterval?: Duration;
  /**
   * Reserved concurrency of the archive's Firehose transform function (new archive only).
   * @default 10
   */
  readonly archiveTransformReservedConcurrency?: number;
  /**
   * Days before archived events move to S3 Intelligent-Tiering (no retrieval charge) (new archive only).
   * @default 30
   */
  readonly archiveTransitionDays?: number;
  /**
   * First arrival day (`yyyy-MM-dd`) the archive's partition projection enumerates (new archive only): the
   * first day of the archive or earlier, never later (the batch layer would leave out earlier days).
   * @default '2026-11-24' (DEFAULT_ARCHIVE_START_DATE)
   */
  readonly archiveStartDate?: string;
  /**
   * Processor event source batch size (bounds only a backlog's batches: ADR 026).
   * @default 10000
   */
  readonly processorBatchSize?: number;
  /**
   * Processor parallelization factor: only 1 is accepted (PARALLELIZATION_REFUSED in
   * lib/constructs/kinesis-source.ts says why).
   * @default 1
   */
  readonly processorParallelizationFactor?: number;
  /**
   * The processor reads the stream through an enhanced fan-out consumer of its own: records pushed,
   * served sooner, at a consumer-shard hour and per-GB charge (KinesisSourceOptions.enhancedFanOut,
   * ADR 025). Context `enhancedFanOut=true`.
   * @default false
   */
  readonly processorEnhancedFanOut?: boolean;
  /**
   * How long an event id is remembered, by the processor (its claims' time to live) and by a
   * replay (its claims, and how far before a range's `from` it reads the archive for first
   * copies): producer retries further apart than this are counted twice. One value for both, so
   * that a replay and the live processor leave out the same retries.
   * @default Duration.days(7)
   */
  readonly dedupeWindow?: Duration;
  /**
   * Archive objects a replay processes at once (the Distributed Map's MaxConcurrency).
   * @default 100
   */
  readonly replayConcurrency?: number;
  /**
   * Replay duration above which the duration alarm fires.
   * @default Duration.hours(2)
   */
  readonly maxReplayDuration?: Duration;
  /**
   * What happens to a new stream, the tables, a new archive and the on-failure bucket when the
   * stack is deleted: `DESTROY` takes them all (emptying the buckets first, versions included).
   * @default RemovalPolicy.RETAIN
   */
  readonly dataRemovalPolicy?: RemovalPolicy;
}

/**
 * The Kappa architecture: ingestion, archive, one stream processor writing versioned views, the
 * replay (Step Functions, Distributed Map over the archive) that rebuilds a version and flips the
 * per-view pointer, the IAM-authorized API and operations.
 */
export class KappaArchitectureStack extends Stack {
  /** The stream this stack created (undefined when it consumes an existing one). */
  readonly eventStream?: EventStream;
  readonly stream: kinesis.IStream;
  readonly archive: Archive;
  readonly tables: KappaTables;
  readonly processor: KappaProcessor;
  readonly replay: Replay;
  readonly ingest: HandlerFunction;
  readonly query: HandlerFunction;
  readonly admin: HandlerFunction;
  readonly servingApi: ServingApi;
  readonly operations: Operations;

  constructor(scope: Construct, id: string, props: KappaArchitectureStackProps) {
    super(scope, id, props);
    const viewsJson = viewsToJson(props.views);
    const maxBodyBytes = checkIngestMaxBodyBytes(props.ingestMaxBodyBytes ?? 1_048_576);
    if ((props.stream === undefined) !== (props.archive === undefined))
      throw new Error("stream and archive go together: give both (to share another stack's) or neither");
    if (props.stream && props.shardCount !== undefined)
      throw new Error('shardCount applies to a new stream: give either stream or shardCount, not both');
    if (props.stream && props.streamRetention !== undefined)
      throw new Error(
        'streamRetention applies to a new stream: give either stream or streamRetention, not both (set it where the stream is made)',
      );
    if (
      props.archive &&
      (props.archiveBufferInterval !== undefined ||
        props.archiveTransitionDays !== undefined ||
        props.archiveStartDate !== undefined ||
        props.archiveTransformReservedConcurrency !== undefined)
    )
      throw new Error(
        'archiveBufferInterval, archiveTransitionDays, archiveStartDate and archiveTransformReservedConcurrency apply to a new archive: give either archive or them, not both',
      );

    if (props.stream && props.archive) {
      this.stream = props.stream;
      this.archive = props.archive;
    } else {
      this.eventStream = new EventStream(this, 'EventStream', {
        shardCount: props.shardCount,
        retention: props.streamRetention,
        removalPolicy: props.dataRemovalPolicy,
      });
      this.stream = this.eventStream.stream;
      this.archive = new Archive(this, 'Archive', {
        stream: this.stream,
        viewsJson,
        bufferInterval: props.archiveBufferInterval,
        archiveTransitionDays: props.archiveTransitionDays,
        archiveStartDate: props.archiveStartDate,
        transformReservedConcurrency: props.archiveTransformReservedConcurrency,
        removalPolicy: props.dataRemovalPolicy,
      });
    }
    const stream = this.stream;
    this.tables = new KappaTables(this, 'Tables', { removalPolicy: props.dataRemovalPolicy });
    const { kappaTable, controlTable, dedupeTable } = this.tables;

    this.processor = new KappaProcessor(this, 'Processor', {
      stream,
      kappaTable,
      controlTable,
      dedupeTable,
      viewsJson,
      batchSize: props.processorBatchSize,
      parallelizationFactor: props.processorParallelizationFactor,
      enhancedFanOut: props.processorEnhancedFanOut,
      dedupeWindow: props.dedupeWindow,
      removalPolicy: props.dataRemovalPolicy,
    });
    this.replay = new Replay(this, 'Replay', {
      archive: this.archive,
      kappaTable,
      controlTable,
      dedupeTable,
      viewsJson,
      replayConcurrency: props.replayConcurrency,
      maxReplayDuration: props.maxReplayDuration,
      dedupeWindow: props.dedupeWindow,
    });

    this.ingest = addIngestFunction(this, stream, viewsJson, maxBodyBytes);
    this.query = new HandlerFunction(this, 'Query', {
      handler: 'query',
      timeout: API_FUNCTION_TIMEOUT,
      environment: kappaQueryEnvironment({
        views: viewsJson,
        kappaTable: kappaTable.tableName,
        controlTable: controlTable.tableName,
      }),
    });
    grantTable(kappaTable, this.query.function, 'dynamodb:GetItem', 'dynamodb:Query');
    grantTable(controlTable, this.query.function, 'dynamodb:GetItem', 'dynamodb:Query');

    this.admin = new HandlerFunction(this, 'KappaAdmin', {
      handler: 'kappa-admin',
      timeout: API_FUNCTION_TIMEOUT,
      environment: kappaAdminEnvironment({
        views: viewsJson,
        kappaTable: kappaTable.tableName,
        controlTable: controlTable.tableName,
        replayStateMachineArn: this.replay.stateMachine.stateMachineArn,
      }),
    });
    // Starting a replay is the only Step Functions action; a rollback is one conditional write of a
    // view's pointer in the control table (hence PutItem/UpdateItem there); the rest are reads.
    this.replay.stateMachine.grantStartExecution(this.admin.function);
    grantTable(
      controlTable,
      this.admin.function,
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
    );
    grantTable(kappaTable, this.admin.function, 'dynamodb:GetItem', 'dynamodb:Query');

    this.servingApi = new ServingApi(this, 'Api', {
      ingestFunction: this.ingest.function,
      queryFunction: this.query.function,
      kappaAdminFunction: this.admin.function,
      dashboardFunction: props.dashboard ? addDashboardFunction(this).function : undefined,
      apiKeyRequired: props.apiKeyRequired,
      rateLimit: props.apiRateLimit,
      burstLimit: props.apiBurstLimit,
    });

    const functions: Record<string, lambda.IFunction> = {
      Ingest: this.ingest.function,
      Query: this.query.function,
      Processor: this.processor.handler.function,
      Replay: this.replay.handler.function,
      KappaAdmin: this.admin.function,
    };
    // A shared archive's transform is watched by the stack that owns it.
    if (!props.archive) functions.ArchiveTransform = this.archive.transform.function;
    this.operations = new Operations(this, 'Operations', {
      stream,
      functions,
      speedFunction: this.processor.handler.function,
      consumerName: 'Kappa processor',
      deadLetterQueues: [],
      replayStateMachine: this.replay.stateMachine,
    });

    new CfnOutput(this, 'ApiUrl', {
      value: this.servingApi.api.url,
      description: 'POST events, GET /views/{view}, POST /admin/replay (SigV4-signed)',
    });
    new CfnOutput(this, 'StreamName', { value: stream.streamName });
    new CfnOutput(this, 'ArchiveBucketName', { value: this.archive.bucket.bucketName });
    new CfnOutput(this, 'ReplayStateMachineArn', { value: this.replay.stateMachine.stateMachineArn });
  }
}
