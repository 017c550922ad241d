import {
  BatchWriteCommand,
  paginateQuery,
  paginateScan,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { newestVisible, type BatchSelection } from '../../core/batch-lineage';
import { decodeRow, encodeRowText, type RowState } from '../../core/measures';
import type { BatchBucket } from '../../core/merge';
import type { ViewDefinition } from '../../core/view';
import type { BatchViewStore } from '../../ports/stores';
import { batchCellPartition, batchCellSort, batchPartition, padTime } from './dynamodb-keys';

type WriteRequest = NonNullable<
  NonNullable<ConstructorParameters<typeof BatchWriteCommand>[0]['RequestItems']>[string]
>[number];

/** How many BatchWriteItem calls are in flight at once (each retries its own unprocessed items). */
const WRITE_CONCURRENCY = 8;

/**
 * Batch view cells: pk `c#<view>#<key>`, sk `<bucket>#<segment>`, attribute `ver` = segment. A
 * run writes its segment whole before it publishes; a reader picks per bucket the newest copy its
 * published selection holds (core/batch-lineage.ts).
 */
export class DynamoDbBatchViewStore implements BatchViewStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {}

  private async writeAll(requests: WriteRequest[]): Promise<void> {
    const chunks: WriteRequest[][] = [];
    for (let i = 0; i < requests.length; i += 25) chunks.push(requests.slice(i, i + 25));
    let next = 0;
    const worker = async () => {
      while (next < chunks.length) await this.writeChunk(chunks[next++]);
    };
    await Promise.all(Array.from({ length: Math.min(WRITE_CONCURRENCY, chunks.length) }, worker));
  }

  /** One BatchWriteItem of up to 25 requests, retrying its unprocessed items with backoff. */
  private async writeChunk(chunk: WriteRequest[]): Promise<void> {
    let pending: WriteRequest[] = chunk;
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

  async writeCells(
    version: number,
    view: ViewDefinition,
    cells: readonly { key: readonly string[]; bucketMs: number; state: RowState }[],
  ): Promise<void> {
    await this.writeAll(
      cells.map((cell) => ({
        PutRequest: {
          Item: {
            pk: batchCellPartition(view.name, cell.key),
            sk: batchCellSort(cell.bucketMs, version),
            ver: version,
            b: cell.bucketMs,
            m: encodeRowText(cell.state),
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
    selection?: BatchSelection,
  ): Promise<BatchBucket[]> {
    if (selection === undefined) return this.queryLegacy(version, view, key, fromMs, toMs);
    const copies: { bucketMs: number; segment: number; m: string }[] = [];
    const pages = paginateQuery(
      { client: this.client },
      {
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
        // Strongly consistent (twice the read units): the pointer was read strongly consistent,
        // and an eventually consistent Query "may not reflect the results of a recently
        // completed write" (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.ReadConsistency.html).
        // Right after a publish it could miss the new segment's cells and serve an older
        // segment's copy of a bucket beside speed rows from the new cutoff only (events lost
        // from the answer), and the query function's cache keeps what it read for the version.
        ConsistentRead: true,
        ExpressionAttributeValues: {
          ':pk': batchCellPartition(view.name, key),
          ':from': padTime(fromMs),
          // '~' sorts after '#<segment>': every copy of the last bucket is in range.
          ':to': `${padTime(toMs - 1)}~`,
        },
      },
    );
    for await (const page of pages) {
      for (const item of page.Items ?? [])
        copies.push({ bucketMs: Number(item.b), segment: Number(item.ver), m: item.m as string });
    }
    return newestVisible(copies, version, selection).map((copy) => ({
      bucketMs: copy.bucketMs,
      state: decodeRow(view, JSON.parse(copy.m)),
    }));
  }

  /**
   * A version published before incremental runs (a pointer without lineage, until the first run
   * after an upgrade replaces it): pk `v<version>#<view>#<key>`, sk `<bucket>`.
   */
  private async queryLegacy(
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
        ConsistentRead: true, // see query()
        ExpressionAttributeValues: {
          ':pk': batchPartition(version, view.name, key),
          ':from': padTime(fromMs),
          ':to': padTime(toMs - 1),
        },
      },
    );
    for await (const page of pages)
      for (const item of page.Items ?? [])
        out.push({ bucketMs: Number(item.b), state: decodeRow(view, JSON.parse(item.m as string)) });
    return out;
  }

  deleteVersion(version: number): Promise<number> {
    return this.deleteWhere('ver = :v', version);
  }

  deleteSegmentsBefore(segment: number): Promise<number> {
    return this.deleteWhere('ver < :v', segment);
  }

  private async deleteWhere(filter: string, segment: number): Promise<number> {
    const keys: WriteRequest[] = [];
    const pages = paginateScan(
      { client: this.client },
      {
        TableName: this.tableName,
        FilterExpression: filter,
        ExpressionAttributeValues: { ':v': segment },
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
