import {
  Arn,
  ArnFormat,
  type CfnElement,
  Duration,
  RemovalPolicy,
  Stack,
  Tokenization,
  Validations,
} from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import {
  DEFAULT_REPLAY_HANDOFF_DELAY_MS,
  replayEnvironment,
} from '../../lambdas/runtime/function-environment';
import { ARCHIVE_PREFIX, REPLAY_RESULTS_PREFIX, type Archive } from './archive';
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

/** Props of Replay. */
export interface ReplayProps {
  /** The archive the replay reads (bucket, accepted-events prefix, Firehose buffer interval). */
  readonly archive: Archive;
  /** Versioned serving rows: the replay writes version v+1 here. */
  readonly kappaTable: dynamodb.ITable;
  /** Per-view pointers and the replay's checkpoints: the flip is one conditional write here. */
  readonly controlTable: dynamodb.ITable;
  /** Event-id claims, shared with the processor so a replayed event and its live copy count once. */
  readonly dedupeTable: dynamodb.ITable;
  /** The views as JSON (what `ENV.views` carries). */
  readonly viewsJson: string;
  /**
   * Archive objects replayed at once: the Distributed Map's MaxConcurrency. Each child invokes the
   * replay function once, so this is also the replay's Lambda concurrency.
   * @default 100
   */
  readonly replayConcurrency?: number;
  /**
   * How long the state machine waits between two checks that the archive holds the handoff time.
   * @default Duration.seconds(30)
   */
  readonly readyPollInterval?: Duration;
  /**
   * Longest wait, from the replay's start, for the archive to hold the handoff time: past it the
   * replay fails through its fail step (the active versions stay served, the failed alarm
   * fires). Bounded so the wait loop ends before Step Functions' 25,000-event execution history
   * limit, which would fail the execution without its fail step and leave the replay marked
   * running (every later POST /admin/replay answers 409).
   * @default Duration.hours(2)
   */
  readonly maxArchiveWait?: Duration;
  /**
   * The Kappa processor's dedupe window (its `dedupeWindow`): how long the replay keeps its claims,
   * and how far before a range's `from` it reads the archive for first copies, so that a range
   * replay and the live processor leave out the same producer retries. Set both alike.
   * @default Duration.days(7)
   */
  readonly dedupeWindow?: Duration;
  /**
   * Safety margin added to Firehose's buffer interval before the archive is taken to hold an
   * arrival time (as the batch layer's cutoff).
   * @default Duration.seconds(60)
   */
  readonly archiveMargin?: Duration;
  /**
   * Longest a replay execution may run before Step Functions times it out (and the fail step does not run: the alarm on timeouts says so).
   * @default Duration.hours(24)
   */
  readonly timeout?: Duration;
  /**
   * Replay duration above which the duration alarm fires. The alarm reads Step Functions'
   * `ExecutionTime`, which an execution reports when it ends: it fires for a replay that finished
   * (or failed) after longer than this, not while one is still running; a replay that never ends
   * is caught by the timed-out alarm at `timeout`.
   * @default Duration.hours(2)
   */
  readonly maxReplayDuration?: Duration;
  /**
   * Memory of the replay function in MiB (one archive object, decompressed and pre-aggregated, per invocation).
   * @default 2048
   */
  readonly memorySize?: number;
  /**
   * Days CloudWatch keeps the state machine's execution log.
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * How cdk-nag writes the bucket's ARN in a finding of a policy in `scope`'s stack: `<LogicalId.Arn>`
 * in the bucket's own stack, the export name when the bucket comes from another stack
 * (`architecture=both`). `exportValue` returns the very export the cross-stack reference uses.
 */
function nagArnOf(scope: Construct, bucket: s3.IBucket): string {
  const here = Stack.of(scope);
  const owner = Stack.of(bucket);
  if (owner === here) return `<${here.getLogicalId(bucket.node.defaultChild as s3.CfnBucket)}.Arn>`;
  const imported = here.resolve(owner.exportValue(bucket.bucketArn)) as { 'Fn::ImportValue': string };
  return imported['Fn::ImportValue'];
}

/** The replay's settings from its props, each checked against what AWS or the design allows. */
function replaySettings(props: ReplayProps) {
  const replayConcurrency = props.replayConcurrency ?? 100;
  checkRange('replayConcurrency', replayConcurrency, 1, 1000);
  const pollSeconds = (props.readyPollInterval ?? Duration.seconds(30)).toSeconds();
  checkRange('readyPollInterval (seconds)', pollSeconds, 1, 3600);
  const timeout = props.timeout ?? Duration.hours(24);
  // Standard workflows run for up to a year.
  checkRange('timeout (seconds)', timeout.toSeconds(), 3600, 31_536_000);
  const maxReplayDuration = props.maxReplayDuration ?? Duration.hours(2);
  if (maxReplayDuration.toMilliseconds() > timeout.toMilliseconds())
    throw new Error(
      `maxReplayDuration must not exceed timeout (given ${maxReplayDuration.toMinutes()} minutes, timeout ${timeout.toMinutes()} minutes)`,
    );
  const dedupeWindow = props.dedupeWindow ?? Duration.days(7);
  checkRange('dedupeWindow (seconds)', dedupeWindow.toSeconds(), 3600, undefined);
  const maxArchiveWait = props.maxArchiveWait ?? Duration.hours(2);
  checkRange('maxArchiveWait (seconds)', maxArchiveWait.toSeconds(), 60, undefined);
  if (maxArchiveWait.toMilliseconds() >= timeout.toMilliseconds())
    throw new Error(
      `maxArchiveWait must be shorter than timeout (given ${maxArchiveWait.toMinutes()} minutes, timeout ${timeout.toMinutes()} minutes): a timed-out execution runs no fail step`,
    );
  // The map and the other steps add a few dozen events; 500 leaves room for task retries.
  checkPollingHistory(
    { longest: 'maxArchiveWait', poll: 'readyPollInterval' },
    maxArchiveWait,
    Duration.seconds(pollSeconds),
    EVENTS_PER_POLL,
    500,
  );
  const memorySize = props.memorySize ?? 2048;
  checkRange('memorySize', memorySize, 128, 10_240);
  return {
    replayConcurrency,
    pollSeconds,
    timeout,
    maxReplayDuration,
    dedupeWindow,
    maxArchiveWait,
    memorySize,
  };
}

/** What replaySettings gives the constructor's steps. */
type ReplaySettings = ReturnType<typeof replaySettings>;

/**
 * The Kappa replay: a Standard Step Functions workflow (X-Ray traced, every event logged to a
 * KMS-encrypted log group) around the `replay` handler.
 *
 *   Start -> WaitForArchive -> CheckArchive -> ArchiveReady? --no--> WaitForArchive
 *                                                       \--yes--> ClaimCopies (Distributed Map over
 *   the archive's object listing: one child workflow per object, `{action:'claim', replayId, key}`)
 *   -> ReplayArchive (the same listing again, `{action:'object', replayId, key}`) -> Finish (catch-up
 *   and the pointer flip) -> DropOldVersions (`{action:'drop'}` until done) -> Done. Any failure
 *   after Start -> MarkFailed -> DropFailedVersion (until done) -> ReplayFailed. A Start refused
 *   because another replay runs (two start requests at once) -> AnotherReplayRunning (succeeds);
 *   any other failed Start -> AbandonStart (fails the replay this execution recorded, if any) ->
 *   DropAbandonedVersion (until done) -> ReplayFailed.
 */
export class Replay extends Construct {
  readonly handler: HandlerFunction;
  readonly stateMachine: sfn.StateMachine;
  readonly logGroup: logs.LogGroup;
  readonly logKey: kms.Key;
  readonly alarms: cloudwatch.Alarm[] = [];
  /** The Distributed Map that folds each archived object (for tests and for apps that tune it further). */
  readonly archiveMap: sfn.DistributedMap;
  /** The Distributed Map before it that claims each id's earliest copy (ADR 024). */
  readonly claimMap: sfn.DistributedMap;

  constructor(scope: Construct, id: string, props: ReplayProps) {
    super(scope, id);
    // Distributed Map results go through ResultWriterV2 (WriterConfig, prefix), which CDK renders
    // only with this flag; it is scoped to this construct so the app's flags stay as they are.
    this.node.setContext('@aws-cdk/aws-stepfunctions:useDistributedMapResultWriterV2', true);
    const settings = replaySettings(props);
    const bucket = props.archive.bucket;
    this.handler = this.createHandler(props, settings);
    const { definition, claimMap, archiveMap } = this.buildDefinition(settings, bucket);
    this.claimMap = claimMap;
    this.archiveMap = archiveMap;
    const { logKey, logGroup } = this.createExecutionLog(props);
    this.logKey = logKey;
    this.logGroup = logGroup;
    this.stateMachine = this.createStateMachine(definition, settings.timeout, bucket);
    this.addAlarms(settings.maxReplayDuration);
  }

  /** The replay function, with exactly the reads and writes its actions make. */
  private createHandler(props: ReplayProps, settings: ReplaySettings): HandlerFunction {
    const { dedupeWindow, memorySize } = settings;
    const bucket = props.archive.bucket;
    const archive = props.archive;
    const handler = new HandlerFunction(this, 'Handler', {
      handler: 'replay',
      timeout: Duration.minutes(15),
      memorySize,
      environment: replayEnvironment({
        views: props.viewsJson,
        kappaTable: props.kappaTable.tableName,
        controlTable: props.controlTable.tableName,
        dedupeTable: props.dedupeTable.tableName,
        archive: { bucket: bucket.bucketName, prefix: ARCHIVE_PREFIX },
        // The handoff waits for the same measured Firehose delays as the batch cutoff.
        watermark: {
          kind: 'clock',
          lagMs: String(archive.watermarkLag(props.archiveMargin ?? Duration.seconds(60)).toMilliseconds()),
          firehoseDeliveryStream: archive.deliveryStreamName,
        },
        handoffDelayMs: String(DEFAULT_REPLAY_HANDOFF_DELAY_MS),
        dedupeTtlSeconds: Tokenization.stringifyNumber(dedupeWindow.toSeconds()),
      }),
    });
    const fn = handler.function;
    // GetMetricData supports no resource-level permissions: "*", in a policy of its own so the
    // acknowledgement covers this one action (as the batch layer's).
    const metricsRead = new iam.Policy(this, 'MetricsReadPolicy', {
      statements: [new iam.PolicyStatement({ actions: ['cloudwatch:GetMetricData'], resources: ['*'] })],
    });
    metricsRead.attachToRole(handler.role);
    Validations.of(metricsRead).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        "cloudwatch:GetMetricData has no resource-level permissions (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html); the replay reads the archive delivery stream's DataFreshness and KinesisMillisBehindLatest only, which can only hold the handoff back.",
    });
    // Not bucket.grantRead: it grants s3:GetObject*, s3:GetBucket* and s3:List* (wildcard actions).
    grantObjects(bucket, fn, `${ARCHIVE_PREFIX}*`, 's3:GetObject');
    grantBucket(bucket, fn, 's3:ListBucket');
    const bucketArn = nagArnOf(this, bucket);
    Validations.of(handler.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${bucketArn}/${ARCHIVE_PREFIX}*]`,
      reason: `The replay reads every archived object: s3:GetObject under the ${ARCHIVE_PREFIX} prefix of this one bucket only.`,
    });
    // Scan: finish drops the version that falls off, and fail the version it was building, by
    // scanning for that version's cells (DynamoDbKappaCellStore.deleteVersion).
    grantTable(
      props.kappaTable,
      fn,
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'dynamodb:DeleteItem',
      'dynamodb:BatchWriteItem',
      'dynamodb:Query',
      'dynamodb:Scan',
    );
    grantTable(
      props.controlTable,
      fn,
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'dynamodb:Query',
    );
    // BatchGetItem: the fold reads the claims the first pass left (ADR 024).
    grantTable(props.dedupeTable, fn, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:BatchGetItem');

    // Child workflow results (one small line per archive object) are written to S3, not returned:
    // a Map's collected output is capped at 256 KiB, which a large archive would exceed.
    bucket.addLifecycleRule({ prefix: REPLAY_RESULTS_PREFIX, expiration: Duration.days(7) });
    return handler;
  }

  /** The workflow from Start to Done, with every failure path (see the class comment). */
  private buildDefinition(
    settings: ReplaySettings,
    bucket: s3.IBucket,
  ): { definition: sfn.IChainable; claimMap: sfn.DistributedMap; archiveMap: sfn.DistributedMap } {
    const { replayConcurrency, pollSeconds, maxArchiveWait } = settings;
    const fn = this.handler.function;
    const invoke = (stateId: string, payload: Record<string, unknown>, resultPath: string) =>
      invokeStep(this, stateId, fn, payload, resultPath);
    const replayId = sfn.JsonPath.stringAt('$.start.replayId');

    const replayFailed = new sfn.Fail(this, 'ReplayFailed', {
      error: 'ReplayFailed',
      cause:
        'The replay failed; the previous version keeps serving. See the execution history and the replay function log.',
    });
    const markFailed = invoke(
      'MarkFailed',
      { action: 'fail', replayId, error: sfn.JsonPath.objectAt('$.error') },
      '$.failed',
    );
    // A replay whose fail step gave up would stay `running` (every later replay refused): retried
    // like every idempotent step (failReplay changes nothing the second time).
    retryIdempotent(markFailed);
    markFailed.addCatch(replayFailed, { resultPath: '$.markFailedError' });
    // The cells of the version the failed replay was building, deleted page by page over as many
    // invocations as the table takes; a drop that keeps failing leaves cells (storage, not answers).
    markFailed.next(
      this.dropLoop('DropFailedVersion', invoke, replayId, '$.failed.drop', replayFailed, replayFailed),
    );
    const onError = { resultPath: '$.error' };

    // The execution input ({views?, fromMs?, toMs?}, every field optional) goes to the handler with
    // action 'start'; JSONata merges it, where JSONPath would fail on a missing field.
    const start = tasks.LambdaInvoke.jsonata(this, 'Start', {
      lambdaFunction: fn,
      payload: sfn.TaskInput.fromText(
        "{% $merge([$states.input, {'action': 'start', 'executionId': $states.context.Execution.Id}]) %}",
      ),
      outputs: { start: '{% $states.result.Payload %}' },
    });
    // LambdaInvoke's default retries of Lambda's service errors can follow a start that ran (its
    // answer lost): the start called again continues the replay its execution recorded
    // (ReplayRecord.executionId, `$states.context.Execution.Id`: the context object,
    // https://docs.aws.amazon.com/step-functions/latest/dg/input-output-contextobject.html)
    // instead of meeting it as another one.
    retryThrottled(start);
    // Two POST /admin/replay can both pass the admin function's check; the later Start then meets
    // the earlier replay running and is refused (ReplayInProgress, the control item's conditional
    // write). No replay failed: the execution ends here, the running replay untouched and the
    // FailedAlarm silent (its caller sees the running replay in GET /admin/status).
    start.addCatch(
      new sfn.Succeed(this, 'AnotherReplayRunning', {
        comment: 'Not started: another replay was running (a concurrent start request).',
      }),
      { errors: ['ReplayInProgress'] },
    );
    // Any other failed start may have failed after recording its replay (its progress write
    // refused, its answer lost): fail the replay this execution recorded, if any, and delete what
    // the processor wrote into its version, or it stays `running` and refuses every later replay.
    const abandonStart = invoke(
      'AbandonStart',
      {
        action: 'abandon',
        executionId: sfn.JsonPath.stringAt('$$.Execution.Id'),
        error: sfn.JsonPath.entirePayload,
      },
      '$.abandoned',
    );
    retryIdempotent(abandonStart);
    abandonStart.addCatch(replayFailed, { resultPath: '$.abandonError' });
    abandonStart.next(
      this.dropLoop(
        'DropAbandonedVersion',
        invoke,
        sfn.JsonPath.stringAt('$.abandoned.replayId'),
        '$.abandoned.drop',
        replayFailed,
        replayFailed,
      ),
    );
    start.addCatch(abandonStart);

    const waitForArchive = new sfn.Wait(this, 'WaitForArchive', {
      time: sfn.WaitTime.duration(Duration.seconds(pollSeconds)),
    });
    const checkArchive = invoke(
      'CheckArchive',
      { action: 'ready', replayId, maxWaitMs: maxArchiveWait.toMilliseconds() },
      '$.ready',
    );
    // A read of the watermark, retried on any failure but its own verdict that the archive will not
    // catch up in time (ArchiveNotReadyError), which fails the replay at once.
    retryIdempotent(checkArchive, ['ArchiveNotReady']);
    checkArchive.addCatch(markFailed, onError);

    /**
     * A Distributed Map over the archive listing: one Standard child workflow per object invoking
     * the replay function with `{action, replayId, key}` (no payload: the child's whole input), at
     * most replayConcurrency at once, its results written under replay-results/. Standard
     * children: exactly-once task execution and a visible history per object (Express would be
     * cheaper per object but at-least-once, and capped at 5 minutes). Each child is idempotent
     * (offering a copy again changes nothing; folds are fenced), so its task retries like every
     * idempotent step, also when many children at once meet the account's Lambda concurrency.
     */
    const objectMap = (id: string, taskId: string, action: string, resultPath: string, comment: string) => {
      const map = new ZeroToleranceDistributedMap(this, id, {
        comment,
        itemReader: new sfn.S3ObjectsItemReader({ bucket, prefix: sfn.JsonPath.stringAt('$.start.prefix') }),
        itemSelector: { action, replayId, key: sfn.JsonPath.stringAt('$$.Map.Item.Value.Key') },
        maxConcurrency: replayConcurrency,
        resultWriterV2: new PrefixResultWriter(bucket, REPLAY_RESULTS_PREFIX, {
          transformation: sfn.Transformation.COMPACT,
          outputType: sfn.OutputType.JSONL,
        }),
        resultPath,
        label: id,
        mapExecutionType: sfn.StateMachineType.STANDARD,
      });
      const task = new tasks.LambdaInvoke(this, taskId, { lambdaFunction: fn, payloadResponseOnly: true });
      retryIdempotent(task);
      map.itemProcessor(task); // DistributedMap renders Mode DISTRIBUTED and mapExecutionType
      map.addCatch(markFailed, onError);
      return map;
    };
    // First pass (ADR 024): every object's copies offered to the replay's claims, which keep each
    // id's earliest copy, so the second pass folds the copy the batch layer keeps, whatever order
    // the children run in. Each object is read twice.
    const claimMap = objectMap(
      'ClaimCopies',
      'ClaimObject',
      'claim',
      '$.claimMap',
      "One child workflow per archived object: each id's earliest copy claimed before any is folded.",
    );
    const archiveMap = objectMap(
      'ReplayArchive',
      'ReplayObject',
      'object',
      '$.map',
      'One child workflow per archived object, all through the same reducer into the new version.',
    );

    const finish = invoke('Finish', { action: 'finish', replayId }, '$.finish');
    // finishReplay flips once; run again it answers flipped: false.
    retryIdempotent(finish);
    finish.addCatch(markFailed, onError);

    const definition = start
      .next(waitForArchive)
      .next(checkArchive)
      .next(
        new sfn.Choice(this, 'ArchiveReady')
          .when(
            sfn.Condition.booleanEquals('$.ready.ready', true),
            claimMap
              .next(archiveMap)
              .next(finish)
              .next(
                // After the flip: the version that fell off, deleted page by page (its own loop: a
                // scan of a large table inside Finish timed out after the flip, ending the execution
                // failed with cells left). A drop that keeps failing ends the execution failed, the
                // new version served.
                this.dropLoop(
                  'DropOldVersions',
                  invoke,
                  replayId,
                  '$.finish.drop',
                  new sfn.Succeed(this, 'Done'),
                  new sfn.Fail(this, 'DropFailed', {
                    error: 'DropFailed',
                    cause:
                      'The replay finished and its version is served, but deleting the cells of the version it dropped failed; they cost storage only. See the replay function log.',
                  }),
                ),
              ),
          )
          .otherwise(waitForArchive),
      );
    return { definition, claimMap, archiveMap };
  }

  /** The execution log: a log group under a customer-managed key CloudWatch Logs may use. */
  private createExecutionLog(props: ReplayProps): { logKey: kms.Key; logGroup: logs.LogGroup } {
    const stack = Stack.of(this);
    // Customer-managed key: CloudWatch Logs encrypts with KMS only under a key whose policy lets
    // the regional Logs service use it for this account's log groups
    // (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html).
    const logKey = new kms.Key(this, 'LogKey', {
      description: 'streamfold: encrypts the Kappa replay execution log',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(7),
    });
    logKey.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal(`logs.${stack.region}.amazonaws.com`)],
        actions: [
          'kms:Encrypt',
          'kms:Decrypt',
          'kms:ReEncryptFrom',
          'kms:ReEncryptTo',
          'kms:GenerateDataKey',
          'kms:GenerateDataKeyWithoutPlaintext',
          'kms:DescribeKey',
        ],
        resources: ['*'],
        conditions: {
          ArnLike: {
            'kms:EncryptionContext:aws:logs:arn': Arn.format(
              {
                service: 'logs',
                resource: 'log-group',
                resourceName: '*',
                arnFormat: ArnFormat.COLON_RESOURCE_NAME,
              },
              stack,
            ),
          },
        },
      }),
    );
    const logGroup = new logs.LogGroup(this, 'Logs', {
      encryptionKey: logKey,
      retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    return { logKey, logGroup };
  }

  /** The Standard state machine, traced and logged, and cdk-nag's findings on its role answered. */
  private createStateMachine(
    definition: sfn.IChainable,
    timeout: Duration,
    bucket: s3.IBucket,
  ): sfn.StateMachine {
    const stack = Stack.of(this);
    const fn = this.handler.function;
    const bucketArn = nagArnOf(this, bucket);
    const stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineType: sfn.StateMachineType.STANDARD,
      comment:
        'streamfold Kappa replay: rebuild the views from the archive into a new version, hand over to the live stream, flip.',
      definitionBody: sfn.DefinitionBody.fromChainable(definition),
      timeout,
      tracingEnabled: true,
      logs: { destination: this.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
    });
    Validations.of(stateMachine.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'X-Ray tracing (xray:PutTraceSegments, PutTelemetryRecords, GetSamplingRules, GetSamplingTargets) and CloudWatch Logs delivery (logs:CreateLogDelivery and friends) support no resource-level permissions; AWS documents * for both.',
    });
    const fnId = stack.getLogicalId(fn.node.defaultChild as CfnElement);
    Validations.of(stateMachine.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${fnId}.Arn>:*]`,
      reason:
        "lambda:InvokeFunction on the replay function's versions and aliases (CDK's LambdaInvoke grant): one function only.",
    });
    Validations.of(stateMachine.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${bucketArn}/${REPLAY_RESULTS_PREFIX}*]`,
      reason: `The Distributed Map writes its child workflow results under ${REPLAY_RESULTS_PREFIX} of the archive bucket (ResultWriter).`,
    });

    // CDK's DistributedMapPolicy gives the role what AWS documents for a Distributed Map
    // (https://docs.aws.amazon.com/step-functions/latest/dg/iam-policies-eg-dist-map.html):
    // states:StartExecution on this state machine, DescribeExecution/StopExecution on its own
    // executions, RedriveExecution on its Map Runs' child executions; the ItemReader adds
    // s3:ListBucket on the archive bucket and the item processor lambda:InvokeFunction.
    acknowledgeDistributedMapPolicy(stateMachine, 'ClaimCopies', 'archive object');
    acknowledgeDistributedMapPolicy(stateMachine, 'ReplayArchive', 'archive object');
    return stateMachine;
  }

  /** Failed, timed out, and slower than maxReplayDuration: each alarms at once. */
  private addAlarms(maxReplayDuration: Duration): void {
    const alarm = (alarmId: string, metric: cloudwatch.IMetric, threshold: number, description: string) => {
      const a = new cloudwatch.Alarm(this, alarmId, {
        metric,
        threshold,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      });
      this.alarms.push(a);
      return a;
    };
    alarm(
      'FailedAlarm',
      this.stateMachine.metricFailed({ period: Duration.minutes(5) }),
      0,
      'A Kappa replay failed: the previous version keeps serving; see the execution history.',
    );
    alarm(
      'TimedOutAlarm',
      this.stateMachine.metricTimedOut({ period: Duration.minutes(5) }),
      0,
      'A Kappa replay ran past the state machine timeout (its fail step did not run): reset the replay state in the control table before the next one.',
    );
    alarm(
      'DurationAlarm',
      this.stateMachine.metricTime({ period: Duration.minutes(5), statistic: 'Maximum' }),
      maxReplayDuration.toMilliseconds(),
      `A Kappa replay took longer than ${maxReplayDuration.toMinutes()} minutes: raise replayConcurrency or look for throttling.`,
    );
  }

  /**
   * `{action:'drop'}` on the cursor at `path` until it answers done: Choice -> Task -> Choice. The
   * task's answer replaces the cursor, so each invocation goes on where the last one stopped.
   */
  private dropLoop(
    id: string,
    invoke: (stateId: string, payload: Record<string, unknown>, resultPath: string) => tasks.LambdaInvoke,
    replayId: string,
    path: string,
    done: sfn.IChainable,
    failed: sfn.IChainable,
  ): sfn.Choice {
    const step = invoke(
      id,
      { action: 'drop', replayId, cursor: sfn.JsonPath.objectAt(`${path}.cursor`) },
      path,
    );
    // Deleting a page again deletes nothing: retried like every idempotent step.
    retryIdempotent(step);
    step.addCatch(failed, { resultPath: '$.dropError' });
    const check = new sfn.Choice(this, `${id}Done`)
      .when(sfn.Condition.booleanEquals(`${path}.done`, true), done)
      .otherwise(step);
    step.next(check);
    return check;
  }
}
