import { Arn, Duration, Stack, Tokenization, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { batchEnvironment } from '../../lambdas/runtime/function-environment';
import { ARCHIVE_PREFIX, ATHENA_RESULTS_PREFIX, type Archive } from './archive';
import { arrivalBucketEnv } from './arrival-bucket';
import { grantBucket, grantObjects, grantTable } from './grants';
import { HandlerFunction } from './handler-function';
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
}

/**
 * The batch layer: the batch handler, run by an EventBridge rule (rules fire in LocalStack too,
 * unlike Scheduler schedules), querying the archive through Athena and publishing versioned cells.
 */
export class BatchLayer extends Construct {
  readonly handler: HandlerFunction;
  readonly rule: events.Rule;
  readonly ruleDeadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: BatchLayerProps) {
    super(scope, id);
    const schedule = props.schedule ?? Duration.minutes(15);
    checkRange('schedule (minutes)', schedule.toMinutes(), 1, undefined);
    const lagMs = props.archive.watermarkLag(props.archiveMargin ?? Duration.seconds(60)).toMilliseconds();
    const archive = props.archive;
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
    this.handler = new HandlerFunction(this, 'Handler', {
      handler: 'batch',
      timeout: Duration.minutes(15),
      memorySize: 1024,
      deadLetterQueue: this.ruleDeadLetterQueue,
      environment: batchEnvironment({
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
        },
        watermark: {
          kind: 'clock',
          lagMs: String(lagMs),
          firehoseDeliveryStream: archive.deliveryStreamName,
        },
      }),
    });
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
        resources: [
          Arn.format({ service: 'glue', resource: 'catalog' }, stack),
          Arn.format({ service: 'glue', resource: 'database', resourceName: archive.databaseName }, stack),
          Arn.format(
            {
              service: 'glue',
              resource: 'table',
              resourceName: `${archive.databaseName}/${archive.tableName}`,
            },
            stack,
          ),
        ],
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
    const bucketId = stack.getLogicalId(archive.bucket.node.defaultChild as s3.CfnBucket);
    for (const prefix of [ARCHIVE_PREFIX, ATHENA_RESULTS_PREFIX]) {
      Validations.of(role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${prefix}*]`,
        reason: `Athena reads every archived object and writes its own result objects: object access under the ${prefix} prefix of this one bucket only.`,
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
    grantTable(props.speedTable, role, 'dynamodb:Scan', 'dynamodb:DeleteItem');

    this.rule = new events.Rule(this, 'Schedule', {
      schedule: events.Schedule.rate(schedule),
      description: 'Recompute every view over the archive and publish a new batch version.',
      targets: [
        new targets.LambdaFunction(this.handler.function, {
          retryAttempts: 2,
          maxEventAge: Duration.hours(1),
          deadLetterQueue: this.ruleDeadLetterQueue,
        }),
      ],
    });
  }
}
