import { paginateQuery, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { IdLogAppend, IdLogItem } from '../../core/shard-id-index';
import type { ShardIdLog } from '../../ports/stores';
import {
  decodeIdLogEntries,
  encodeIdLogEntries,
  nextIdLogPosition,
  splitIdLogEntries,
} from '../codecs/id-log-codec';
import { isConditionalCheckFailed } from './dynamodb-errors';

// DynamoDB's item limit is 400 KB; the rest of the item (keys, numbers) is well under 50 KB.
const MAX_ENTRIES_BYTES = 350 * 1024;

/**
 * How long after leaving the window an item may still be deleted by TTL. A reader that holds ids
 * of the window rereads only after its newest position; were that item deleted and its position
 * reused by a cold writer, the reader would miss the new item. Deleting it takes the reader to
 * lag a day behind the stream (Kinesis keeps 24 hours by default), and an index with no id of the
 * window left reads the log afresh (ShardDedupe).
 */
const EXPIRY_MARGIN_SECONDS = 24 * 3600;

/**
 * Reads stop at positions: an event id is any string, so a claim of the id `#idlog#<shard>` (the
 * Kappa processor's, in the same table locally; sort key `claim`) shares the log's partition.
 */
const LAST_POSITION = 'n~';

/**
 * The speed layer's per-shard id logs in the dedupe table, beside the event-id claims: pk
 * `#idlog#<shard>` (a claim of that event id may share it: see LAST_POSITION), sk the item's
 * position in the log (nextIdLogPosition), written on the condition that it is free, `e` the compressed entries,
 * `la` the newest arrival, and `expiresAt` for TTL once the item is older than the window (TTL
 * deletes late, so reads stop at the window themselves).
 */
export class DynamoDbShardIdLog implements ShardIdLog {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly windowSeconds: number,
  ) {}

  private partition(shardId: string): string {
    return `#idlog#${shardId}`;
  }

  async readAfter(shardId: string, afterSortKey: string | undefined): Promise<IdLogItem[]> {
    const pages = paginateQuery(
      { client: this.client },
      {
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
        ExpressionAttributeValues: {
          ':pk': this.partition(shardId),
          ':from': nextIdLogPosition(afterSortKey),
          ':to': LAST_POSITION,
        },
        ConsistentRead: true,
      },
    );
    const items: IdLogItem[] = [];
    for await (const page of pages) for (const item of page.Items ?? []) items.push(this.decode(item));
    return items;
  }

  async readRecent(shardId: string, sinceMs: number): Promise<IdLogItem[]> {
    const pages = paginateQuery(
      { client: this.client },
      {
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
        ExpressionAttributeValues: {
          ':pk': this.partition(shardId),
          ':from': nextIdLogPosition(undefined),
          ':to': LAST_POSITION,
        },
        ScanIndexForward: false,
        ConsistentRead: true,
      },
    );
    const newestFirst: IdLogItem[] = [];
    for await (const page of pages) {
      for (const raw of page.Items ?? []) {
        const item = this.decode(raw);
        newestFirst.push(item);
        if (item.lastArrivedMs < sinceMs) return newestFirst.reverse();
      }
    }
    return newestFirst.reverse();
  }

  async append(
    shardId: string,
    afterSortKey: string | undefined,
    item: IdLogAppend,
  ): Promise<string | undefined> {
    let position = afterSortKey;
    for (const entries of splitIdLogEntries(item.entries, MAX_ENTRIES_BYTES)) {
      position = nextIdLogPosition(position);
      try {
        await this.client.send(
          new PutCommand({
            TableName: this.tableName,
            Item: {
              pk: this.partition(shardId),
              sk: position,
              e: encodeIdLogEntries(entries),
              la: item.lastArrivedMs,
              expiresAt: Math.ceil(item.lastArrivedMs / 1000) + this.windowSeconds + EXPIRY_MARGIN_SECONDS,
            },
            // Never over another writer's item: the caller reads it and decides again. A retry of
            // this very put after its answer was lost fails the same way, and the read finds it.
            ConditionExpression: 'attribute_not_exists(sk)',
          }),
        );
      } catch (error) {
        if (isConditionalCheckFailed(error)) return undefined;
        throw error;
      }
    }
    return position;
  }

  private decode(item: Record<string, unknown>): IdLogItem {
    const data = item.e;
    if (!(data instanceof Uint8Array))
      throw new Error(`id log item ${String(item.pk)}/${String(item.sk)} lacks its entries (binary e)`);
    return { sortKey: String(item.sk), lastArrivedMs: Number(item.la), entries: decodeIdLogEntries(data) };
  }
}
