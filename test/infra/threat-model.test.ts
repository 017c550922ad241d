import type { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { synthKappa } from './kappa-fixture';
import { synth } from './stack-fixture';

/**
 * The README's threat model, pinned on the synthesized templates: who reaches which route, which
 * function each route runs, what each function's role can do to which resource, and what is
 * encrypted with which key. A change to any of these must change this file (and the README).
 */
type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;

const lambdaTemplate = synth().template();
const kappaTemplate = synthKappa().template();

function resources(template: Template, type?: string): Resources {
  const all = template.toJSON().Resources as Resources;
  return Object.fromEntries(Object.entries(all).filter(([, r]) => type === undefined || r.Type === type));
}

/** A logical ID without CDK's 8-character hash: what a person reads in the construct tree. */
const bare = (id: string) => id.replace(/[0-9A-F]{8}$/, '');

/** A resource of a policy statement as text: logical IDs without hash, ARNs with their refs named. */
function label(resource: unknown): string {
  if (typeof resource === 'string') return resource;
  const o = resource as Record<string, unknown>;
  if (o['Fn::GetAtt']) return bare((o['Fn::GetAtt'] as string[])[0]);
  if (typeof o.Ref === 'string') return o.Ref === 'AWS::Partition' ? 'aws' : bare(o.Ref);
  if (o['Fn::Join']) return (o['Fn::Join'] as [string, unknown[]])[1].map(label).join('');
  // Fn::Select/Fn::Split over a ref (a state machine's name): the ref it reads.
  const ref = /"Ref":"([^"]+)"/.exec(JSON.stringify(resource));
  return ref ? `{${bare(ref[1])}}` : JSON.stringify(resource);
}

/** `action resource` lines a role's policies allow, logs and X-Ray aside (every function has those). */
function reach(template: Template, rolePrefix: string): string[] {
  const roles = Object.keys(resources(template, 'AWS::IAM::Role')).filter((id) => bare(id) === rolePrefix);
  expect(roles, rolePrefix).toHaveLength(1);
  const lines = new Set<string>();
  for (const policy of Object.values(resources(template, 'AWS::IAM::Policy'))) {
    if (!(policy.Properties.Roles as { Ref?: string }[]).some((r) => r.Ref === roles[0])) continue;
    const statements = (policy.Properties.PolicyDocument as { Statement: Record<string, unknown>[] })
      .Statement;
    for (const statement of statements) {
      expect(statement.Effect).toBe('Allow');
      for (const action of ([] as string[]).concat(statement.Action as string | string[])) {
        if (/^(logs:(CreateLogStream|PutLogEvents)|xray:)/.test(action)) continue;
        for (const resource of ([] as unknown[]).concat(statement.Resource))
          lines.add(`${action} ${label(resource)}`);
      }
    }
  }
  return [...lines].sort();
}

/** `METHOD /path -> function` for every method of the API. */
function routes(template: Template): string[] {
  const apiResources = resources(template, 'AWS::ApiGateway::Resource');
  const pathOf = (ref: unknown): string => {
    const id = (ref as { Ref?: string }).Ref;
    if (id === undefined || !apiResources[id]) return ''; // the API's root
    const r = apiResources[id].Properties;
    return `${pathOf(r.ParentId)}/${r.PathPart as string}`;
  };
  return Object.values(resources(template, 'AWS::ApiGateway::Method'))
    .map((m) => {
      const uri = JSON.stringify((m.Properties.Integration as { Uri: unknown }).Uri);
      const fn = /"Fn::GetAtt":\["([^"]+)","Arn"\]/.exec(uri)?.[1] ?? 'none';
      return `${m.Properties.HttpMethod as string} ${pathOf(m.Properties.ResourceId) || '/'} -> ${bare(fn)} (${m.Properties.AuthorizationType as string})`;
    })
    .sort();
}

/** The routes (stage/METHOD/path; the stage `v1` as its resource `ApiDeploymentStagev1`) from which API Gateway may invoke each function. */
function invokers(template: Template): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const permission of Object.values(resources(template, 'AWS::Lambda::Permission'))) {
    if (permission.Properties.Principal !== 'apigateway.amazonaws.com') continue;
    const fn = bare(label(permission.Properties.FunctionName));
    const arn = label(permission.Properties.SourceArn);
    const route = arn.slice(arn.indexOf('/') + 1); // after the API id: stage/METHOD/path
    (out[fn] ??= []).push(route);
  }
  for (const list of Object.values(out)) list.sort();
  return out;
}

describe('threat model: who reaches what (Lambda architecture)', () => {
  it('authorizes every route with IAM (SigV4), and runs each on its own function', () => {
    expect(routes(lambdaTemplate)).toEqual([
      'GET /admin/status -> QueryFunction (AWS_IAM)',
      'GET /health -> QueryFunction (AWS_IAM)',
      'GET /views -> QueryFunction (AWS_IAM)',
      'GET /views/{view} -> QueryFunction (AWS_IAM)',
      'GET /views/{view}/parts -> QueryFunction (AWS_IAM)',
      'POST /admin/batch -> BatchLayerStarterFunction (AWS_IAM)',
      'POST /events -> IngestFunction (AWS_IAM)',
    ]);
  });

  it('lets API Gateway invoke the ingest function from POST /events only: a producer allowed that route reaches nothing else', () => {
    expect(invokers(lambdaTemplate)).toEqual({
      BatchLayerStarterFunction: [
        'ApiDeploymentStagev1/POST/admin/batch',
        'test-invoke-stage/POST/admin/batch',
      ],
      IngestFunction: ['ApiDeploymentStagev1/POST/events', 'test-invoke-stage/POST/events'],
      QueryFunction: [
        'ApiDeploymentStagev1/GET/admin/status',
        'ApiDeploymentStagev1/GET/health',
        'ApiDeploymentStagev1/GET/views',
        'ApiDeploymentStagev1/GET/views/*',
        'ApiDeploymentStagev1/GET/views/*/parts',
        'test-invoke-stage/GET/admin/status',
        'test-invoke-stage/GET/health',
        'test-invoke-stage/GET/views',
        'test-invoke-stage/GET/views/*',
        'test-invoke-stage/GET/views/*/parts',
      ],
    });
  });

  it('gives the ingest function the stream to write to, and nothing else', () => {
    expect(reach(lambdaTemplate, 'IngestRole')).toEqual(['kinesis:PutRecords EventStream']);
  });

  it('gives the query function reads of the serving tables only', () => {
    expect(reach(lambdaTemplate, 'QueryRole')).toEqual([
      'dynamodb:GetItem TablesControlTable',
      'dynamodb:GetItem TablesSpeedTable', // the speed layer's origin item, before any batch version
      'dynamodb:Query TablesBatchTable',
      'dynamodb:Query TablesSpeedTable',
    ]);
  });

  it('gives the speed layer the stream to read, its rows and claims to write, and its on-failure bucket', () => {
    expect(reach(lambdaTemplate, 'SpeedLayerHandlerRole')).toEqual([
      'dynamodb:GetItem TablesSpeedTable',
      'dynamodb:PutItem TablesDedupeTable', // appending a shard's id log (ADR 008)
      'dynamodb:PutItem TablesSpeedTable', // the origin item
      'dynamodb:Query TablesDedupeTable', // reading a shard's id log
      'dynamodb:UpdateItem TablesSpeedTable', // rows: `d` kept from their creation
      'kinesis:DescribeStream EventStream',
      'kinesis:DescribeStreamConsumer EventStream',
      'kinesis:DescribeStreamSummary EventStream',
      'kinesis:GetRecords EventStream',
      'kinesis:GetShardIterator EventStream',
      'kinesis:ListShards EventStream',
      'kinesis:ListStreams EventStream',
      'kinesis:SubscribeToShard EventStream',
      's3:ListBucket SpeedLayerDeadLetterBucket',
      's3:PutObject SpeedLayerDeadLetterBucket/*',
    ]);
  });

  it('gives the batch layer the archive to read (events/), its compacted copy to write and read (compacted/, its Glue table), Athena in its workgroup, and the batch view to write', () => {
    expect(reach(lambdaTemplate, 'BatchLayerHandlerRole')).toEqual(
      [
        'athena:GetQueryExecution arn:aws:athena:eu-west-1:123456789012:workgroup/ArchiveWorkGroup',
        'athena:GetQueryResults arn:aws:athena:eu-west-1:123456789012:workgroup/ArchiveWorkGroup',
        'athena:StartQueryExecution arn:aws:athena:eu-west-1:123456789012:workgroup/ArchiveWorkGroup',
        'athena:StopQueryExecution arn:aws:athena:eu-west-1:123456789012:workgroup/ArchiveWorkGroup',
        'cloudwatch:GetMetricData *',
        'dynamodb:BatchWriteItem TablesBatchTable',
        'dynamodb:BatchWriteItem TablesSpeedTable',
        'dynamodb:GetItem TablesControlTable',
        'dynamodb:PutItem TablesControlTable',
        'dynamodb:Scan TablesBatchTable',
        'dynamodb:Scan TablesSpeedTable',
        'dynamodb:UpdateItem TablesControlTable',
        ...['glue:GetDatabase', 'glue:GetPartitions', 'glue:GetTable'].flatMap((action) => [
          `${action} arn:aws:glue:eu-west-1:123456789012:catalog`,
          `${action} arn:aws:glue:eu-west-1:123456789012:database/teststack_archive_9d62e9d7`,
          `${action} arn:aws:glue:eu-west-1:123456789012:table/teststack_archive_9d62e9d7/events`,
        ]),
        // The compacted table (ADR 011): its partitions registered by each generation, read by every run.
        ...[
          'glue:BatchCreatePartition',
          'glue:CreatePartition',
          'glue:GetPartition',
          'glue:GetPartitions',
          'glue:GetTable',
        ].flatMap((action) => [
          ...(['glue:GetPartitions', 'glue:GetTable'].includes(action)
            ? []
            : [
                `${action} arn:aws:glue:eu-west-1:123456789012:catalog`,
                `${action} arn:aws:glue:eu-west-1:123456789012:database/teststack_archive_9d62e9d7`,
              ]),
          `${action} arn:aws:glue:eu-west-1:123456789012:table/teststack_archive_9d62e9d7/compacted`,
        ]),
        's3:AbortMultipartUpload ArchiveBucket/athena-results/*',
        's3:AbortMultipartUpload ArchiveBucket/batch-runs/*', // its queries' UNLOAD (Athena writes as the caller)
        's3:AbortMultipartUpload ArchiveBucket/compacted/*', // the compaction's UNLOAD
        's3:GetBucketLocation ArchiveBucket',
        's3:GetObject ArchiveBucket/athena-results/*',
        's3:GetObject ArchiveBucket/batch-runs/*', // the writers read what the queries unloaded
        's3:GetObject ArchiveBucket/compacted/*', // manifests, attempts' plans, and Athena reading the Parquet
        's3:GetObject ArchiveBucket/events/*',
        's3:ListBucket ArchiveBucket',
        's3:PutObject ArchiveBucket/athena-results/*',
        's3:PutObject ArchiveBucket/batch-runs/*',
        's3:PutObject ArchiveBucket/compacted/*', // generations (UNLOAD), manifests (If-None-Match)
        'sqs:SendMessage BatchLayerScheduleDeadLetterQueue',
      ].sort(),
    );
  });

  it('lets only Firehose write the archive, and only the ingest function write the stream', () => {
    expect(reach(lambdaTemplate, 'ArchiveFirehoseRole')).toEqual([
      'kinesis:DescribeStream EventStream',
      'kinesis:DescribeStreamSummary EventStream',
      'kinesis:GetRecords EventStream',
      'kinesis:GetShardIterator EventStream',
      'kinesis:ListShards EventStream',
      'lambda:GetFunctionConfiguration ArchiveTransformFunction',
      'lambda:InvokeFunction ArchiveTransformFunction',
      's3:AbortMultipartUpload ArchiveBucket/*',
      's3:GetBucketLocation ArchiveBucket',
      's3:ListBucket ArchiveBucket',
      's3:ListBucketMultipartUploads ArchiveBucket',
      's3:PutObject ArchiveBucket/*',
    ]);
    expect(reach(lambdaTemplate, 'ArchiveTransformRole')).toEqual([]);
    const roles = Object.keys(resources(lambdaTemplate, 'AWS::IAM::Role')).map(bare);
    const writers = (pattern: RegExp) =>
      roles.filter(
        (role) => role !== 'ApiCloudWatchRole' && reach(lambdaTemplate, role).some((l) => pattern.test(l)),
      );
    expect(writers(/^kinesis:PutRecords? /)).toEqual(['IngestRole']);
    expect(writers(/^s3:PutObject ArchiveBucket\/(\*|events\/)/)).toEqual(['ArchiveFirehoseRole']);
  });
});

describe('threat model: who reaches what (Kappa architecture)', () => {
  it('routes replay and rollback to the admin function, with IAM on every route', () => {
    expect(routes(kappaTemplate)).toEqual([
      'GET /admin/status -> QueryFunction (AWS_IAM)',
      'GET /health -> QueryFunction (AWS_IAM)',
      'GET /views -> QueryFunction (AWS_IAM)',
      'GET /views/{view} -> QueryFunction (AWS_IAM)',
      'POST /admin/replay -> KappaAdminFunction (AWS_IAM)',
      'POST /admin/rollback -> KappaAdminFunction (AWS_IAM)',
      'POST /events -> IngestFunction (AWS_IAM)',
    ]);
  });

  it('lets the admin function start the replay state machine and flip pointers, nothing more', () => {
    expect(reach(kappaTemplate, 'KappaAdminRole')).toEqual([
      'dynamodb:GetItem TablesControlTable',
      'dynamodb:GetItem TablesKappaTable',
      'dynamodb:PutItem TablesControlTable',
      'dynamodb:Query TablesKappaTable',
      'dynamodb:UpdateItem TablesControlTable',
      'states:StartExecution ReplayStateMachine',
    ]);
    const roles = Object.keys(resources(kappaTemplate, 'AWS::IAM::Role')).map(bare);
    const starters = roles.filter(
      (role) =>
        role !== 'ApiCloudWatchRole' &&
        reach(kappaTemplate, role).some((l) => l.startsWith('states:StartExecution')),
    );
    // The state machine's own role starts its Distributed Map children.
    expect(starters.sort()).toEqual(['KappaAdminRole', 'ReplayStateMachineRole']);
  });

  it('gives the query function reads of the Kappa cells and the pointers only', () => {
    expect(reach(kappaTemplate, 'QueryRole')).toEqual([
      'dynamodb:GetItem TablesControlTable',
      'dynamodb:GetItem TablesKappaTable',
      'dynamodb:Query TablesControlTable',
      'dynamodb:Query TablesKappaTable',
    ]);
  });

  it('lets the replay read the archive (events/ only) and write the Kappa cells', () => {
    const replay = reach(kappaTemplate, 'ReplayHandlerRole');
    expect(replay.filter((l) => l.startsWith('s3:'))).toEqual([
      's3:GetObject ArchiveBucket/events/*',
      's3:ListBucket ArchiveBucket',
    ]);
    expect(replay.filter((l) => /^dynamodb:(Put|Update|Delete|BatchWrite)/.test(l))).toEqual([
      'dynamodb:BatchWriteItem TablesKappaTable',
      'dynamodb:DeleteItem TablesKappaTable',
      'dynamodb:PutItem TablesControlTable',
      'dynamodb:PutItem TablesDedupeTable',
      'dynamodb:PutItem TablesKappaTable',
      'dynamodb:UpdateItem TablesControlTable',
      'dynamodb:UpdateItem TablesKappaTable',
    ]);
  });
});

describe('threat model: what is encrypted with which key', () => {
  it.each([
    ['lambda', lambdaTemplate],
    ['kappa', kappaTemplate],
  ])(
    '%s: stream with the AWS-managed Kinesis key, tables with the AWS-managed DynamoDB key, buckets SSE-S3 and TLS-only, queues SQS-managed',
    (_, template) => {
      for (const stream of Object.values(resources(template, 'AWS::Kinesis::Stream')))
        expect(stream.Properties.StreamEncryption).toEqual({
          EncryptionType: 'KMS',
          KeyId: 'alias/aws/kinesis',
        });
      for (const table of Object.values(resources(template, 'AWS::DynamoDB::Table')))
        expect(table.Properties.SSESpecification).toEqual({ SSEEnabled: true });
      const buckets = Object.entries(resources(template, 'AWS::S3::Bucket'));
      expect(buckets.length).toBeGreaterThan(0);
      for (const [, bucket] of buckets) {
        expect(bucket.Properties.BucketEncryption).toEqual({
          ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
        });
        expect(bucket.Properties.PublicAccessBlockConfiguration).toEqual({
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        });
      }
      const policies = Object.values(resources(template, 'AWS::S3::BucketPolicy')).map((p) =>
        JSON.stringify(p.Properties),
      );
      expect(policies).toHaveLength(buckets.length);
      for (const policy of policies) expect(policy).toContain('"aws:SecureTransport":"false"');
      for (const queue of Object.values(resources(template, 'AWS::SQS::Queue')))
        expect(queue.Properties.SqsManagedSseEnabled).toBe(true);
    },
  );

  it('kappa: the replay state machine logs to a group encrypted with its own customer-managed key', () => {
    const groups = Object.values(resources(kappaTemplate, 'AWS::Logs::LogGroup')).filter(
      (g) => g.Properties.KmsKeyId !== undefined,
    );
    expect(groups.map((g) => label(g.Properties.KmsKeyId))).toEqual(['ReplayLogKey']);
    const key = Object.entries(resources(kappaTemplate, 'AWS::KMS::Key'));
    expect(key.map(([id, k]) => [bare(id), k.Properties.EnableKeyRotation])).toEqual([
      ['ReplayLogKey', true],
    ]);
  });
});
