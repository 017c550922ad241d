import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  ResourceInUseException,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import { CreateTableCommand, DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, HeadBucketCommand, type S3Client } from '@aws-sdk/client-s3';

/** Physical names of the local resources (the cloud stacks never set names; locally, fixed ones are easier to find). */
export const LOCAL_RESOURCES = {
  stream: 'streamfold-events',
  speedTable: 'streamfold-speed',
  batchTable: 'streamfold-batch',
  controlTable: 'streamfold-control',
  dedupeTable: 'streamfold-dedupe',
  bucket: 'streamfold-archive',
} as const;

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not become ready within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Creates the stream, tables and bucket if they do not exist yet (a restart on the same data dir finds them). */
export async function ensureResources(
  clients: { kinesis: KinesisClient; dynamodb: DynamoDBClient; s3: S3Client },
  shards: number,
): Promise<void> {
  try {
    await clients.kinesis.send(
      new CreateStreamCommand({ StreamName: LOCAL_RESOURCES.stream, ShardCount: shards }),
    );
  } catch (error) {
    if (!(error instanceof ResourceInUseException) && (error as Error).name !== 'ResourceInUseException')
      throw error;
  }
  await waitFor(async () => {
    const { StreamDescriptionSummary } = await clients.kinesis.send(
      new DescribeStreamSummaryCommand({ StreamName: LOCAL_RESOURCES.stream }),
    );
    return StreamDescriptionSummary?.StreamStatus === 'ACTIVE';
  }, `stream ${LOCAL_RESOURCES.stream}`);
  for (const table of [
    LOCAL_RESOURCES.speedTable,
    LOCAL_RESOURCES.batchTable,
    LOCAL_RESOURCES.controlTable,
    LOCAL_RESOURCES.dedupeTable,
  ]) {
    try {
      await clients.dynamodb.send(
        new CreateTableCommand({
          TableName: table,
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [
            { AttributeName: 'pk', AttributeType: 'S' },
            { AttributeName: 'sk', AttributeType: 'S' },
          ],
          KeySchema: [
            { AttributeName: 'pk', KeyType: 'HASH' },
            { AttributeName: 'sk', KeyType: 'RANGE' },
          ],
        }),
      );
    } catch (error) {
      if ((error as Error).name !== 'ResourceInUseException') throw error;
    }
    await waitFor(async () => {
      const { Table } = await clients.dynamodb.send(new DescribeTableCommand({ TableName: table }));
      return Table?.TableStatus === 'ACTIVE';
    }, `table ${table}`);
  }
  try {
    await clients.s3.send(new HeadBucketCommand({ Bucket: LOCAL_RESOURCES.bucket }));
  } catch {
    await clients.s3.send(new CreateBucketCommand({ Bucket: LOCAL_RESOURCES.bucket }));
  }
}
