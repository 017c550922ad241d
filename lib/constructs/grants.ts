import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as s3 from 'aws-cdk-lib/aws-s3';

/*
 * Exact-action grants. aws-cdk-lib's broad grants (`grantRead`, `grantReadWriteData`) carry
 * wildcard actions (s3:GetObject*, s3:List*) and actions no function here uses; its exact ones
 * (`table.grant`, `stream.grant`) carry no KMS permission. These grant the given actions only,
 * plus the KMS actions they need when the resource has a customer-managed key (the split
 * aws-cdk-lib's own readData/writeData grants use), so a key added later does not silently break
 * a function. With the AWS-managed keys of this app no KMS statement is added.
 */

/** DynamoDB actions that only read; any other action also writes. */
const DYNAMODB_READS = new Set([
  'dynamodb:GetItem',
  'dynamodb:BatchGetItem',
  'dynamodb:Query',
  'dynamodb:Scan',
  'dynamodb:ConditionCheckItem',
]);
const KMS_READ = ['kms:Decrypt', 'kms:DescribeKey'];
const KMS_WRITE = ['kms:Encrypt', 'kms:ReEncrypt*', 'kms:GenerateDataKey*'];

/** `table.grant(grantee, ...actions)`, plus decrypt (reads) or encrypt (writes) on its customer-managed key, if any. */
export function grantTable(table: dynamodb.ITable, grantee: iam.IGrantable, ...actions: string[]): iam.Grant {
  const grant = table.grant(grantee, ...actions);
  const writes = actions.some((action) => !DYNAMODB_READS.has(action));
  table.encryptionKey?.grant(grantee, ...KMS_READ, ...(writes ? KMS_WRITE : []));
  return grant;
}

/** `stream.grant(grantee, ...actions)`, plus encrypt (PutRecord/PutRecords) or decrypt (reads) on its customer-managed key, if any. */
export function grantStream(
  stream: kinesis.IStream,
  grantee: iam.IGrantable,
  ...actions: string[]
): iam.Grant {
  const grant = stream.grant(grantee, ...actions);
  if (actions.some((action) => action.startsWith('kinesis:PutRecord')))
    stream.encryptionKey?.grantEncrypt(grantee);
  else stream.encryptionKey?.grantDecrypt(grantee);
  return grant;
}

/**
 * `actions` on the objects of `bucket` under `keyPattern` (e.g. `events/*`), with the KMS actions of
 * a read (`s3:Get*`) or a write on its customer-managed key, if any (BucketGrants grants `kms:`
 * actions on the key and drops them when there is none).
 */
export function grantObjects(
  bucket: s3.IBucket,
  grantee: iam.IGrantable,
  keyPattern: string,
  ...actions: string[]
): iam.Grant {
  const writes = actions.some((action) => !action.startsWith('s3:Get'));
  return s3.BucketGrants.fromBucket(bucket).actionsOnObjectKeys(
    grantee,
    keyPattern,
    ...actions,
    ...KMS_READ,
    ...(writes ? KMS_WRITE : []),
  );
}

/** `actions` on the bucket itself (s3:ListBucket, s3:GetBucketLocation): no object, no key involved. */
export function grantBucket(bucket: s3.IBucket, grantee: iam.IGrantable, ...actions: string[]): iam.Grant {
  return iam.Grant.addToPrincipal({ grantee, actions, resourceArns: [bucket.bucketArn] });
}
