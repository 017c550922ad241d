import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { incrementCounter } from './dynamodb-counter';
import { isConditionalCheckFailed } from './dynamodb-errors';
import type { PublishedLineage } from '../../core/batch-lineage';
import type { ControlStore, ServingPointer } from '../../ports/stores';

function parseLineage(value: unknown): PublishedLineage | undefined {
  return typeof value === 'string' ? (JSON.parse(value) as PublishedLineage) : undefined;
}

const POINTER = { pk: 'serving', sk: 'pointer' };
const COUNTER = { pk: 'serving', sk: 'version-counter' };

/** The serving pointer: one item, replaced by one conditional PutItem (the atomic flip). */
export class DynamoDbControlStore implements ControlStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async readPointer(): Promise<ServingPointer | null> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: POINTER, ConsistentRead: true }),
    );
    if (!Item) return null;
    const lineage = parseLineage(Item.lineage);
    const previousLineage = parseLineage(Item.previousLineage);
    return {
      version: Number(Item.version),
      cutoffMs: Number(Item.cutoffMs),
      publishedAt: String(Item.publishedAt),
      ...(lineage ? { lineage } : {}),
      previous:
        Item.previousVersion === undefined || Item.previousVersion === null
          ? null
          : {
              version: Number(Item.previousVersion),
              cutoffMs: Number(Item.previousCutoffMs),
              ...(previousLineage ? { lineage: previousLineage } : {}),
            },
    };
  }

  async publish(next: ServingPointer, expectedVersion: number | null): Promise<boolean> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...POINTER,
            version: next.version,
            cutoffMs: next.cutoffMs,
            publishedAt: next.publishedAt,
            previousVersion: next.previous?.version ?? null,
            previousCutoffMs: next.previous?.cutoffMs ?? null,
            // JSON text: one attribute each, read and written whole with the pointer.
            lineage: next.lineage ? JSON.stringify(next.lineage) : null,
            previousLineage: next.previous?.lineage ? JSON.stringify(next.previous.lineage) : null,
          },
          ConditionExpression: expectedVersion === null ? 'attribute_not_exists(pk)' : 'version = :v',
          ExpressionAttributeValues: expectedVersion === null ? undefined : { ':v': expectedVersion },
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
}
