import { CfnResource, Duration, Names, RemovalPolicy, Size, Stack, Validations } from 'aws-cdk-lib';
import * as athena from 'aws-cdk-lib/aws-athena';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as firehose from 'aws-cdk-lib/aws-kinesisfirehose';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { DEFAULT_BATCH_RUNS_PREFIX, MAP_RESULTS_FOLDER } from '../../lambdas/runtime/function-environment';
import { grantBucket, grantObjects, grantStream } from './grants';
import { HandlerFunction } from './handler-function';
import { checkDate, checkRange, requireResolved } from './validate';

/** Key prefixes in the archive bucket: what the generated SQL and the lifecycle rules rely on. */
export const ARCHIVE_PREFIX = 'events/';
export const ATHENA_RESULTS_PREFIX = 'athena-results/';
/** Where a cloud batch run's queries unload their rows for the writers (`v<version>/<view>/`; expired by a lifecycle rule). */
export const BATCH_RUNS_PREFIX = DEFAULT_BATCH_RUNS_PREFIX;
/** Where the batch run's WriteCells Map exports its writers' answers for the Publish step (under the runs prefix, so expired with it). */
export const BATCH_MAP_RESULTS_PREFIX = `${BATCH_RUNS_PREFIX}${MAP_RESULTS_FOLDER}`;
/** Where the Kappa replay's Distributed Map writes its child workflows' results (expired by a lifecycle rule the replay adds). */
export const REPLAY_RESULTS_PREFIX = 'replay-results/';
/** Where Firehose writes what it could not deliver (`processing-failed/` for records the transform failed or skipped). */
export const ERROR_PREFIX = 'errors/';

/**
 * How long Firehose buffers records before invoking the Lambda processor (`BufferIntervalInSeconds`
 * of the processor, 60 s being Firehose's default). Source: Amazon Data Firehose API reference,
 * ProcessorParameter (https://docs.aws.amazon.com/firehose/latest/APIReference/API_ProcessorParameter.html).
 */
export const PROCESSOR_BUFFER_SECONDS = 60;
/**
 * How many times Firehose retries a failed processor invocation before it skips the whole batch to
 * `processing-failed` (Firehose's default is 3). Each retry is a fresh invocation of the transform,
 * which fails only on a throttle or a timeout (one bad record never fails the invocation).
 * Source: https://docs.aws.amazon.com/firehose/latest/dev/data-transformation-failure-handling.html
 */
export const PROCESSOR_RETRIES = 10;
/**
 * Allowance for Firehose's own read of the Kinesis stream (its GetRecords polling) before a record
 * "gets into" Firehose; the measured `KinesisMillisBehindLatest` covers larger delays at run time.
 */
export const KINESIS_READ_ALLOWANCE = Duration.seconds(60);

/**
 * The default first day of the Glue table's partition projection: the day this project began
 * (2026-11-24). Partitions are arrival days and an archive only receives events once deployed, so
 * no streamfold archive holds an earlier day; a later start (your first deployment's day) plans
 * each query over fewer empty partitions.
 */
export const DEFAULT_ARCHIVE_START_DATE = '2026-11-24';

/** Props of Archive. */
export interface ArchiveProps {
  /** The stream Firehose reads. */
  readonly stream: kinesis.IStream;
  /** The views as JSON (the transform validates records against them, like the speed layer). */
  readonly viewsJson: string;
  /**
   * Firehose buffer interval (the S3 buffering hint). The batch cutoff trails arrival time by
   * {@link Archive.watermarkLag}: the processor buffer, 1.5 x this, a read allowance and a margin.
   * @default Duration.seconds(60)
   */
  readonly bufferInterval?: Duration;
  /**
   * Days before archived events move to S3 Intelligent-Tiering, a storage class with no retrieval
   * charge, so the batch layer's full runs and the Kappa replays, which read every object, cost no
   * more than reads of S3 Standard.
   * @default 30
   */
  readonly archiveTransitionDays?: number;
  /**
   * The first arrival day (`yyyy-MM-dd`, UTC) the Glue table's partition projection enumerates:
   * Athena plans every query over each day from it to today, so a start long before the first
   * archived day makes every batch query plan over empty partitions. Set it to the first day of
   * the archive (the day of the first deployment) or earlier; never later, since the batch layer
   * would silently leave out the days before it.
   * @default '2026-11-24' (DEFAULT_ARCHIVE_START_DATE: no streamfold archive holds an earlier day)
   */
  readonly archiveStartDate?: string;
  /**
   * Bytes one Athena query may scan before the workgroup cancels it.
   * @default 10 GiB
   */
  readonly bytesScannedCutoffPerQuery?: number;
  /**
   * What happens to the archive bucket when the stack is deleted. `DESTROY` also empties the archive
   * and access-log buckets (every version) first, so the delete succeeds.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Reserved concurrency of the transform function: Firehose's invocations are never throttled by
   * other functions of the account (a throttled invocation is retried, then skipped to
   * `processing-failed`), and the transform cannot starve them either.
   * @default 10
   */
  readonly transformReservedConcurrency?: number;
}

/**
 * The historical archive: Firehose from the stream into S3 (GZIP NDJSON, partitioned by arrival
 * time via a transform Lambda that normalizes records exactly as the speed layer does), a Glue
 * table with partition projection over it, and the Athena workgroup the batch layer queries with.
 */
export class Archive extends Construct {
  readonly bucket: s3.Bucket;
  readonly accessLogsBucket: s3.Bucket;
  readonly deliveryStream: firehose.DeliveryStream;
  readonly transform: HandlerFunction;
  readonly database: glue.CfnDatabase;
  readonly table: glue.CfnTable;
  readonly workGroup: athena.CfnWorkGroup;
  readonly databaseName: string;
  readonly tableName = 'events';
  readonly bufferInterval: Duration;
  readonly bytesScannedCutoffPerQuery: number;
  /** Alarms on the delivery: freshness, delivery and processing success, new objects under the error prefix. */
  readonly alarms: cloudwatch.Alarm[] = [];
  /** `DeliveryToS3.DataFreshness` above the worst case by construction (the cutoff is then held back by the measured value). */
  readonly freshnessAlarm: cloudwatch.Alarm;
  /** Objects written under the error prefix (records to re-ingest: see docs/deploy.md). */
  readonly errorObjectsAlarm: cloudwatch.Alarm;

  /**
   * The worst-case delay of the archive behind arrival time, by construction, plus `margin`:
   * the processor's buffer (`BufferIntervalInSeconds`, before the transform runs), then 1.5 x the
   * S3 buffering hint (with dynamic partitioning Firehose buffers in several stages, so the
   * "end-to-end delay of a batch of records might be 1.5 times of the configured buffering hint
   * time": https://docs.aws.amazon.com/firehose/latest/dev/buffering.html), plus an allowance
   * for Firehose's read of the Kinesis stream. Arrival time older than this is in S3 (what
   * `ENV.archiveLagMs` carries with `archiveWatermark=clock`); the batch handler lengthens it further
   * whenever Firehose's measured freshness is worse.
   */
  watermarkLag(margin: Duration): Duration {
    return Duration.millis(
      PROCESSOR_BUFFER_SECONDS * 1000 +
        1.5 * this.bufferInterval.toMilliseconds() +
        KINESIS_READ_ALLOWANCE.toMilliseconds() +
        margin.toMilliseconds(),
    );
  }

  /** The delivery stream's name (what `ENV.firehoseDeliveryStream` carries and the metrics' dimension). */
  get deliveryStreamName(): string {
    return this.deliveryStream.deliveryStreamName;
  }

  /** A metric of this delivery stream (namespace AWS/Firehose, dimension DeliveryStreamName). */
  metric(metricName: string, props: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: 'AWS/Firehose',
      metricName,
      dimensionsMap: { DeliveryStreamName: this.deliveryStreamName },
      period: Duration.minutes(5),
      ...props,
    });
  }

  constructor(scope: Construct, id: string, props: ArchiveProps) {
    super(scope, id);
    // Server access logs are delivered under a bucket policy (the log bucket has ACLs disabled),
    // whatever the app's feature flags say.
    this.node.setContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy', true);
    this.bufferInterval = props.bufferInterval ?? Duration.seconds(60);
    const seconds = this.bufferInterval.toSeconds();
    // Dynamic partitioning needs a buffer interval of at least 60 seconds.
    checkRange('bufferInterval', seconds, 60, 900, { unit: 'seconds' });
    requireResolved(
      'bufferInterval',
      seconds,
      "the batch cutoff's lag (ENV.archiveLagMs) and the freshness alarm's threshold are computed from it",
    );
    const transitionDays = props.archiveTransitionDays ?? 30;
    checkRange('archiveTransitionDays', transitionDays, 0, undefined);
    const startDate = props.archiveStartDate ?? DEFAULT_ARCHIVE_START_DATE;
    checkDate('archiveStartDate', startDate);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const destroy = removalPolicy === RemovalPolicy.DESTROY;
    const reservedConcurrency = props.transformReservedConcurrency ?? 10;
    checkRange('transformReservedConcurrency', reservedConcurrency, 1, 1000);
    this.bytesScannedCutoffPerQuery = props.bytesScannedCutoffPerQuery ?? 10 * 1024 ** 3;
    checkRange('bytesScannedCutoffPerQuery', this.bytesScannedCutoffPerQuery, 10 * 1024 ** 2, undefined, {
      unit: "bytes (10 MiB, Athena's minimum)",
    });

    this.accessLogsBucket = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ expiration: Duration.days(365) }],
      removalPolicy,
      autoDeleteObjects: destroy,
    });
    this.bucket = new s3.Bucket(this, 'Bucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      versioned: true,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: 'archive/',
      lifecycleRules: [
        {
          prefix: ARCHIVE_PREFIX,
          // Not Glacier Instant Retrieval (its per-GB retrieval fee would charge every full batch
          // run and replay for reading the whole archive): "There are no retrieval charges in S3
          // Intelligent-Tiering", and an object read again moves back to its Frequent Access tier
          // (https://docs.aws.amazon.com/AmazonS3/latest/userguide/intelligent-tiering.html). Its
          // opt-in Archive Access tiers need a restore before a read, so none is configured.
          transitions: [
            {
              storageClass: s3.StorageClass.INTELLIGENT_TIERING,
              transitionAfter: Duration.days(transitionDays),
            },
          ],
        },
        { prefix: ATHENA_RESULTS_PREFIX, expiration: Duration.days(7) },
        { prefix: BATCH_RUNS_PREFIX, expiration: Duration.days(7) },
        {
          noncurrentVersionExpiration: Duration.days(30),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
      ],
      // S3 request metrics filtered on the error prefix: a PUT there means records to re-ingest.
      // No notification, rule or permission is needed (CloudWatch request metrics, paid per filter:
      // https://docs.aws.amazon.com/AmazonS3/latest/userguide/metrics-configurations.html).
      metrics: [{ id: 'FirehoseErrors', prefix: ERROR_PREFIX }],
      removalPolicy,
      autoDeleteObjects: destroy,
    });

    this.transform = new HandlerFunction(this, 'Transform', {
      handler: 'archive-transform',
      // No views: the transform reads records by the rules every event obeys (readStreamRecord).
      environment: {},
      timeout: Duration.minutes(1),
      reservedConcurrentExecutions: reservedConcurrency,
    });

    const firehoseLogs = new logs.LogGroup(this, 'FirehoseLogs', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const role = new iam.Role(this, 'FirehoseRole', {
      assumedBy: new iam.ServicePrincipal('firehose.amazonaws.com'),
    });
    // The role's grants, exactly what Firehose needs. The L2 below gets the role without policy
    // updates: its own grants would be broader (S3Bucket grants bucket.grantReadWrite, including
    // s3:DeleteObject* on the archive; KinesisStreamSource grants stream.grantRead with
    // SubscribeToShard and ListStreams; LambdaFunctionProcessor grants invoke on every version).
    grantStream(
      props.stream,
      role,
      'kinesis:DescribeStream',
      'kinesis:DescribeStreamSummary',
      'kinesis:GetShardIterator',
      'kinesis:GetRecords',
      'kinesis:ListShards',
    );
    grantObjects(this.bucket, role, '*', 's3:PutObject', 's3:AbortMultipartUpload');
    grantBucket(this.bucket, role, 's3:GetBucketLocation', 's3:ListBucket', 's3:ListBucketMultipartUploads');
    iam.Grant.addToPrincipal({
      grantee: role,
      actions: ['lambda:InvokeFunction', 'lambda:GetFunctionConfiguration'],
      resourceArns: [this.transform.function.functionArn],
    });
    firehoseLogs.grant(role, 'logs:PutLogEvents');
    const firehoseRole = role.withoutPolicyUpdates();

    // The delivery stream keeps the logical ID it had as an L1 (CfnDeliveryStream at this path):
    // a new ID would replace the stream, and a replaced stream starts reading at LATEST while the
    // old one's buffered records are dropped with it: a gap in the archive.
    const formerLogicalId = logicalIdAt(this, 'DeliveryStream');
    this.deliveryStream = new firehose.DeliveryStream(this, 'DeliveryStream', {
      source: new firehose.KinesisStreamSource(props.stream),
      role: firehoseRole,
      destination: new firehose.S3Bucket(this.bucket, {
        role: firehoseRole,
        dataOutputPrefix: `${ARCHIVE_PREFIX}dt=!{partitionKeyFromLambda:dt}/hour=!{partitionKeyFromLambda:hour}/`,
        errorOutputPrefix: `${ERROR_PREFIX}!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/`,
        // Dynamic partitioning needs at least 64 MiB buffers; the interval is what bounds the delay.
        bufferingInterval: this.bufferInterval,
        bufferingSize: Size.mebibytes(64),
        compression: firehose.Compression.GZIP,
        // Explicit, not Firehose's default: the Glue table reads these objects with Hadoop's text
        // input format, which picks the decompression codec by the key's extension, so an object
        // without `.gz` would be read as plain text (garbage lines, a failed CAST in every run).
        // The key ends with <file extension> (https://docs.aws.amazon.com/firehose/latest/dev/s3-object-name.html;
        // FileExtension: https://docs.aws.amazon.com/firehose/latest/APIReference/API_ExtendedS3DestinationConfiguration.html).
        fileExtension: '.gz',
        dynamicPartitioning: { enabled: true, retryDuration: Duration.seconds(300) },
        // One Lambda processor and no AppendDelimiterToRecord: the transform already ends every
        // record with "\n" (the local archiver writes the very same lines), and a second
        // delimiter would put an empty line after each event.
        processors: [
          new firehose.LambdaFunctionProcessor(this.transform.function, {
            bufferSize: Size.mebibytes(1),
            bufferInterval: Duration.seconds(PROCESSOR_BUFFER_SECONDS),
            retries: PROCESSOR_RETRIES,
          }),
        ],
        loggingConfig: new firehose.EnableLogging(firehoseLogs),
      }),
    });
    (this.deliveryStream.node.defaultChild as firehose.CfnDeliveryStream).overrideLogicalId(formerLogicalId);
    // Firehose checks its permissions when the stream is created: after the role's policy.
    this.deliveryStream.node.addDependency(role);
    Validations.of(this.deliveryStream).acknowledge({
      id: 'AwsSolutions-KDF1',
      reason:
        'Firehose server-side encryption cannot be enabled on a delivery stream whose source is a Kinesis stream; the source stream is KMS-encrypted and the bucket encrypts every object.',
    });
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(this.bucket.node.defaultChild as s3.CfnBucket)}.Arn>/*]`,
      reason:
        'Firehose writes object keys it generates (dynamic partitions, error prefixes): PutObject on the objects of this one bucket.',
    });

    // Glue and Athena address these by name in SQL, so they need names; derived from the path to stay unique.
    this.databaseName = Names.uniqueResourceName(this, { maxLength: 60, separator: '_' })
      .toLowerCase()
      .replace(/[^a-z0-9_]/g, '_');
    const account = Stack.of(this).account;
    this.database = new glue.CfnDatabase(this, 'Database', {
      catalogId: account,
      databaseInput: { name: this.databaseName, description: 'streamfold event archive' },
    });
    const location = `s3://${this.bucket.bucketName}/${ARCHIVE_PREFIX}`;
    this.table = new glue.CfnTable(this, 'Table', {
      catalogId: account,
      databaseName: this.databaseName,
      tableInput: {
        name: this.tableName,
        tableType: 'EXTERNAL_TABLE',
        description: 'One row per archived event: the raw JSON line. Partitioned by arrival time.',
        partitionKeys: [
          { name: 'dt', type: 'string' },
          { name: 'hour', type: 'string' },
        ],
        parameters: {
          'projection.enabled': 'true',
          'projection.dt.type': 'date',
          'projection.dt.format': 'yyyy-MM-dd',
          'projection.dt.range': `${startDate},NOW`,
          'projection.dt.interval': '1',
          'projection.dt.interval.unit': 'DAYS',
          'projection.hour.type': 'integer',
          'projection.hour.range': '0,23',
          'projection.hour.digits': '2',
          'storage.location.template': `${location}dt=\${dt}/hour=\${hour}/`,
        },
        storageDescriptor: {
          location,
          columns: [{ name: 'line', type: 'string' }],
          inputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
          outputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
          // JSON.stringify escapes control characters, so \u0001 never splits a line into fields.
          serdeInfo: {
            serializationLibrary: 'org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe',
            parameters: { 'field.delim': '\u0001' },
          },
        },
      },
    });
    this.table.node.addDependency(this.database);

    this.workGroup = new athena.CfnWorkGroup(this, 'WorkGroup', {
      name: Names.uniqueResourceName(this, { maxLength: 120 }),
      description: 'streamfold batch layer',
      recursiveDeleteOption: true,
      workGroupConfiguration: {
        enforceWorkGroupConfiguration: true,
        publishCloudWatchMetricsEnabled: true,
        bytesScannedCutoffPerQuery: this.bytesScannedCutoffPerQuery,
        engineVersion: { selectedEngineVersion: 'Athena engine version 3' },
        resultConfiguration: {
          outputLocation: `s3://${this.bucket.bucketName}/${ATHENA_RESULTS_PREFIX}`,
          encryptionConfiguration: { encryptionOption: 'SSE_S3' },
        },
      },
    });

    // Alarms on the delivery (https://docs.aws.amazon.com/firehose/latest/dev/monitoring-with-cloudwatch-metrics.html).
    const lagSeconds = this.watermarkLag(Duration.seconds(0)).toSeconds();
    this.freshnessAlarm = this.addAlarm(
      'FreshnessAlarm',
      this.metric('DeliveryToS3.DataFreshness', { statistic: 'Maximum' }),
      lagSeconds,
      cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      `Firehose holds records older than the archive's worst case by construction (${lagSeconds} s): the batch cutoff is held back by the measured freshness; look at delivery errors and transform throttles.`,
    );
    this.addAlarm(
      'DeliverySuccessAlarm',
      this.metric('DeliveryToS3.Success', { statistic: 'Minimum' }),
      1,
      cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      'Firehose failed to put objects into the archive bucket (it retries for up to 24 hours, then discards the data): fix the bucket or role now.',
    );
    this.addAlarm(
      'ProcessingSuccessAlarm',
      this.metric('ExecuteProcessing.Success', { statistic: 'Minimum' }),
      1,
      cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      'A transform invocation failed (throttle, timeout, error): after its retries Firehose skips the batch to processing-failed; re-ingest it (docs/deploy.md).',
    );
    this.errorObjectsAlarm = this.addAlarm(
      'ErrorObjectsAlarm',
      new cloudwatch.Metric({
        namespace: 'AWS/S3',
        metricName: 'PutRequests',
        dimensionsMap: { BucketName: this.bucket.bucketName, FilterId: 'FirehoseErrors' },
        statistic: 'Sum',
        period: Duration.minutes(5),
      }),
      0,
      cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      `Firehose wrote objects under ${ERROR_PREFIX}: records missing from the archive. Re-ingest them (docs/deploy.md, npm run reingest).`,
    );
  }

  private addAlarm(
    id: string,
    metric: cloudwatch.IMetric,
    threshold: number,
    comparisonOperator: cloudwatch.ComparisonOperator,
    alarmDescription: string,
  ): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(this, id, {
      metric,
      threshold,
      comparisonOperator,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription,
    });
    this.alarms.push(alarm);
    return alarm;
  }
}

/**
 * The logical ID CloudFormation knows a resource by when it sits at `scope`/`id` (the L1 that
 * was there), computed by the stack itself from a placeholder that is removed again at once.
 */
function logicalIdAt(scope: Construct, id: string): string {
  const placeholder = new CfnResource(scope, id, { type: 'Placeholder::For::LogicalId' });
  const logicalId = Stack.of(scope).getLogicalId(placeholder);
  scope.node.tryRemoveChild(id);
  return logicalId;
}
