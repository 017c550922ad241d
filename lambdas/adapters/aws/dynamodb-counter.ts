import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';

/**
 * Adds one to the counter item at `key` and returns the new value (1 the first time): an atomic
 * ADD, so two callers never get the same number.
 */
export async function incrementCounter(
  client: DynamoDBDocumentClient,
  tableName: string,
  key: Record<string, string>,
): Promise<number> {
  const { Attributes } = await client.send(
    new UpdateCommand({
      TableName: tableName,
      Key: key,
      UpdateExpression: 'ADD #n :one',
      ExpressionAttributeNames: { '#n': 'n' },
      ExpressionAttributeValues: { ':one': 1 },
      ReturnValues: 'UPDATED_NEW',
    }),
  );
  return Number(Attributes?.n);
}
