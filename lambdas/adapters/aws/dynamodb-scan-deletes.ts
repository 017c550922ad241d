import { ScanCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { DeletedPage } from '../../ports/stores';
import { writeInBatches, type Sleep } from './dynamodb-batch-writes';

/** Which items a scan deletion matches: a filter over the table's `pk, sk` items. */
export interface ScanFilter {
  readonly FilterExpression: string;
  readonly ExpressionAttributeValues: Record<string, unknown>;
  readonly ExpressionAttributeNames?: Record<string, string>;
}

/**
 * One Scan page of the items `filter` matches, deleted (BatchWriteItem, unprocessed items resent
 * with backoff), and where the next page starts: the page's LastEvaluatedKey as JSON text, which
 * the cleanup steps hand from one invocation to the next. A page reads at most 1 MB of the table
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Scan.html), so no deletion
 * holds more than a page of keys, and a scan goes on past the items deleted behind it.
 */
export async function deleteScanPage(
  client: DynamoDBDocumentClient,
  tableName: string,
  filter: ScanFilter,
  cursor: string | undefined,
  sleep: Sleep,
): Promise<DeletedPage> {
  const page = await client.send(
    new ScanCommand({
      TableName: tableName,
      ...filter,
      ProjectionExpression: 'pk, sk',
      ExclusiveStartKey: cursor === undefined ? undefined : (JSON.parse(cursor) as Record<string, unknown>),
    }),
  );
  const keys = (page.Items ?? []).map((item) => ({ DeleteRequest: { Key: { pk: item.pk, sk: item.sk } } }));
  await writeInBatches(client, tableName, keys, sleep);
  return {
    deleted: keys.length,
    cursor: page.LastEvaluatedKey === undefined ? undefined : JSON.stringify(page.LastEvaluatedKey),
  };
}

/** Every page of a deletion, one after another (a caller with no invocation budget to keep). */
export async function deleteAllPages(
  page: (cursor: string | undefined) => Promise<DeletedPage>,
): Promise<number> {
  let deleted = 0;
  let cursor: string | undefined;
  do {
    const result = await page(cursor);
    deleted += result.deleted;
    cursor = result.cursor;
  } while (cursor !== undefined);
  return deleted;
}
