import { GetItemCommand, PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { paginateQuery, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
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
  private readonly sleep: Sleep;
  private readonly items: Pick<DynamoDBClient, 'send'>;

  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    options: KappaCellStoreOptions = {},
  ) {
    this.sleep = options.sleep ?? realSleep;
    // The document client sends plain item commands through the same middleware stack.
    this.items = options.items ?? (client as unknown as Pick<DynamoDBClient, 'send'>);
  }

  private key(version: number, address: CellAddress) {
    return {
      pk: { S: batchPartition(version, address.view, address.key) },
      sk: { S: padTime(address.bucketMs) },
    };
  }

  async read(
    version: number,
    view: ViewDefinition,
    address: CellAddress,
  ): Promise<StoredKappaCell | undefined> {
    const { Item } = await this.items.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: this.key(version, address),
        ConsistentRead: true,
      }),
    );
    if (!Item) return undefined;
    const [state, fences, chunks, revision] = [Item.m?.S, Item.f?.S, Item.c?.S, Item.rev?.N];
    if (state === undefined || fences === undefined || chunks === undefined || revision === undefined)
      throw new Error(
        `Kappa cell ${Item.pk?.S}/${Item.sk?.S} in ${this.tableName} lacks its state (m), fences (f), chunks (c) or revision (rev): was the table written by something other than streamfold?`,
      );
    return {
      cell: {
        state: decodeRow(view, JSON.parse(state)),
        fences: JSON.parse(fences) as Record<string, string>,
        chunks: JSON.parse(chunks) as string[],
      },
      revision: Number(revision),
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
      await this.items.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: {
            ...this.key(version, address),
            m: { S: encodeRowText(cell.state) },
            f: { S: JSON.stringify(cell.fences) },
            c: { S: JSON.stringify(cell.chunks) },
            rev: { N: String((expectedRevision ?? 0) + 1) },
            ver: { N: String(version) },
            view: { S: address.view },
            b: { N: String(address.bucketMs) },
          },
          ConditionExpression: expectedRevision === undefined ? 'attribute_not_exists(pk)' : 'rev = :rev',
          ExpressionAttributeValues:
            expectedRevision === undefined ? undefined : { ':rev': { N: String(expectedRevision) } },
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

/** Optional parts of a DynamoDbKappaCellStore. */
export interface KappaCellStoreOptions {
  /**
   * The wait between attempts of a batch delete DynamoDB left partly unprocessed.
   * @default a timer
   */
  readonly sleep?: Sleep;
  /**
   * A plain DynamoDB client for the per-cell reads and writes of the processor and the replay
   * (one made by `makeDynamoDbItemClient`: about a third less CPU per request than the document
   * client, `bench/sdk-request-cpu.ts`).
   * @default the document client, which sends the same item commands
   */
  readonly items?: Pick<DynamoDBClient, 'send'>;
}
