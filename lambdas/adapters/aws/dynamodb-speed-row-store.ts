import {
  GetItemCommand,
  QueryCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { GetCommand, paginateScan, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { viewFingerprint } from '../../core/batch-lineage';
import { nextRevision, type SpeedRow, type SpeedRowAddress } from '../../core/fencing';
import { decodeRow, encodeRowText, type RowState } from '../../core/measures';
import type { SpeedBucket } from '../../core/merge';
import type { ViewDefinition } from '../../core/view';
import {
  SpeedRowsOfAnotherDefinition,
  type DeletedPage,
  type SpeedRowStore,
  type StoredSpeedRow,
} from '../../ports/stores';
import type { DecodedSpeedRows } from '../cache/decoded-speed-rows';
import { realSleep, type Sleep } from './dynamodb-batch-writes';
import { isConditionalCheckFailed } from './dynamodb-errors';
import { deleteAllPages, deleteScanPage } from './dynamodb-scan-deletes';
import { padTime, speedPartition } from './dynamodb-keys';

/**
 * Speed rows in DynamoDB: pk `<view>#<key>`, sk `<bucket>#<arrival bucket>`. A row holds the
 * measure states (`m`) and the sequence fences (`f`) in one item, so the fence and the effect it
 * guards are written together by one conditional write on the revision (`rev`). DynamoDB has no
 * max() or sketch-union update expression, and min/max/distinct need one, hence read-modify-write
 * rather than ADD. `d` is the fingerprint of the view's definition the row was created under, kept
 * by every later write (`if_not_exists`), so a query under a changed definition can tell the row
 * holds states of the old one.
 */
export class DynamoDbSpeedRowStore implements SpeedRowStore {
  private readonly decoded?: DecodedSpeedRows;
  private readonly sleep: Sleep;
  private readonly items: Pick<DynamoDBClient, 'send'>;

  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    options: SpeedRowStoreOptions = {},
  ) {
    this.decoded = options.decoded;
    this.sleep = options.sleep ?? realSleep;
    // The document client sends plain item commands through the same middleware stack.
    this.items = options.items ?? (client as unknown as Pick<DynamoDBClient, 'send'>);
  }

  private itemKey(address: SpeedRowAddress) {
    return {
      pk: { S: speedPartition(address.view, address.key) },
      sk: { S: `${padTime(address.bucketMs)}#${padTime(address.arrivalBucketMs)}` },
    };
  }

  async read(view: ViewDefinition, address: SpeedRowAddress): Promise<StoredSpeedRow | undefined> {
    const { Item } = await this.items.send(
      new GetItemCommand({ TableName: this.tableName, Key: this.itemKey(address), ConsistentRead: true }),
    );
    if (!Item) return undefined;
    const state = Item.m?.S;
    const fences = Item.f?.S;
    const revision = Item.rev?.N;
    if (state === undefined || fences === undefined || revision === undefined)
      throw new Error(
        `speed row ${Item.pk?.S}/${Item.sk?.S} in ${this.tableName} lacks its state (m), fences (f) or revision (rev): was the table written by something other than streamfold?`,
      );
    return {
      row: {
        state: decodeRow(view, JSON.parse(state)),
        fences: JSON.parse(fences) as Record<string, string>,
      },
      revision: Number(revision),
    };
  }

  async write(
    view: ViewDefinition,
    address: SpeedRowAddress,
    row: SpeedRow,
    expectedRevision: number | undefined,
  ): Promise<number | undefined> {
    const revision = nextRevision(expectedRevision);
    try {
      // UpdateItem, not PutItem: `d` must stay what the row's creation wrote. Same write units
      // (the larger of the item before and after, per started KB, for both).
      await this.items.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: this.itemKey(address),
          UpdateExpression: 'SET m = :m, f = :f, rev = :rev, b = :b, a = :a, d = if_not_exists(d, :d)',
          ConditionExpression:
            expectedRevision === undefined ? 'attribute_not_exists(pk)' : 'rev = :expected',
          ExpressionAttributeValues: {
            ':m': { S: encodeRowText(row.state) },
            ':f': { S: JSON.stringify(row.fences) },
            ':rev': { N: String(revision) },
            ':b': { N: String(address.bucketMs) },
            ':a': { N: String(address.arrivalBucketMs) },
            ':d': { S: viewFingerprint(view) },
            ...(expectedRevision === undefined ? {} : { ':expected': { N: String(expectedRevision) } }),
          },
        }),
      );
      return revision;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return undefined;
      throw error;
    }
  }

  async query(
    view: ViewDefinition,
    key: readonly string[],
    fromMs: number,
    toMs: number,
    arrivedFromMs?: number,
  ): Promise<SpeedBucket[]> {
    const out: SpeedBucket[] = [];
    const pk = speedPartition(view.name, key);
    const definition = viewFingerprint(view);
    // Plain item commands through `items`: a query function sends this on every GET, and the item
    // client resolves its middleware once (about a third of the SDK's CPU per request); the
    // attributes read are strings and numbers, taken as they come.
    let startKey: Record<string, AttributeValue> | undefined;
    do {
      const page = await this.items.send(
        new QueryCommand({
          TableName: this.tableName,
          ConsistentRead: true,
          KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
          // Rows a batch version already holds are left out when the caller knows a cutoff (see
          // readServing); the key is ordered by bucket first, so no key range can.
          ...(arrivedFromMs === undefined ? {} : { FilterExpression: 'a >= :arrived' }),
          // The fences (`f`) only matter to writers: left on the table.
          ProjectionExpression: 'sk, rev, b, a, m, d',
          ExpressionAttributeValues: {
            ':pk': { S: pk },
            ':from': { S: `${padTime(fromMs)}#` },
            ':to': { S: `${padTime(toMs - 1)}#~` },
            ...(arrivedFromMs === undefined ? {} : { ':arrived': { N: String(arrivedFromMs) } }),
          },
          ...(startKey === undefined ? {} : { ExclusiveStartKey: startKey }),
        }),
      );
      const items = page.Items ?? [];
      // Before decoding any: a row of another definition may not decode under this one. A row
      // without `d` was written before rows kept it, and is taken as this definition's.
      for (const item of items)
        if (item.d !== undefined && item.d.S !== definition)
          throw new SpeedRowsOfAnotherDefinition(view.name);
      for (const item of items) {
        const text = item.m?.S;
        const revision = item.rev?.N;
        const bucket = item.b?.N;
        const arrival = item.a?.N;
        if (text === undefined || revision === undefined || bucket === undefined || arrival === undefined)
          throw new Error(
            `speed row ${pk}/${item.sk?.S} in ${this.tableName} lacks its state (m), revision (rev), bucket (b) or arrival bucket (a): was the table written by something other than streamfold?`,
          );
        out.push({
          bucketMs: Number(bucket),
          arrivalBucketMs: Number(arrival),
          state: this.decoded
            ? this.decoded.decode(view, `${pk}\u0000${item.sk?.S}`, Number(revision), text)
            : decodeRow(view, JSON.parse(text)),
        });
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined);
    return out;
  }

  async listArrived(
    view: ViewDefinition,
    fromMs: number,
    toMs: number,
  ): Promise<(SpeedRowAddress & { state: RowState })[]> {
    const out: (SpeedRowAddress & { state: RowState })[] = [];
    const pages = paginateScan(
      { client: this.client },
      {
        TableName: this.tableName,
        ConsistentRead: true,
        FilterExpression: 'begins_with(pk, :view) AND a BETWEEN :from AND :to',
        ExpressionAttributeValues: { ':view': `${view.name}#`, ':from': fromMs, ':to': toMs - 1 },
      },
    );
    for await (const page of pages) {
      for (const item of page.Items ?? []) {
        const key = JSON.parse(String(item.pk).slice(view.name.length + 1)) as string[];
        out.push({
          view: view.name,
          key,
          bucketMs: Number(item.b),
          arrivalBucketMs: Number(item.a),
          state: decodeRow(view, JSON.parse(item.m as string)),
        });
      }
    }
    return out;
  }

  /**
   * The rows go page by page (at most 1 MB of keys held), each page's keys in BatchWriteItem calls
   * of 25 with bounded concurrency: one DeleteItem per row was most of the first batch run after a
   * long backlog (bench/batch-backlog.ts: 22.7 of its 27.3 s for 9,900 rows, ADR 016).
   */
  deleteArrivedBefore(arrivalBeforeMs: number): Promise<number> {
    return deleteAllPages((cursor) => this.deleteArrivedBeforePage(arrivalBeforeMs, cursor));
  }

  /** One Scan page's covered rows (the table holds the rows since the cutoff before last, more at scale). */
  deleteArrivedBeforePage(arrivalBeforeMs: number, cursor: string | undefined): Promise<DeletedPage> {
    const filter = { FilterExpression: 'a < :a', ExpressionAttributeValues: { ':a': arrivalBeforeMs } };
    return deleteScanPage(this.client, this.tableName, filter, cursor, this.sleep);
  }

  async count(): Promise<number> {
    let total = 0;
    for await (const page of paginateScan(
      { client: this.client },
      // Rows only: the origin item has no arrival bucket.
      { TableName: this.tableName, Select: 'COUNT', FilterExpression: 'attribute_exists(a)' },
    ))
      total += page.Count ?? 0;
    return total;
  }

  async recordOrigin(views: readonly ViewDefinition[]): Promise<void> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...ORIGIN,
            views: JSON.stringify(Object.fromEntries(views.map((v) => [v.name, viewFingerprint(v)]))),
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw error;
    }
  }

  async readOrigin(): Promise<Readonly<Record<string, string>> | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: ORIGIN, ConsistentRead: true }),
    );
    return Item ? (JSON.parse(Item.views as string) as Record<string, string>) : undefined;
  }
}

/** Optional parts of a DynamoDbSpeedRowStore. */
export interface SpeedRowStoreOptions {
  /**
   * Where `query` keeps the rows it decoded, so the next query decodes only the rows that changed
   * (the query function's; a writer gains nothing from it).
   * @default every query decodes every row it reads
   */
  readonly decoded?: DecodedSpeedRows;
  /**
   * The wait between attempts of a batch delete DynamoDB left partly unprocessed.
   * @default a timer
   */
  readonly sleep?: Sleep;
  /**
   * A plain DynamoDB client for the per-row reads and writes (the speed layer's hot path) and the
   * Query of a key's rows (every GET of the query function): one made by
   * `makeDynamoDbItemClient` (middleware resolved once per command type, which the document client
   * cannot do) spends about a third less CPU per request (`bench/sdk-request-cpu.ts`).
   * @default the document client, which sends the same item commands
   */
  readonly items?: Pick<DynamoDBClient, 'send'>;
}

/**
 * The origin item (recordOrigin): a partition no row has (view names are [a-z0-9_]+), without the
 * arrival bucket every row's scans filter on, so deletes and lists of rows never meet it.
 */
const ORIGIN = { pk: '#origin', sk: '#origin' };
