import { paginateQuery, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { newestVisible, type BatchSelection } from '../../core/batch-lineage';
import { decodeRow, encodeRowText, type RowState } from '../../core/measures';
import type { BatchBucket } from '../../core/merge';
import type { ViewDefinition } from '../../core/view';
import type { BatchViewStore, DeletedPage, SegmentMatch } from '../../ports/stores';
import { realSleep, writeInBatches, type Sleep, type WriteRequest } from './dynamodb-batch-writes';
import { deleteAllPages, deleteScanPage } from './dynamodb-scan-deletes';
import { batchCellPartition, batchCellSort, batchPartition, padTime } from './dynamodb-keys';

/**
 * Batch view cells: pk `c#<view>#<key>`, sk `<bucket>#<segment>`, attribute `ver` = segment. A
 * run writes its segment whole before it publishes; a reader picks per bucket the newest copy its
 * published selection holds (core/batch-lineage.ts).
 */
export class DynamoDbBatchViewStore implements BatchViewStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly sleep: Sleep = realSleep,
  ) {}

  private writeAll(requests: WriteRequest[]): Promise<void> {
    return writeInBatches(this.client, this.tableName, requests, this.sleep);
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
    return deleteAllPages((cursor) => this.deleteSegmentsPage({ version }, cursor));
  }

  /**
   * Page by page: a full run retires a whole segment, millions of cells at scale, whose keys held
   * at once would not fit the function's memory.
   */
  deleteSegmentsBefore(segment: number): Promise<number> {
    return deleteAllPages((cursor) => this.deleteSegmentsPage({ before: segment }, cursor));
  }

  deleteSegmentsPage(segments: SegmentMatch, cursor: string | undefined): Promise<DeletedPage> {
    const filter =
      'version' in segments
        ? { FilterExpression: 'ver = :v', ExpressionAttributeValues: { ':v': segments.version } }
        : { FilterExpression: 'ver < :v', ExpressionAttributeValues: { ':v': segments.before } };
    return deleteScanPage(this.client, this.tableName, filter, cursor, this.sleep);
  }
}
