import { Duration } from 'aws-cdk-lib';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { validateViews } from '../../lambdas/core/view';
import { ENV } from '../../lambdas/runtime/env';
import { synth } from './stack-fixture';

type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;
const resources = (template: Template, type: string): Resources => template.findResources(type) as Resources;

describe('LambdaArchitectureStack security and reliability', () => {
  // GIVEN the stack with default props
  const { template: lazy } = synth();
  const template = lazy();

  it('encrypts the stream and runs it on demand', () => {
    template.hasResourceProperties('AWS::Kinesis::Stream', {
      StreamEncryption: { EncryptionType: 'KMS', KeyId: 'alias/aws/kinesis' },
      StreamModeDetails: { StreamMode: 'ON_DEMAND' },
      RetentionPeriodHours: 168,
    });
  });

  it('encrypts the archive bucket, blocks public access, enforces TLS, logs access and versions objects', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      LoggingConfiguration: { DestinationBucketName: Match.anyValue(), LogFilePrefix: 'archive/' },
      VersioningConfiguration: { Status: 'Enabled' },
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({
            Prefix: 'events/',
            Transitions: [{ StorageClass: 'INTELLIGENT_TIERING', TransitionInDays: 30 }],
          }),
          Match.objectLike({ Prefix: 'athena-results/', ExpirationInDays: 7 }),
        ]),
      },
    });
    for (const policy of Object.values(resources(template, 'AWS::S3::BucketPolicy'))) {
      expect(JSON.stringify(policy.Properties.PolicyDocument)).toContain('"aws:SecureTransport":"false"');
    }
    // the archive, its access logs and the speed layer's on-failure bucket
    expect(Object.keys(resources(template, 'AWS::S3::BucketPolicy')).length).toBe(3);
  });

  it('gives every table encryption, point-in-time recovery and on-demand billing, and TTL where rows expire', () => {
    const tables = Object.values(resources(template, 'AWS::DynamoDB::Table'));
    expect(tables.length).toBe(4);
    for (const table of tables) {
      expect(table.Properties).toMatchObject({
        BillingMode: 'PAY_PER_REQUEST',
        SSESpecification: { SSEEnabled: true },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      });
    }
    expect(
      tables.filter(
        (t) =>
          (t.Properties.TimeToLiveSpecification as { AttributeName?: string } | undefined)?.AttributeName ===
          'expiresAt',
      ).length,
    ).toBe(2);
  });

  it('authorizes every API method with IAM and validates every request', () => {
    const methods = Object.values(resources(template, 'AWS::ApiGateway::Method'));
    expect(methods.length).toBe(7); // GET /views/{view}/parts included
    for (const method of methods) {
      expect(method.Properties.AuthorizationType).toBe('AWS_IAM');
      expect(method.Properties.RequestValidatorId).toBeDefined();
    }
    template.hasResourceProperties('AWS::ApiGateway::Method', {
      HttpMethod: 'POST',
      RequestModels: { $default: Match.anyValue() },
      RequestValidatorId: Match.anyValue(),
    });
    template.hasResourceProperties('AWS::ApiGateway::RequestValidator', { ValidateRequestBody: true });
    // Keyed by one content type, the model would check only bodies sent with it: API Gateway skips
    // validation when no model matches the request's Content-Type (`curl -d` is form-urlencoded).
    const post = methods.find((m) => m.Properties.HttpMethod === 'POST' && m.Properties.RequestModels);
    expect(Object.keys(post?.Properties.RequestModels as object)).toEqual(['$default']);
  });

  it('throttles the stage explicitly, logs access and traces', () => {
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      TracingEnabled: true,
      AccessLogSetting: { DestinationArn: Match.anyValue(), Format: Match.anyValue() },
      MethodSettings: [
        Match.objectLike({ ThrottlingRateLimit: 1000, ThrottlingBurstLimit: 2000, LoggingLevel: 'ERROR' }),
      ],
    });
  });

  it('wires the speed layer event source with bisect, partial responses and an S3 on-failure bucket that gets the records', () => {
    // An SQS or SNS on-failure destination of a Kinesis event source gets only metadata; an S3 one
    // also gets the invocation record, i.e. the failed records themselves.
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      BisectBatchOnFunctionError: true,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      DestinationConfig: {
        OnFailure: {
          Destination: { 'Fn::GetAtt': [Match.stringLikeRegexp('^SpeedLayerDeadLetterBucket'), 'Arn'] },
        },
      },
    });
    // encrypted, private, expiring, with a request-metrics filter the alarm watches
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      PublicAccessBlockConfiguration: Match.objectLike({
        BlockPublicAcls: true,
        RestrictPublicBuckets: true,
      }),
      LifecycleConfiguration: { Rules: [Match.objectLike({ ExpirationInDays: 14, Status: 'Enabled' })] },
      MetricsConfigurations: [{ Id: 'FailedBatches' }],
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/S3',
      MetricName: 'PutRequests',
      Dimensions: Match.arrayWith([{ Name: 'FilterId', Value: 'FailedBatches' }]),
      Threshold: 0,
    });
    template.resourcePropertiesCountIs(
      'AWS::SQS::Queue',
      { KmsMasterKeyId: 'alias/aws/sqs' },
      0, // no metadata-only SQS destination any more
    );
  });

  it('encrypts every queue and refuses plain-HTTP access to it', () => {
    const queues = Object.values(resources(template, 'AWS::SQS::Queue'));
    expect(queues.length).toBe(1); // the batch schedule's dead-letter queue
    for (const queue of queues) {
      // SSE-SQS where EventBridge delivers (it cannot use the AWS-managed KMS key)
      expect(queue.Properties.KmsMasterKeyId ?? queue.Properties.SqsManagedSseEnabled).toBeTruthy();
      expect(queue.Properties.MessageRetentionPeriod).toBe(1_209_600);
    }
    const policies = Object.values(resources(template, 'AWS::SQS::QueuePolicy'));
    expect(policies.length).toBe(1);
    for (const policy of policies) {
      expect(policy.Properties.PolicyDocument).toMatchObject({
        Statement: expect.arrayContaining([
          expect.objectContaining({
            Effect: 'Deny',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      });
    }
  });

  it('answers schema and parameter failures with valid JSON whatever the error text holds', () => {
    // API Gateway substitutes these variables as they are (no VTL, no escaping); messageString
    // arrives quoted, validationErrorString does not (it holds quotes of its own).
    const substitute = (body: string) =>
      body
        .replace(/\$context\.error\.messageString/g, JSON.stringify('Invalid request body'))
        .replace(
          /\$context\.error\.validationErrorString/g,
          '[object has missing required properties (["type"])]',
        );
    for (const type of ['BAD_REQUEST_BODY', 'BAD_REQUEST_PARAMETERS']) {
      const responses = template.findResources('AWS::ApiGateway::GatewayResponse', {
        Properties: { ResponseType: type, StatusCode: '400' },
      });
      const [response] = Object.values(responses) as {
        Properties: { ResponseTemplates: Record<string, string> };
      }[];
      const body = JSON.parse(
        substitute(response.Properties.ResponseTemplates['application/json']),
      ) as Record<string, unknown>;
      expect(body.error).toEqual(expect.any(String));
      expect(body.reason).toBe('Invalid request body');
    }
  });

  it('takes one event (flat or CloudEvents, time as text or epoch ms) or 1 to 500 events in the body schema', () => {
    const [model] = Object.values(resources(template, 'AWS::ApiGateway::Model'));
    const schema = model.Properties.Schema as {
      anyOf: { required: string[]; properties: Record<string, Record<string, unknown>> }[];
    };
    const [batch, single] = schema.anyOf;
    expect(batch.required).toEqual(['events']);
    expect(batch.properties.events).toMatchObject({ type: 'array', minItems: 1, maxItems: 500 });
    expect(single.required).toEqual(['type', 'time']);
    expect(single.properties.time.type).toEqual(['string', 'number']);
    expect(Object.keys(single.properties)).toEqual(
      expect.arrayContaining(['type', 'time', 'id', 'specversion']),
    );
  });

  it('limits the body of POST /events in the ingest function', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({ [ENV.maxBodyBytes]: '1048576', [ENV.streamName]: Match.anyValue() }),
      },
    });
  });

  it('archives through Firehose with arrival-time partitions from the transform Lambda, GZIP', () => {
    template.hasResourceProperties('AWS::KinesisFirehose::DeliveryStream', {
      DeliveryStreamType: 'KinesisStreamAsSource',
      ExtendedS3DestinationConfiguration: Match.objectLike({
        Prefix: 'events/dt=!{partitionKeyFromLambda:dt}/hour=!{partitionKeyFromLambda:hour}/',
        CompressionFormat: 'GZIP',
        // Athena's text reader decompresses by extension: never left to Firehose's default.
        FileExtension: '.gz',
        DynamicPartitioningConfiguration: { Enabled: true, RetryOptions: { DurationInSeconds: 300 } },
        BufferingHints: { IntervalInSeconds: 60, SizeInMBs: 64 },
        ErrorOutputPrefix: 'errors/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/',
        // exactly one processor: the transform ends each line itself, so no AppendDelimiterToRecord
        ProcessingConfiguration: { Enabled: true, Processors: [Match.objectLike({ Type: 'Lambda' })] },
      }),
    });
  });

  it('projects the Glue table partitions and caps Athena scans with encrypted results', () => {
    template.hasResourceProperties('AWS::Glue::Table', {
      TableInput: Match.objectLike({
        Name: 'events',
        PartitionKeys: [
          { Name: 'dt', Type: 'string' },
          { Name: 'hour', Type: 'string' },
        ],
        Parameters: Match.objectLike({ 'projection.enabled': 'true', 'projection.hour.digits': '2' }),
        StorageDescriptor: Match.objectLike({ Columns: [{ Name: 'line', Type: 'string' }] }),
      }),
    });
    template.hasResourceProperties('AWS::Athena::WorkGroup', {
      WorkGroupConfiguration: Match.objectLike({
        EnforceWorkGroupConfiguration: true,
        BytesScannedCutoffPerQuery: 10 * 1024 ** 3,
        ResultConfiguration: Match.objectLike({ EncryptionConfiguration: { EncryptionOption: 'SSE_S3' } }),
      }),
    });
  });

  it('runs the batch layer from an EventBridge rule with retries and a dead-letter queue', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(15 minutes)',
      Targets: [
        Match.objectLike({
          RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 3600 },
          DeadLetterConfig: Match.anyValue(),
        }),
      ],
    });
  });

  it('runs every function on Node.js 24, ARM, traced, with the views in its environment but the archive transform', () => {
    const functions = Object.entries(resources(template, 'AWS::Lambda::Function')).filter(
      ([, f]) => (f.Properties.Handler as string) === 'index.handler',
    );
    expect(functions.length).toBe(6); // the batch layer's steps and its starter: one bundle, two functions
    for (const [id, fn] of functions) {
      expect(fn.Properties).toMatchObject({
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        TracingConfig: { Mode: 'Active' },
      });
      const views = (fn.Properties.Environment as { Variables: Record<string, string> }).Variables[ENV.views];
      // The transform reads records by the rules every event obeys (readStreamRecord): a views
      // module of its own could refuse, and keep out of the archive, what the door accepted.
      if (id.startsWith('ArchiveTransform')) expect(views).toBeUndefined();
      else expect(JSON.parse(views)).toHaveLength(1);
    }
  });

  it('alarms on iterator age, errors, throttles, dead letters, Athena bytes, reconciliation and the Firehose delivery', () => {
    const alarms = Object.values(resources(template, 'AWS::CloudWatch::Alarm'));
    const metrics = alarms.map((a) => a.Properties.MetricName).filter((m) => m !== undefined);
    expect(new Set(metrics)).toEqual(
      new Set([
        'IteratorAge',
        'Errors',
        'Throttles',
        'ApproximateNumberOfMessagesVisible',
        'PutRequests', // new objects in the on-failure bucket and under the archive's error prefix
        'ReconciliationMismatches',
        'DeliveryToS3.DataFreshness',
        'DeliveryToS3.Success',
        'ExecuteProcessing.Success',
        'ExecutionsFailed', // a batch run failed (its state machine)
        'ExecutionsTimedOut',
      ]),
    );
    // The functions' own metrics carry the service dimension Powertools Metrics adds to each one
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'Streamfold',
      MetricName: 'ReconciliationMismatches',
      Dimensions: [{ Name: 'service', Value: 'streamfold' }],
    });
    // Athena bytes: a metric math alarm (the only one) over the dimensions Athena publishes together
    const math = alarms.filter((a) => a.Properties.Metrics !== undefined);
    expect(math).toHaveLength(1);
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
  });
});

describe('least privilege', () => {
  const template = synth().template();
  const policies = Object.entries(resources(template, 'AWS::IAM::Policy'));

  it('grants no wildcard action', () => {
    for (const [, policy] of policies) {
      for (const statement of (
        policy.Properties.PolicyDocument as { Statement: { Action: string | string[] }[] }
      ).Statement) {
        for (const action of ([] as string[]).concat(statement.Action))
          expect(action).not.toMatch(/(^\*$)|(:\*$)/);
      }
    }
    template.resourcePropertiesCountIs('AWS::IAM::Role', { ManagedPolicyArns: Match.anyValue() }, 1); // API Gateway's account logging role only
  });

  // Each function role's actions, exactly: a new grant must be added here on purpose.
  const expected: Record<string, string[]> = {
    Ingest: [
      'kinesis:PutRecords',
      'logs:CreateLogStream',
      'logs:PutLogEvents',
      'xray:PutTelemetryRecords',
      'xray:PutTraceSegments',
    ],
    Query: [
      'dynamodb:GetItem',
      'dynamodb:Query',
      'logs:CreateLogStream',
      'logs:PutLogEvents',
      'xray:PutTelemetryRecords',
      'xray:PutTraceSegments',
    ],
    SpeedLayerHandler: [
      'dynamodb:GetItem', // speed table only
      'dynamodb:PutItem',
      'dynamodb:Query', // dedupe table only: reading a shard's id log (ADR 008)
      'dynamodb:UpdateItem', // speed rows (a row keeps the definition it was created under)
      'kinesis:DescribeStream',
      'kinesis:DescribeStreamConsumer', // the event source mapping's own grant (CDK KinesisEventSource), on this stream only
      'kinesis:DescribeStreamSummary',
      'kinesis:GetRecords',
      'kinesis:GetShardIterator',
      'kinesis:ListShards',
      'kinesis:ListStreams',
      'kinesis:SubscribeToShard',
      'logs:CreateLogStream',
      'logs:PutLogEvents',
      's3:ListBucket', // the on-failure bucket (what Lambda needs to write a failed batch there)
      's3:PutObject',
      'xray:PutTelemetryRecords',
      'xray:PutTraceSegments',
    ],
    BatchLayerHandler: [
      'athena:GetQueryExecution',
      'athena:GetQueryResults',
      'athena:StartQueryExecution',
      'athena:StopQueryExecution',
      'cloudwatch:GetMetricData', // Firehose's measured freshness (resource *: no resource-level permissions)
      'dynamodb:BatchWriteItem',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:Scan',
      'dynamodb:UpdateItem',
      'glue:BatchCreatePartition', // the compacted table's partitions, registered by each generation (ADR 011)
      'glue:CreatePartition',
      'glue:GetDatabase',
      'glue:GetPartition',
      'glue:GetPartitions',
      'glue:GetTable',
      'logs:CreateLogStream',
      'logs:PutLogEvents',
      's3:AbortMultipartUpload',
      's3:GetBucketLocation',
      's3:GetObject',
      's3:ListBucket',
      's3:PutObject',
      'sqs:SendMessage',
      'xray:PutTelemetryRecords',
      'xray:PutTraceSegments',
    ],
    ArchiveTransform: [
      'logs:CreateLogStream',
      'logs:PutLogEvents',
      'xray:PutTelemetryRecords',
      'xray:PutTraceSegments',
    ],
  };

  it('gives the Firehose role exactly the actions it needs', () => {
    const actions = new Set<string>();
    for (const [id, policy] of policies) {
      if (!id.startsWith('ArchiveFirehoseRole')) continue;
      for (const statement of (
        policy.Properties.PolicyDocument as { Statement: { Action: string | string[] }[] }
      ).Statement) {
        ([] as string[]).concat(statement.Action).forEach((a) => actions.add(a));
      }
    }
    expect([...actions].sort()).toEqual([
      'kinesis:DescribeStream',
      'kinesis:DescribeStreamSummary',
      'kinesis:GetRecords',
      'kinesis:GetShardIterator',
      'kinesis:ListShards',
      'lambda:GetFunctionConfiguration',
      'lambda:InvokeFunction',
      'logs:PutLogEvents',
      's3:AbortMultipartUpload',
      's3:GetBucketLocation',
      's3:ListBucket',
      's3:ListBucketMultipartUploads',
      's3:PutObject',
    ]);
  });

  it.each(Object.keys(expected))('gives the %s role exactly the actions it needs', (prefix) => {
    // Every policy attached to the role, whatever its own logical ID (a separate iam.Policy counts too).
    const roleIds = Object.keys(resources(template, 'AWS::IAM::Role')).filter((id) =>
      id.startsWith(`${prefix}Role`),
    );
    expect(roleIds).toHaveLength(1);
    const actions = new Set<string>();
    for (const [, policy] of policies) {
      if (!(policy.Properties.Roles as { Ref?: string }[]).some((r) => r.Ref === roleIds[0])) continue;
      for (const statement of (
        policy.Properties.PolicyDocument as { Statement: { Action: string | string[] }[] }
      ).Statement) {
        ([] as string[]).concat(statement.Action).forEach((a) => actions.add(a));
      }
    }
    expect([...actions].sort()).toEqual(expected[prefix]);
  });
});

describe('speed layer event source props land on the right CloudFormation fields', () => {
  const cases: [string, Parameters<typeof synth>[0], Record<string, unknown>][] = [
    ['batchSize', { speedBatchSize: 77 }, { BatchSize: 77 }],
    ['aggregation window', { speedAggregationWindow: Duration.seconds(60) }, { TumblingWindowInSeconds: 60 }],
    [
      'defaults',
      {},
      {
        BatchSize: 10_000,
        MaximumBatchingWindowInSeconds: 0,
        MaximumRetryAttempts: 10,
        MaximumRecordAgeInSeconds: 86_400,
        ParallelizationFactor: 1,
        StartingPosition: 'TRIM_HORIZON',
        BisectBatchOnFunctionError: true,
        TumblingWindowInSeconds: Match.absent(),
      },
    ],
  ];
  it.each(cases)('%s', (_, props, fields) => {
    synth(props).template().hasResourceProperties('AWS::Lambda::EventSourceMapping', fields);
  });

  it('gives speedDedupeWindow to the speed function (its id window)', () => {
    const ttl = (props: Parameters<typeof synth>[0]): unknown[] =>
      Object.values(synth(props).template().findResources('AWS::Lambda::Function'))
        .map(
          (fn) =>
            (fn as { Properties: { Environment?: { Variables?: Record<string, unknown> } } }).Properties,
        )
        .map((p) => p.Environment?.Variables?.[ENV.dedupeTtlSeconds])
        .filter((v) => v !== undefined);
    expect(ttl({ speedDedupeWindow: Duration.hours(2) })).toEqual(['7200']);
    expect(ttl({})).toEqual(['900']);
  });

  it('fails if the parallelization factor is above 1 (a row fenced per partition key could pass 400 KB)', () => {
    expect(() => synth({ speedParallelizationFactor: 2 })).toThrow(
      'parallelizationFactor must be 1 (given 2): above 1 Lambda keeps order per partition key only',
    );
  });
});

describe('validation of props', () => {
  it('fails if batchSize is 0', () => {
    expect(() => synth({ speedBatchSize: 0 })).toThrow('batchSize must be between 1 and 10000 (given 0)');
  });
  it('fails if the parallelization factor is above 10', () => {
    expect(() => synth({ speedParallelizationFactor: 11 })).toThrow(
      'parallelizationFactor must be between 1 and 10 (given 11)',
    );
  });
  it('fails if the Firehose buffer interval is above 900 seconds', () => {
    expect(() => synth({ archiveBufferInterval: Duration.seconds(901) })).toThrow(
      'bufferInterval must be between 60 and 900 seconds (given 901)',
    );
  });
  it('fails if shardCount is 0', () => {
    expect(() => synth({ shardCount: 0 })).toThrow('shardCount must be between 1 and 500 (given 0)');
  });
  it('fails if the views do not fit in a Lambda environment', () => {
    const many = validateViews(
      Array.from({ length: 40 }, (_, i) => ({
        name: `view_number_${i}`,
        eventType: 'some.event.type',
        key: ['someKeyField'],
        granularity: '1m',
        measures: { count: { kind: 'count' } },
      })),
    );
    expect(() => synth({ views: many })).toThrow(/at most 3000 bytes of views fit/);
  });
  it('fails if the ingest body limit is above what a synchronous Lambda invocation carries', () => {
    expect(() => synth({ ingestMaxBodyBytes: 20_000_000 })).toThrow(
      'ingestMaxBodyBytes must be between 1 and 3000000 (given 20000000)',
    );
    // 6 MiB passes API Gateway (10 MB) but not the 6 MB invocation once escaped: refused too
    expect(() => synth({ ingestMaxBodyBytes: 6 * 1024 * 1024 })).toThrow(
      'ingestMaxBodyBytes must be between 1 and 3000000 (given 6291456)',
    );
  });
  it('fails if the API rate limit is 0', () => {
    expect(() => synth({ apiRateLimit: 0 })).toThrow(
      'rateLimit must be at least 1 request per second (given 0)',
    );
  });
  it('fails if the Firehose buffer interval is below the 60 seconds dynamic partitioning needs', () => {
    expect(() => synth({ archiveBufferInterval: Duration.seconds(30) })).toThrow(
      'bufferInterval must be between 60 and 900 seconds (given 30)',
    );
  });
  it('takes provisioned shards when given', () => {
    synth({ shardCount: 4 })
      .template()
      .hasResourceProperties('AWS::Kinesis::Stream', {
        ShardCount: 4,
        StreamModeDetails: { StreamMode: 'PROVISIONED' },
      });
  });
});
