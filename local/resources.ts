import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  ResourceInUseException,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import {
  CreateTableCommand,
  DescribeTableCommand,
  type CreateTableCommandInput,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';

/** Physical names of the local resources (the cloud stacks never set names; locally, fixed ones are easier to find). */
export function resourceNames(prefix = 'streamfold') {
  return {
    stream: `${prefix}-events`,
    speedTable: `${prefix}-speed`,
    batchTable: `${prefix}-batch`,
    controlTable: `${prefix}-control`,
    dedupeTable: `${prefix}-dedupe`,
    kappaTable: `${prefix}-kappa`,
    bucket: `${prefix}-archive`,
  } as const;
}

export type ResourceNames = ReturnType<typeof resourceNames>;
export const LOCAL_RESOURCES: ResourceNames = resourceNames();

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not become ready within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Creates the stream, tables and bucket if they do not exist yet (a restart on the same data dir
 * finds them). Returns the stream's open shards: a stream that existed keeps its own count.
 */
export async function ensureResources(
  clients: { kinesis: KinesisClient; dynamodb: DynamoDBClient; s3: S3Client },
  shards: number,
  names: ResourceNames = LOCAL_RESOURCES,
): Promise<{ openShards: number }> {
  try {
    await clients.kinesis.send(new CreateStreamCommand({ StreamName: names.stream, ShardCount: shards }));
  } catch (error) {
    if (!(error instanceof ResourceInUseException) && (error as Error).name !== 'ResourceInUseException')
      throw error;
  }
  let openShards = shards;
  await waitFor(async () => {
    const { StreamDescriptionSummary } = await clients.kinesis.send(
      new DescribeStreamSummaryCommand({ StreamName: names.stream }),
    );
    openShards = StreamDescriptionSummary?.OpenShardCount ?? shards;
    return StreamDescriptionSummary?.StreamStatus === 'ACTIVE';
  }, `stream ${names.stream}`);
  for (const table of [
    names.speedTable,
    names.batchTable,
    names.controlTable,
    names.dedupeTable,
    names.kappaTable,
  ]) {
    try {
      await clients.dynamodb.send(new CreateTableCommand(pkSkTable(table)));
    } catch (error) {
      if ((error as Error).name !== 'ResourceInUseException') throw error;
    }
    await waitFor(async () => {
      const { Table } = await clients.dynamodb.send(new DescribeTableCommand({ TableName: table }));
      return Table?.TableStatus === 'ACTIVE';
    }, `table ${table}`);
  }
  try {
    await clients.s3.send(new CreateBucketCommand({ Bucket: names.bucket }));
  } catch (error) {
    // A restart on the same data dir finds the bucket there already.
    const name = (error as Error).name;
    if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw error;
  }
  return { openShards };
}

/** Every local table's layout (string `pk` and `sk`, on demand), as the stacks define theirs. */
export function pkSkTable(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: 'pk', AttributeType: 'S' },
      { AttributeName: 'sk', AttributeType: 'S' },
    ],
    KeySchema: [
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ],
  };
}
