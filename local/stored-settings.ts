import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { isConditionalCheckFailed } from '../lambdas/adapters/aws/dynamodb-errors';

const SETTINGS = { pk: 'settings', sk: 'local-runtime' };

/** A start refused for a reason the user fixes with a flag: printed without a stack trace. */
export class StartRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartRefusedError';
  }
}

/**
 * Settings that the stored data depends on, kept beside the data (in the control table) the first
 * time the runtime starts on it. Speed rows are kept per arrival bucket and cutoffs are aligned
 * to it, so a different `--arrival-bucket` on the same data would make every query fail: the
 * start is refused instead, naming the flag and the stored value.
 */
export async function checkStoredSettings(
  client: DynamoDBDocumentClient,
  controlTable: string,
  arrivalBucketMs: number,
  where: string,
): Promise<void> {
  try {
    await client.send(
      new PutCommand({
        TableName: controlTable,
        Item: { ...SETTINGS, arrivalBucketMs },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
    return;
  } catch (error) {
    if (!isConditionalCheckFailed(error)) throw error;
  }
  const { Item } = await client.send(
    new GetCommand({ TableName: controlTable, Key: SETTINGS, ConsistentRead: true }),
  );
  const stored = Number(Item?.arrivalBucketMs);
  if (stored !== arrivalBucketMs) {
    throw new StartRefusedError(
      `--arrival-bucket is ${arrivalBucketMs / 1000}s but the data in ${where} was built with ${stored / 1000}s (speed rows and cutoffs are aligned to it). Start with --arrival-bucket ${stored / 1000}s, or use another --data-dir (or delete this one) to start over.`,
    );
  }
}
