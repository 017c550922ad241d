import { GetCommand, paginateQuery, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { KappaCell } from '../../core/kappa';
import { decodeRow, encodeRowText } from '../../core/measures';
import type { CellAddress } from '../../core/reducer';
import type { ViewDefinition } from '../../core/view';
import type { KappaCellStore, StoredKappaCell } from '../../ports/kappa';
import { realSleep, type Sleep } from './dynamodb-batch-writes';
import { isConditionalCheckFailed } from './dynamodb-errors';
import { deleteAllPages, deleteScanPage } from './dynamodb-scan-deletes';
import { batchPartition, padTime } from './dynamodb-keys';

/**
 * Kappa cells: pk `v<version>#<view>#<key>`, sk `<bucket>`. One item holds the measure states
 * (`m`), the live sequence fences (`f`) and the replay chunk fences (`c`), so a cell's state and
 * the fences guarding it are written together by one conditional PutItem on the revision (`rev`).
 */
export class DynamoDbKappaCellStore implements KappaCellStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly sleep: Sleep = realSleep,
  ) {}

  private key(version: number, address: CellAddress) {
    return { pk: batchPartition(version, address.view, address.key), sk: padTime(address.bucketMs) };
  }

  async read(
    version: number,
    view: ViewDefinition,
    address: CellAddress,
  ): Promise<StoredKappaCell | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: this.key(version, address), ConsistentRead: true }),
    );
    if (!Item) return undefined;
    return {
      cell: {
        state: decodeRow(view, JSON.parse(Item.m as string)),
        fences: JSON.parse(Item.f as string) as Record<string, string>,
        chunks: JSON.parse(Item.c as string) as string[],
      },
      revision: Number(Item.rev),
    };
  }

  async write(
    version: number,
    _view: ViewDefinition,
    address: CellAddress,
    cell: KappaCell,
    expectedRevision: number | undefined,
  ): Promise<boolean> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...this.key(version, address),
            m: encodeRowText(cell.state),
            f: JSON.stringify(cell.fences),
            c: JSON.stringify(cell.chunks),
            rev: (expectedRevision ?? 0) + 1,
            ver: version,
            view: address.view,
            b: address.bucketMs,
          },
          ConditionExpression: expectedRevision === undefined ? 'attribute_not_exists(pk)' : 'rev = :rev',
          ExpressionAttributeValues:
            expectedRevision === undefined ? undefined : { ':rev': expectedRevision },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return false;
      throw error;
    }
  }

  async query(
    version: number,
    view: ViewDefinition,
    key: readonly string[],
    fromMs: number,
    toMs: number,
  ): Promise<{ bucketMs: number; cell: KappaCell }[]> {
    const out: { bucketMs: number; cell: KappaCell }[] = [];
    const pages = paginateQuery(
      { client: this.client },
      {
        TableName: this.tableName,
        ConsistentRead: true,
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
        ExpressionAttributeValues: {
          ':pk': batchPartition(version, view.name, key),
          ':from': padTime(fromMs),
          ':to': padTime(toMs - 1),
        },
      },
    );
    for await (const page of pages) {
      for (const item of page.Items ?? []) {
        out.push({
          bucketMs: Number(item.b),
          cell: {
            state: decodeRow(view, JSON.parse(item.m as string)),
            fences: JSON.parse(item.f as string) as Record<string, string>,
            chunks: JSON.parse(item.c as string) as string[],
          },
        });
      }
    }
    return out;
  }

  deleteVersion(version: number, view: string): Promise<number> {
    return deleteAllPages((cursor) => this.deleteVersionPage(version, view, cursor));
  }

  /**
   * One Scan page filtered on the version, its cells deleted: the replay's drop step passes the
   * cursor from one invocation to the next, so a table of tens of millions of cells is dropped
   * over as many invocations as it takes, not within one. Unprocessed deletes are sent again with
   * backoff, and a table that keeps refusing them is an error: the count returned must be the
   * cells deleted (it once gave up silently after 10 immediate resends and reported every cell
   * deleted).
   */
  deleteVersionPage(
    version: number,
    view: string,
    cursor: string | undefined,
  ): Promise<{ deleted: number; cursor: string | undefined }> {
    const filter = {
      FilterExpression: 'ver = :v AND #view = :view',
      ExpressionAttributeNames: { '#view': 'view' },
      ExpressionAttributeValues: { ':v': version, ':view': view },
    };
    return deleteScanPage(this.client, this.tableName, filter, cursor, this.sleep);
  }
}
