import {
  BatchWriteCommand,
  paginateQuery,
  paginateScan,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { decodeRow, encodeRow, type RowState } from '../../core/measures';
import type { BatchBucket } from '../../core/merge';
import type { ViewDefinition } from '../../core/view';
import type { BatchViewStore } from '../../ports/stores';
import { batchPartition, padTime } from './dynamodb-keys';

type WriteRequest = NonNullable<
  NonNullable<ConstructorParameters<typeof BatchWriteCommand>[0]['RequestItems']>[string]
>[number];

/** Batch view cells: pk `v<version>#<view>#<key>`, sk `<bucket>`; a version is written whole before it is published. */
export class DynamoDbBatchViewStore implements BatchViewStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {}

  private async writeAll(requests: WriteRequest[]): Promise<void> {
    for (let i = 0; i < requests.length; i += 25) {
      let pending: WriteRequest[] = requests.slice(i, i + 25);
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt >= 10)
          throw new Error(
            `DynamoDB kept ${pending.length} batch writes unprocessed after 10 attempts (throttled?)`,
          );
        if (attempt > 0) await this.sleep(Math.min(5000, 50 * 2 ** attempt));
        const result = await this.client.send(
          new BatchWriteCommand({ RequestItems: { [this.tableName]: pending } }),
        );
        pending = (result.UnprocessedItems?.[this.tableName] as WriteRequest[] | undefined) ?? [];
      }
    }
  }

  async writeCells(
    version: number,
    view: ViewDefinition,
    cells: readonly { key: readonly string[]; bucketMs: number; state: RowState }[],
  ): Promise<void> {
    await this.writeAll(
      cells.map((cell) => ({
        PutRequest: {
          Item: {
            pk: batchPartition(version, view.name, cell.key),
            sk: padTime(cell.bucketMs),
            ver: version,
            b: cell.bucketMs,
            m: JSON.stringify(encodeRow(cell.state)),
          },
        },
      })),
    );
  }

  async query(
    version: number,
    view: ViewDefinition,
    key: readonly string[],
    fromMs: number,
    toMs: number,
  ): Promise<BatchBucket[]> {
    const out: BatchBucket[] = [];
    const pages = paginateQuery(
      { client: this.client },
      {
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
        ExpressionAttributeValues: {
          ':pk': batchPartition(version, view.name, key),
          ':from': padTime(fromMs),
          ':to': padTime(toMs - 1),
        },
      },
    );
    for await (const page of pages) {
      for (const item of page.Items ?? [])
        out.push({ bucketMs: Number(item.b), state: decodeRow(view, JSON.parse(item.m as string)) });
    }
    return out;
  }

  async deleteVersion(version: number): Promise<number> {
    const keys: WriteRequest[] = [];
    const pages = paginateScan(
      { client: this.client },
      {
        TableName: this.tableName,
        FilterExpression: 'ver = :v',
        ExpressionAttributeValues: { ':v': version },
        ProjectionExpression: 'pk, sk',
      },
    );
    for await (const page of pages)
      for (const item of page.Items ?? [])
        keys.push({ DeleteRequest: { Key: { pk: item.pk, sk: item.sk } } });
    await this.writeAll(keys);
    return keys.length;
  }
}
