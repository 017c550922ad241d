import { GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { KappaPointers } from '../../core/kappa';
import type { KappaControlStore, ReplayProgress } from '../../ports/kappa';
import { isConditionalCheckFailed } from './dynamodb-errors';

const POINTERS = { pk: 'kappa', sk: 'pointers' };
const COUNTER = { pk: 'kappa', sk: 'version-counter' };
const progressKey = (replayId: string) => ({ pk: 'kappa-progress', sk: replayId });

/**
 * The Kappa control items in the control table (beside the Lambda architecture's serving pointer):
 * every view's pointer and the newest replay in one item (`doc`, JSON), replaced by one
 * conditional PutItem on its revision: a flip, a rollback, or a replay start refused while one
 * runs. Progress counters live in their own item (ADD: parallel chunks never conflict).
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
    return { views: doc.views, replay: doc.replay, revision: Number(Item.rev) };
  }

  async write(next: Omit<KappaPointers, 'revision'>, expectedRevision: number): Promise<boolean> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...POINTERS,
            doc: JSON.stringify({ views: next.views, replay: next.replay }),
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
    const { Attributes } = await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: COUNTER,
        UpdateExpression: 'ADD #n :one',
        ExpressionAttributeNames: { '#n': 'n' },
        ExpressionAttributeValues: { ':one': 1 },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    return Number(Attributes?.n);
  }

  async readProgress(replayId: string): Promise<ReplayProgress> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: progressKey(replayId), ConsistentRead: true }),
    );
    const num = (v: unknown) => (v === undefined || v === null ? null : Number(v));
    return {
      objectsTotal: num(Item?.objectsTotal),
      objectsDone: Number(Item?.objectsDone ?? 0),
      events: Number(Item?.events ?? 0),
      replayedToMs: num(Item?.replayedToMs),
      phase: typeof Item?.phase === 'string' ? Item.phase : null,
      updatedAt: num(Item?.updatedAt),
    };
  }

  async addProgress(
    replayId: string,
    add: { objects?: number; events?: number },
    set: { objectsTotal?: number; replayedToMs?: number; phase?: string; reset?: boolean } = {},
  ): Promise<void> {
    if (set.reset) {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...progressKey(replayId),
            objectsDone: 0,
            events: 0,
            updatedAt: Date.now(),
            phase: set.phase ?? null,
          },
        }),
      );
      if (!add.objects && !add.events && set.objectsTotal === undefined && set.replayedToMs === undefined)
        return;
    }
    const sets: string[] = ['updatedAt = :now'];
    const values: Record<string, unknown> = { ':now': Date.now() };
    const adds: string[] = [];
    if (add.objects) {
      adds.push('objectsDone :o');
      values[':o'] = add.objects;
    }
    if (add.events) {
      adds.push('events :e');
      values[':e'] = add.events;
    }
    if (set.objectsTotal !== undefined) {
      sets.push('objectsTotal = :t');
      values[':t'] = set.objectsTotal;
    }
    if (set.replayedToMs !== undefined) {
      sets.push('replayedToMs = :r');
      values[':r'] = set.replayedToMs;
    }
    if (set.phase !== undefined && !set.reset) {
      sets.push('phase = :p');
      values[':p'] = set.phase;
    }
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: progressKey(replayId),
        UpdateExpression: `SET ${sets.join(', ')}${adds.length > 0 ? ` ADD ${adds.join(', ')}` : ''}`,
        ExpressionAttributeValues: values,
      }),
    );
  }
}
