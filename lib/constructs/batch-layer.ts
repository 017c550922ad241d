import { Arn, type CfnElement, Duration, RemovalPolicy, Stack, Tokenization, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { COMPACTED_PREFIX } from '../../lambdas/core/compaction';
import { compactedTableColumns, typedFields } from '../../lambdas/core/typed-columns';
// The stacks serialize views they validated (viewsToJson); the construct only reads their fields.
import type { ViewDefinition } from '../../lambdas/core/view';
import { batchEnvironment } from '../../lambdas/runtime/function-environment';
import { API_FUNCTION_TIMEOUT } from './api-timeouts';
import {
  ARCHIVE_PREFIX,
  ATHENA_RESULTS_PREFIX,
  BATCH_MAP_RESULTS_PREFIX,
  BATCH_RUNS_PREFIX,
  type Archive,
} from './archive';
import { arrivalBucketEnv } from './arrival-bucket';
import { grantBucket, grantObjects, grantTable } from './grants';
import { HandlerFunction } from './handler-function';
import {
  acknowledgeDistributedMapPolicy,
  checkPollingHistory,
  EVENTS_PER_POLL,
  invokeStep,
  retryIdempotent,
  PrefixResultWriter,
  retryThrottled,
  ZeroToleranceDistributedMap,
} from './step-functions';
import { checkRange } from './validate';

/** Props of BatchLayer. */
export interface BatchLayerProps {
  /** The archive the batch layer queries (bucket, Glue table, Athena workgroup, buffer interval). */
  readonly archive: Archive;
  /** Speed rows: the batch layer deletes those its published cutoff covers and reconciles against them. */
  readonly speedTable: dynamodb.ITable;
  /** Versioned batch cells. */
  readonly batchTable: dynamodb.ITable;
  /** The serving pointer and version counter. */
  readonly controlTable: dynamodb.ITable;
  /** The views as JSON (what `ENV.views` carries). */
  readonly viewsJson: string;
  /** Width of the arrival buckets (the cutoff's alignment): at least 1 second, dividing an hour. */
  readonly arrivalBucket: Duration;
  /**
   * How often the batch layer recomputes every view.
   * @default Duration.minutes(15)
   */
  readonly schedule?: Duration;
  /**
   * Safety margin added to the archive's worst-case delay by construction (processor buffer +
   * 1.5 x the buffering hint + the Kinesis read allowance) before the cutoff may pass an arrival time.
   * @default Duration.seconds(60)
   */
  readonly archiveMargin?: Duration;
  /**
   * Writer functions a run keeps busy at once: the Distributed Map's MaxConcurrency over the
   * objects the run's queries unloaded (each writer writes one object's cells with BatchWriteItem).
   * @default 10
   */
  readonly writerConcurrency?: number;
  /**
   * Longest a batch run (one state machine execution) may take before Step Functions stops it;
   * the previous version stays served.
   * @default Duration.hours(6)
   */
  readonly runTimeout?: Duration;
  /**
   * How long the state machine waits between two checks of the run's Athena queries. With
   * `runTimeout` it bounds the polls of a run: the pair is refused when a run could reach Step
   * Functions' 25,000 execution history events before its timeout (checkPollingHistory).
   * @default Duration.seconds(15)
   */
  readonly queryPollInterval?: Duration;
  /**
   * Compact the archive before each run (ADR 011): a `Compact` loop before the plan rewrites the
   * NDJSON objects whose arrival hour ended before the cutoff's period as Parquet by event date
   * and hour (Athena UNLOAD, committed by a manifest), and every read takes the committed
   * generations from the Parquet table and only the rest from NDJSON. `false` leaves the
   * state machine, the table and the grants exactly as without compaction.
   * @default true
   */
  readonly compaction?: boolean;
  /**
   * The compaction period: objects are compacted once their arrival hour ended before the start
   * of the run cutoff's period (UTC), so in steady state one generation per period and a raw
   * tail of at most one period and a bit.
   * @default Duration.days(1)
   */
  readonly compactionPeriod?: Duration;
}

/** A Glue table's ARN with its database's and the catalog's: what Glue's resource-level permissions need. */
function glueTableArns(stack: Stack, database: string, table: string): string[] {
  return [
    Arn.format({ service: 'glue', resource: 'catalog' }, stack),
    Arn.format({ service: 'glue', resource: 'database', resourceName: database }, stack),
    Arn.format({ service: 'glue', resource: 'table', resourceName: `${database}/${table}` }, stack),
  ];
}

/** The Glue table over the compacted archive (its name in the archive's database). */
export const COMPACTED_TABLE_NAME = 'compacted';

/** The batch layer's settings from its props, each checked against what AWS or the design allows. */
function batchLayerSettings(props: BatchLayerProps) {
  const schedule = props.schedule ?? Duration.minutes(15);
  checkRange('schedule (minutes)', schedule.toMinutes(), 1, undefined);
  const writerConcurrency = props.writerConcurrency ?? 10;
  // Step Functions runs up to 10,000 child workflows of a Distributed Map at once
  // (https://docs.aws.amazon.com/step-functions/latest/dg/state-map-distributed.html); 1,000
  // keeps a run within the account's default Lambda concurrency of 1,000.
  checkRange('writerConcurrency', writerConcurrency, 1, 1000);
  const runTimeout = props.runTimeout ?? Duration.hours(6);
  checkRange('runTimeout (minutes)', runTimeout.toMinutes(), 15, 525_600);
  const pollSeconds = (props.queryPollInterval ?? Duration.seconds(15)).toSeconds();
  checkRange('queryPollInterval (seconds)', pollSeconds, 1, 600);
  // A run polls its Athena queries (and the compaction's) until runTimeout at most: each poll is
  // EVENTS_PER_POLL history events, plus up to 7 when a compaction round advances (a task and a
  // Choice); 1,000 more for the plan, the map and the publish with their retries.
  checkPollingHistory(
    { longest: 'runTimeout', poll: 'queryPollInterval' },
    runTimeout,
    Duration.seconds(pollSeconds),
    EVENTS_PER_POLL + 7,
    1_000,
  );
  const lagMs = props.archive.watermarkLag(props.archiveMargin ?? Duration.seconds(60)).toMilliseconds();
  const compaction = props.compaction ?? true;
  const periodHours = (props.compactionPeriod ?? Duration.days(1)).toHours({ integral: false });
  // The raw objects are known to the hour only (their arrival partition): whole hours, at least one.
  checkRange('compactionPeriod (hours)', periodHours, 1, 24 * 30);
  return { schedule, writerConcurrency, runTimeout, pollSeconds, lagMs, compaction, periodHours };
}

/**
 * The batch layer: a Standard Step Functions workflow per run, started by `starter` (run by an
 * EventBridge rule, which fires in LocalStack too unlike Scheduler schedules, and by POST
 * /admin/batch), whose steps are the batch handler's actions (ADR 010):
 *
 *   Plan (touched buckets, a version number, one Athena UNLOAD per view to recompute)
 *   -> WaitForQueries <-> QueriesDone? -> WriteCells (Distributed Map: one writer per unloaded
 *   object, BatchWriteItem) -> Publish (one conditional pointer write) -> Cleanup (retired
 *   segments and covered speed rows, page by page, until done) -> Done.
 *   A failure after Plan -> Abandon (stops the queries, deletes the unpublished segment) -> RunFailed.
 *
 * No step runs longer than a Lambda invocation whatever the run's size: Athena runs the queries
 * and the Map spreads the writes. Locally the same handler runs the same steps in one process.
 */
export class BatchLayer extends Construct {
  /** The steps of a run (the state machine invokes it with `{action}` events). */
  readonly handler: HandlerFunction;
  /** Starts a run: the schedule's and POST /admin/batch's target. */
  readonly starter: HandlerFunction;
  readonly stateMachine: sfn.StateMachine;
  /** The writers' Distributed Map (for tests and for apps that tune it further). */
  readonly writeMap: sfn.DistributedMap;
  readonly rule: events.Rule;
  readonly ruleDeadLetterQueue: sqs.Queue;
  /** A run failed or timed out (the previous version stays served). */
  readonly alarms: cloudwatch.Alarm[] = [];
  /** The Glue table over `compacted/` (partitions g, edt, ehr), when compaction is on. */
  readonly compactedTable?: glue.CfnTable;

  constructor(scope: Construct, id: string, props: BatchLayerProps) {
    super(scope, id);
    // The WriteCells Map's ResultWriter is a ResultWriterV2, which CDK renders only with this flag;
    // it is scoped to this construct so the app's flags stay as they are.
    this.node.setContext('@aws-cdk/aws-stepfunctions:useDistributedMapResultWriterV2', true);
    const { schedule, writerConcurrency, runTimeout, pollSeconds, lagMs, compaction, periodHours } =
      batchLayerSettings(props);
    const archive = props.archive;
    if (compaction)
      this.compactedTable = this.addCompactedTable(
        archive,
        typedFields(JSON.parse(props.viewsJson) as ViewDefinition[]),
      );
    // SSE-SQS, not the AWS-managed KMS key: EventBridge cannot send to a dead-letter queue encrypted
    // with an AWS-managed key (it would need a customer-managed key, $1/month, for a queue that is
    // empty when all is well).
    this.ruleDeadLetterQueue = new sqs.Queue(this, 'ScheduleDeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    for (const id of ['AwsSolutions-SQS3', 'Serverless-SQSRedrivePolicy']) {
      Validations.of(this.ruleDeadLetterQueue).acknowledge({
        id,
        reason:
          "This queue is itself the dead-letter queue of the batch schedule and of the batch function's asynchronous invocations.",
      });
    }
    const environment = (stateMachineArn?: string) =>
      batchEnvironment({
        views: props.viewsJson,
        speedTable: props.speedTable.tableName,
        batchTable: props.batchTable.tableName,
        controlTable: props.controlTable.tableName,
        arrivalBucketMs: arrivalBucketEnv(props.arrivalBucket),
        archive: { bucket: archive.bucket.bucketName, prefix: ARCHIVE_PREFIX },
        engine: {
          kind: 'athena',
          workgroup: archive.workGroup.ref,
          database: archive.databaseName,
          table: archive.tableName,
          maxBytesScanned: Tokenization.stringifyNumber(archive.bytesScannedCutoffPerQuery),
          ...(compaction
            ? { compaction: { table: COMPACTED_TABLE_NAME, periodMs: String(periodHours * 3_600_000) } }
            : {}),
        },
        watermark: {
          kind: 'clock',
          lagMs: String(lagMs),
          firehoseDeliveryStream: archive.deliveryStreamName,
        },
        batchRunsPrefix: BATCH_RUNS_PREFIX,
        ...(stateMachineArn === undefined ? {} : { stateMachineArn }),
      });
    // One step's longest work (a plan's touched-bucket queries, one object's writes) is far
    // below Lambda's 15 minutes (https://docs.aws.amazon.com/lambda/latest/dg/configuration-timeout.html).
    this.handler = new HandlerFunction(this, 'Handler', {
      handler: 'batch',
      timeout: Duration.minutes(15),
      memorySize: 1024,
      deadLetterQueue: this.ruleDeadLetterQueue,
      environment: environment(),
    });
    // CloudFormation updates a resource after those it depends on: a deployment that adds a view
    // adds its typed columns to the Glue table before the function that writes and reads them
    // changes (ADR 019).
    if (this.compactedTable) this.handler.function.node.addDependency(this.compactedTable);
    this.grantHandlerAccess(props, compaction);

    this.stateMachine = this.buildStateMachine(
      archive,
      writerConcurrency,
      runTimeout,
      pollSeconds,
      compaction,
    );
    this.writeMap = this.node.findChild('WriteCells') as sfn.DistributedMap;
    this.starter = new HandlerFunction(this, 'Starter', {
      handler: 'batch',
      // Behind POST /admin/batch too: answers within API Gateway's integration timeout.
      timeout: API_FUNCTION_TIMEOUT,
      memorySize: 256,
      deadLetterQueue: this.ruleDeadLetterQueue,
      environment: environment(this.stateMachine.stateMachineArn),
    });
    this.stateMachine.grantStartExecution(this.starter.function);
    // The starter starts no run while one is RUNNING: ListExecutions is a state-machine-level
    // action (https://docs.aws.amazon.com/step-functions/latest/dg/concept-create-iam-advanced.html).
    this.starter.function.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['states:ListExecutions'],
        resources: [this.stateMachine.stateMachineArn],
      }),
    );

    this.rule = new events.Rule(this, 'Schedule', {
      schedule: events.Schedule.rate(schedule),
      description: 'Recompute every view over the archive and publish a new batch version.',
      targets: [
        new targets.LambdaFunction(this.starter.function, {
          retryAttempts: 2,
          maxEventAge: Duration.hours(1),
          deadLetterQueue: this.ruleDeadLetterQueue,
        }),
      ],
    });
  }

  /**
   * What the batch function reads and writes: Athena in its workgroup, the archive's Glue tables,
   * its prefixes of the archive bucket, the tables, and the Firehose metrics of the cutoff.
   */
  private grantHandlerAccess(props: BatchLayerProps, compaction: boolean): void {
    const archive = props.archive;
    const role = this.handler.role;
    const stack = Stack.of(this);
    const workGroupArn = Arn.format(
      { service: 'athena', resource: 'workgroup', resourceName: archive.workGroup.ref },
      stack,
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: [
          'athena:StartQueryExecution',
          'athena:GetQueryExecution',
          'athena:GetQueryResults',
          'athena:StopQueryExecution',
        ],
        resources: [workGroupArn],
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['glue:GetDatabase', 'glue:GetTable', 'glue:GetPartitions'],
        resources: glueTableArns(stack, archive.databaseName, archive.tableName),
      }),
    );
    grantObjects(archive.bucket, role, `${ARCHIVE_PREFIX}*`, 's3:GetObject');
    grantObjects(
      archive.bucket,
      role,
      `${ATHENA_RESULTS_PREFIX}*`,
      's3:GetObject',
      's3:PutObject',
      's3:AbortMultipartUpload',
    );
    // Athena writes a query's UNLOAD objects with the caller's permissions; the writers read them.
    grantObjects(
      archive.bucket,
      role,
      `${BATCH_RUNS_PREFIX}*`,
      's3:GetObject',
      's3:PutObject',
      's3:AbortMultipartUpload',
    );
    if (compaction) {
      // Athena's UNLOAD writes the generations with the caller's permissions; the steps write the
      // attempts' plans and the manifests (compacted/manifests/) and read them back.
      grantObjects(
        archive.bucket,
        role,
        `${COMPACTED_PREFIX}*`,
        's3:GetObject',
        's3:PutObject',
        's3:AbortMultipartUpload',
      );
      // Athena reads the table and registers each generation's partitions (ALTER TABLE ADD
      // PARTITION) with the caller's Glue permissions: on this one table, its database and the
      // catalog, as Glue's resource-level permissions require
      // (https://docs.aws.amazon.com/athena/latest/ug/fine-grained-access-to-glue-resources.html).
      role.addToPolicy(
        new iam.PolicyStatement({
          actions: [
            'glue:GetTable',
            'glue:GetPartition',
            'glue:GetPartitions',
            'glue:BatchCreatePartition',
            'glue:CreatePartition',
          ],
          resources: glueTableArns(stack, archive.databaseName, COMPACTED_TABLE_NAME),
        }),
      );
    }
    const bucketId = stack.getLogicalId(archive.bucket.node.defaultChild as s3.CfnBucket);
    for (const prefix of [
      ARCHIVE_PREFIX,
      ATHENA_RESULTS_PREFIX,
      BATCH_RUNS_PREFIX,
      ...(compaction ? [COMPACTED_PREFIX] : []),
    ]) {
      Validations.of(role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${prefix}*]`,
        reason: `Athena reads every archived object, writes its own result objects, the runs' unloaded rows (which the writers read) and the compacted generations (which the runs read, committed by manifests the steps write): object access under the ${prefix} prefix of this one bucket only.`,
      });
    }
    // The measured Firehose delays (DataFreshness, KinesisMillisBehindLatest) that can only lengthen
    // the cutoff's lag. GetMetricData supports no resource-level permissions or condition keys, so its
    // resource is "*" (in a policy of its own, so the acknowledgement below covers this action only).
    const metricsRead = new iam.Policy(this, 'MetricsReadPolicy', {
      statements: [new iam.PolicyStatement({ actions: ['cloudwatch:GetMetricData'], resources: ['*'] })],
    });
    metricsRead.attachToRole(role);
    Validations.of(metricsRead).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        "cloudwatch:GetMetricData has no resource-level permissions (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html); the batch layer reads the archive delivery stream's DataFreshness and KinesisMillisBehindLatest only, which can only hold the cutoff back.",
    });
    grantBucket(archive.bucket, role, 's3:GetBucketLocation', 's3:ListBucket');
    grantTable(props.batchTable, role, 'dynamodb:BatchWriteItem', 'dynamodb:Scan');
    grantTable(props.controlTable, role, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem');
    // The rows a published cutoff covers are deleted in BatchWriteItem calls (dynamodb-batch-writes.ts).
    grantTable(props.speedTable, role, 'dynamodb:Scan', 'dynamodb:BatchWriteItem');
  }

  /**
   * The Glue table over `compacted/`: the columns of the Parquet files both engines write for
   * these fields (core/typed-columns.ts, ADR 019). A deployment with other views changes the
   * columns in place: Athena reads Parquet columns by name, so adding or removing a column needs
   * no rewrite of the files ("PARQUET: read by name (default)",
   * https://docs.aws.amazon.com/athena/latest/ug/handling-schema-updates-chapter.html), and a
   * partition registered with fewer columns is checked by column name, not position
   * (https://docs.aws.amazon.com/athena/latest/ug/updates-and-partitions.html). No generation is
   * asked for a column its manifest does not name.
   */
  private addCompactedTable(archive: Archive, fields: readonly string[]): glue.CfnTable {
    const location = `s3://${archive.bucket.bucketName}/${COMPACTED_PREFIX}`;
    const table = new glue.CfnTable(this, 'CompactedTable', {
      catalogId: Stack.of(this).account,
      databaseName: archive.databaseName,
      tableInput: {
        name: COMPACTED_TABLE_NAME,
        tableType: 'EXTERNAL_TABLE',
        description:
          'The compacted archive (ADR 011): one row per archived line, ZSTD Parquet by generation, event date and hour. Partitions are registered by each compaction before its manifest; read only generations a manifest commits.',
        // Registered per generation, not projected: a generation folder name is not enumerable,
        // and event dates have no range to project (late events reach any past date).
        partitionKeys: [
          { name: 'g', type: 'string' },
          { name: 'edt', type: 'string' },
          { name: 'ehr', type: 'string' },
        ],
        parameters: { classification: 'parquet' },
        storageDescriptor: {
          location,
          columns: compactedTableColumns(fields).map(({ name, type }) => ({ name, type })),
          inputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat',
          outputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat',
          serdeInfo: { serializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe' },
        },
      },
    });
    table.node.addDependency(archive.database);
    // Retained when compaction is turned off: a table re-created empty under the same manifests
    // would make every run read nothing for the objects they cover. Kept, turning compaction on
    // again fails the deployment (the name exists) instead: docs/deploy.md says what to delete.
    table.applyRemovalPolicy(RemovalPolicy.RETAIN);
    return table;
  }

  /**
   * Compact -> CompactionDone? -> (WaitForCompaction -> CheckCompaction -> CompactionQueriesDone?
   * -> AdvanceCompaction -> CompactionDone?)* -> the plan. Each compact step starts Athena queries
   * and returns; the loop polls them like the run's own queries. A failure fails the run before
   * anything is written (files of an uncommitted generation are never read).
   */
  private compactionSteps(
    invoke: (id: string, payload: Record<string, unknown>, resultPath: string) => tasks.LambdaInvoke,
    runFailed: sfn.Fail,
    pollSeconds: number,
    plan: sfn.IChainable,
  ): sfn.IChainable {
    const request = sfn.JsonPath.objectAt('$.request');
    const onError = { resultPath: '$.error' };
    // No `compaction` field: the step starts a new one.
    const start = invoke('Compact', { action: 'compact', request }, '$.compaction');
    const advance = invoke(
      'AdvanceCompaction',
      { action: 'compact', request, compaction: sfn.JsonPath.objectAt('$.compaction') },
      '$.compaction',
    );
    const check = invoke(
      'CheckCompaction',
      { action: 'unloaded', queries: sfn.JsonPath.listAt('$.compaction.queries') },
      '$.compactionQueries',
    );
    // Starting or advancing a compaction starts Athena queries (a second start would start others):
    // retried only when the function never ran. Checking the queries is a read.
    for (const task of [start, advance]) retryThrottled(task);
    retryIdempotent(check);
    for (const task of [start, advance, check]) task.addCatch(runFailed, onError);
    const wait = new sfn.Wait(this, 'WaitForCompaction', {
      time: sfn.WaitTime.duration(Duration.seconds(pollSeconds)),
    });
    const isDone = new sfn.Choice(this, 'CompactionDone')
      .when(sfn.Condition.stringEquals('$.compaction.phase', 'done'), plan)
      .otherwise(wait);
    wait
      .next(check)
      .next(
        new sfn.Choice(this, 'CompactionQueriesDone')
          .when(sfn.Condition.booleanEquals('$.compactionQueries.done', true), advance.next(isDone))
          .otherwise(wait),
      );
    return start.next(isDone);
  }

  /**
   * After the publish: what it left to delete (retired segments, covered speed rows), deleted page by
   * page, ten minutes an invocation, until done. A publish that did not publish leaves nothing. A
   * cleanup that keeps failing ends the execution failed with the new version served: what is left
   * costs storage only, and the next run's cleanup deletes it with its own.
   */
  private cleanupLoop(
    invoke: (id: string, payload: Record<string, unknown>, resultPath: string) => tasks.LambdaInvoke,
  ): sfn.Choice {
    const step = invoke(
      'Cleanup',
      { action: 'cleanup', cursor: sfn.JsonPath.objectAt('$.result.cleanup.cursor') },
      '$.result.cleanup',
    );
    // Deleting a page again deletes nothing.
    retryIdempotent(step);
    step.addCatch(
      new sfn.Fail(this, 'CleanupFailed', {
        error: 'BatchCleanupFailed',
        cause:
          'The batch run published its version, but deleting the segments it retired or the speed rows it covers failed; they cost storage only, and the next run deletes them. See the batch function log.',
      }),
      { resultPath: '$.cleanupError' },
    );
    const left = new sfn.Choice(this, 'CleanupLeft')
      .when(
        sfn.Condition.and(
          sfn.Condition.isPresent('$.result.cleanup'),
          sfn.Condition.booleanEquals('$.result.cleanup.done', false),
        ),
        step,
      )
      .otherwise(new sfn.Succeed(this, 'Done'));
    step.next(left);
    return left;
  }

  private buildStateMachine(
    archive: Archive,
    writerConcurrency: number,
    runTimeout: Duration,
    pollSeconds: number,
    compaction: boolean,
  ): sfn.StateMachine {
    const fn = this.handler.function;
    const invoke = (id: string, payload: Record<string, unknown>, resultPath: string) =>
      invokeStep(this, id, fn, payload, resultPath);
    const plan = sfn.JsonPath.objectAt('$.planned.plan');
    const queries = sfn.JsonPath.listAt('$.planned.queries');

    const runFailed = new sfn.Fail(this, 'RunFailed', {
      error: 'BatchRunFailed',
      cause:
        'The batch run failed; the previous version stays served. See the execution history and the batch function log.',
    });
    const abandon = invoke('Abandon', { action: 'abandon', plan, queries }, '$.abandoned');
    // Deleting an unpublished segment again deletes nothing more (abandonTasks, cleanUp).
    retryIdempotent(abandon);
    abandon.addCatch(runFailed, { resultPath: '$.abandonError' });
    // A full run's segment can take more than one invocation to delete: the rest page by page.
    const abandonMore = invoke(
      'AbandonCleanup',
      { action: 'cleanup', cursor: sfn.JsonPath.objectAt('$.abandoned.cursor') },
      '$.abandoned',
    );
    retryIdempotent(abandonMore);
    abandonMore.addCatch(runFailed, { resultPath: '$.abandonError' });
    const abandonLeft = new sfn.Choice(this, 'AbandonLeft')
      .when(sfn.Condition.booleanEquals('$.abandoned.done', false), abandonMore)
      .otherwise(runFailed);
    abandon.next(abandonLeft);
    abandonMore.next(abandonLeft);
    const onError = { resultPath: '$.error' };

    const planStep = invoke(
      'Plan',
      { action: 'plan', request: sfn.JsonPath.objectAt('$.request') },
      '$.planned',
    );
    // A plan takes a version number and starts the queries: retried only when it never ran.
    retryThrottled(planStep);
    planStep.addCatch(runFailed, onError); // nothing written yet
    const wait = new sfn.Wait(this, 'WaitForQueries', {
      time: sfn.WaitTime.duration(Duration.seconds(pollSeconds)),
    });
    const check = invoke('CheckQueries', { action: 'unloaded', queries }, '$.unloaded');
    retryIdempotent(check); // a read of the queries' state
    check.addCatch(abandon, onError);

    const writeMap = new ZeroToleranceDistributedMap(this, 'WriteCells', {
      comment: "One writer per object the run's queries unloaded: its cells into the run's segment.",
      itemReader: new sfn.S3ObjectsItemReader({
        bucket: archive.bucket,
        prefix: sfn.JsonPath.stringAt('$.planned.prefix'),
      }),
      itemSelector: { action: 'write', plan, key: sfn.JsonPath.stringAt('$$.Map.Item.Value.Key') },
      maxConcurrency: writerConcurrency,
      // The writers' answers go to S3, and Publish reads them there: returned in the state, they
      // would fail the run past 256 KiB (https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html),
      // some 5,000 unloaded objects, or 50 whose writers report skipped keys.
      resultWriterV2: new PrefixResultWriter(archive.bucket, BATCH_MAP_RESULTS_PREFIX),
      resultPath: '$.written',
      label: 'WriteCells',
      mapExecutionType: sfn.StateMachineType.STANDARD,
    });
    const writer = new tasks.LambdaInvoke(this, 'WriteObject', {
      lambdaFunction: fn,
      payloadResponseOnly: true,
    });
    // Rewriting an object's cells is idempotent (same keys, same values, same segment).
    retryIdempotent(writer);
    writeMap.itemProcessor(writer);
    writeMap.addCatch(abandon, onError);

    const publish = invoke(
      'Publish',
      { action: 'publish', plan, written: sfn.JsonPath.objectAt('$.written') },
      '$.result',
    );
    // publishBatch run again for its own version answers published (a pointer already holding it).
    retryIdempotent(publish);
    publish.addCatch(abandon, onError); // abandon keeps a version the pointer already holds
    const cleanupLeft = this.cleanupLoop(invoke);

    const run = planStep.next(
      new sfn.Choice(this, 'Planned')
        .when(sfn.Condition.stringEquals('$.planned.status', 'skipped'), new sfn.Succeed(this, 'NothingToDo'))
        .otherwise(
          wait
            .next(check)
            .next(
              new sfn.Choice(this, 'QueriesDone')
                .when(
                  sfn.Condition.booleanEquals('$.unloaded.done', true),
                  writeMap.next(publish).next(cleanupLeft),
                )
                .otherwise(wait),
            ),
        ),
    );
    const definition = compaction ? this.compactionSteps(invoke, runFailed, pollSeconds, planStep) : run;
    const stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineType: sfn.StateMachineType.STANDARD,
      comment: 'streamfold batch run: plan, Athena UNLOAD per view, parallel writers, one atomic publish.',
      definitionBody: sfn.DefinitionBody.fromChainable(definition),
      timeout: runTimeout,
      tracingEnabled: true,
      // Every event, not the data: a step's input holds the plan only, but the log needs no cells.
      logs: {
        destination: new logs.LogGroup(this, 'Logs', {
          retention: logs.RetentionDays.THREE_MONTHS,
          removalPolicy: RemovalPolicy.DESTROY,
        }),
        level: sfn.LogLevel.ALL,
        includeExecutionData: false,
      },
    });
    const stack = Stack.of(this);
    const role = stateMachine.role;
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'X-Ray tracing (xray:PutTraceSegments, PutTelemetryRecords, GetSamplingRules, GetSamplingTargets) and CloudWatch Logs delivery (logs:CreateLogDelivery and friends) support no resource-level permissions; AWS documents * for both.',
    });
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${stack.getLogicalId(fn.node.defaultChild as CfnElement)}.Arn>:*]`,
      reason:
        "lambda:InvokeFunction on the batch function's versions and aliases (CDK's LambdaInvoke grant): one function only.",
    });
    const bucketId = stack.getLogicalId(archive.bucket.node.defaultChild as s3.CfnBucket);
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${BATCH_MAP_RESULTS_PREFIX}*]`,
      reason: `The WriteCells Distributed Map writes its writers' answers under ${BATCH_MAP_RESULTS_PREFIX} of the archive bucket (ResultWriter), one object per batch of results: object access under that prefix only.`,
    });
    acknowledgeDistributedMapPolicy(stateMachine, 'WriteCells', 'unloaded object');
    for (const [id, metric, description] of [
      [
        'RunFailedAlarm',
        stateMachine.metricFailed({ period: Duration.minutes(5) }),
        'A batch run failed: the previous version stays served (error BatchCleanupFailed: the new one is served, and only the deletion after it failed); see the execution history.',
      ],
      [
        'RunTimedOutAlarm',
        stateMachine.metricTimedOut({ period: Duration.minutes(5) }),
        'A batch run ran past runTimeout (its Abandon step did not run: the unpublished segment stays unread until a full run retires it).',
      ],
    ] as const)
      this.alarms.push(
        new cloudwatch.Alarm(this, id, {
          metric,
          threshold: 0,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
          alarmDescription: description,
        }),
      );
    return stateMachine;
  }
}
