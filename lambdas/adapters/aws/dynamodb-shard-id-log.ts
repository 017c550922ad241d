import { paginateQuery, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { padSequence } from '../../core/sequence';
import type { IdLogItem } from '../../core/shard-id-index';
import type { ShardIdLog } from '../../ports/stores';
import { decodeIdLogEntries, encodeIdLogEntries, splitIdLogEntries } from '../codecs/id-log-codec';

// DynamoDB's item limit is 400 KB; the rest of the item (keys, numbers) is well under 50 KB.
const MAX_ENTRIES_BYTES = 350 * 1024;

/**
 * The speed layer's per-shard id logs in the dedupe table, beside the event-id claims: pk
 * `#idlog#<shard>` (no claim's sort key is a 129-digit number), sk the padded sequence number of
 * the item's first entry, `e` the compressed entries, `la` the newest arrival, and `expiresAt` for
 * TTL once the item is older than the window (TTL deletes late, so reads stop at the window
 * themselves).
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
        KeyConditionExpression: afterSortKey === undefined ? 'pk = :pk' : 'pk = :pk AND sk > :after',
        ExpressionAttributeValues:
          afterSortKey === undefined
            ? { ':pk': this.partition(shardId) }
            : { ':pk': this.partition(shardId), ':after': afterSortKey },
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
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': this.partition(shardId) },
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

  async append(shardId: string, item: IdLogItem): Promise<string> {
    let last = item.sortKey;
    for (const entries of splitIdLogEntries(item.entries, MAX_ENTRIES_BYTES)) {
      last = padSequence(entries[0].seq);
      // Same content under the same key on a retry: a plain put is idempotent.
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            pk: this.partition(shardId),
            sk: last,
            e: encodeIdLogEntries(entries),
            la: item.lastArrivedMs,
            expiresAt: Math.ceil(item.lastArrivedMs / 1000) + this.windowSeconds + 3600,
          },
        }),
      );
    }
    return last;
  }

  private decode(item: Record<string, unknown>): IdLogItem {
    const data = item.e;
    if (!(data instanceof Uint8Array))
      throw new Error(`id log item ${String(item.pk)}/${String(item.sk)} lacks its entries (binary e)`);
    return { sortKey: String(item.sk), lastArrivedMs: Number(item.la), entries: decodeIdLogEntries(data) };
  }
}
