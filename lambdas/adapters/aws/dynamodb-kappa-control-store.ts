import {
  GetCommand,
  paginateQuery,
  PutCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import type { KappaPointers } from '../../core/kappa';
import type { ChunkProgress, KappaControlStore, ReplayProgress } from '../../ports/kappa';
import { incrementCounter } from './dynamodb-counter';
import { isConditionalCheckFailed } from './dynamodb-errors';

const POINTERS = { pk: 'kappa', sk: 'pointers' };
const COUNTER = { pk: 'kappa', sk: 'version-counter' };
const progressKey = (replayId: string) => ({ pk: 'kappa-progress', sk: replayId });
/**
 * Each chunk's own report, one item per chunk (sk: its fence). Kept after the replay (about 60
 * bytes per archive object and replay): the control table has no TTL.
 */
const chunkPartition = (replayId: string) => `kappa-progress#${replayId}`;

/**
 * The Kappa control items in the control table (beside the Lambda architecture's serving pointer):
 * every view's pointer and the newest replay in one item (`doc`, JSON), replaced by one
 * conditional PutItem on its revision: a flip, a rollback, or a replay start refused while one
 * runs. Progress lives in its own items: the replay's fields, and one item per chunk that the
 * chunk replaces with its own totals (parallel chunks never conflict, a retried chunk counts once).
 */
export class DynamoDbKappaControlStore implements KappaControlStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async read(): Promise<KappaPointers> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: POINTERS, ConsistentRead: true }),
    );
    if (!Item) return { views: {}, replay: null, revision: 0 };
    const doc = JSON.parse(Item.doc as string) as Omit<KappaPointers, 'revision'>;
    return { views: doc.views, replay: doc.replay, revision: Number(Item.rev), writeId: doc.writeId };
  }

  async write(next: Omit<KappaPointers, 'revision'>, expectedRevision: number): Promise<boolean> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...POINTERS,
            doc: JSON.stringify({ views: next.views, replay: next.replay, writeId: next.writeId }),
            rev: expectedRevision + 1,
          },
          ConditionExpression: expectedRevision === 0 ? 'attribute_not_exists(pk)' : 'rev = :rev',
          ExpressionAttributeValues: expectedRevision === 0 ? undefined : { ':rev': expectedRevision },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return false;
      throw error;
    }
  }

  async nextVersion(): Promise<number> {
    return incrementCounter(this.client, this.tableName, COUNTER);
  }

  async readProgress(replayId: string): Promise<ReplayProgress> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: progressKey(replayId), ConsistentRead: true }),
    );
    const num = (v: unknown) => (v === undefined || v === null ? null : Number(v));
    let objectsDone = 0;
    let events = 0;
    let replayedToMs: number | null = null;
    let updatedAt = num(Item?.updatedAt);
    const pages = paginateQuery(
      { client: this.client },
      {
        TableName: this.tableName,
        ConsistentRead: true,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': chunkPartition(replayId) },
        ProjectionExpression: 'o, e, r, u',
      },
    );
    for await (const page of pages)
      for (const chunk of page.Items ?? []) {
        objectsDone += Number(chunk.o);
        events += Number(chunk.e);
        const r = num(chunk.r);
        if (r !== null && (replayedToMs === null || r > replayedToMs)) replayedToMs = r;
        const u = num(chunk.u);
        if (u !== null && (updatedAt === null || u > updatedAt)) updatedAt = u;
      }
    return {
      objectsTotal: num(Item?.objectsTotal),
      objectsDone,
      events,
      replayedToMs,
      phase: typeof Item?.phase === 'string' ? Item.phase : null,
      updatedAt,
    };
  }

  async setProgress(
    replayId: string,
    set: { objectsTotal?: number; phase?: string; reset?: boolean },
  ): Promise<void> {
    if (set.reset) {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...progressKey(replayId),
            updatedAt: Date.now(),
            phase: set.phase ?? null,
            ...(set.objectsTotal === undefined ? {} : { objectsTotal: set.objectsTotal }),
          },
        }),
      );
      return;
    }
    const sets: string[] = ['updatedAt = :now'];
    const values: Record<string, unknown> = { ':now': Date.now() };
    if (set.objectsTotal !== undefined) {
      sets.push('objectsTotal = :t');
      values[':t'] = set.objectsTotal;
    }
    if (set.phase !== undefined) {
      sets.push('phase = :p');
      values[':p'] = set.phase;
    }
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: progressKey(replayId),
        UpdateExpression: `SET ${sets.join(', ')}`,
        ExpressionAttributeValues: values,
      }),
    );
  }

  async reportChunk(replayId: string, chunkId: string, done: ChunkProgress): Promise<void> {
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          pk: chunkPartition(replayId),
          sk: chunkId,
          o: done.objects,
          e: done.events,
          ...(done.replayedToMs === null ? {} : { r: done.replayedToMs }),
          u: Date.now(),
        },
      }),
    );
  }
}
