import { GetItemCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { incrementCounter } from './dynamodb-counter';
import { isConditionalCheckFailed } from './dynamodb-errors';
import type { PublishedLineage } from '../../core/batch-lineage';
import type { ControlStore, ServingPointer } from '../../ports/stores';

function parseLineage(value: AttributeValue | undefined): PublishedLineage | undefined {
  return value?.S === undefined ? undefined : (JSON.parse(value.S) as PublishedLineage);
}

const POINTER = { pk: 'serving', sk: 'pointer' };
const COUNTER = { pk: 'serving', sk: 'version-counter' };

/** The serving pointer: one item, replaced by one conditional PutItem (the atomic flip). */
export class DynamoDbControlStore implements ControlStore {
  private readonly items: Pick<DynamoDBClient, 'send'>;

  /**
   * @param items a plain client for the pointer's read, which every query sends: one made by
   *   `makeDynamoDbItemClient` resolves its middleware once. @default the document client, which
   *   sends the same item command
   */
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    items?: Pick<DynamoDBClient, 'send'>,
  ) {
    this.items = items ?? (client as unknown as Pick<DynamoDBClient, 'send'>);
  }

  async readPointer(): Promise<ServingPointer | null> {
    const { Item } = await this.items.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: { pk: { S: POINTER.pk }, sk: { S: POINTER.sk } },
        ConsistentRead: true,
      }),
    );
    if (!Item) return null;
    const version = Item.version?.N;
    const cutoffMs = Item.cutoffMs?.N;
    const publishedAt = Item.publishedAt?.S;
    if (version === undefined || cutoffMs === undefined || publishedAt === undefined)
      throw new Error(
        `the serving pointer in ${this.tableName} lacks its version, cutoffMs or publishedAt: was the table written by something other than streamfold?`,
      );
    const lineage = parseLineage(Item.lineage);
    const previousLineage = parseLineage(Item.previousLineage);
    // The first publish writes previousVersion as NULL.
    const previousVersion = Item.previousVersion?.N;
    return {
      version: Number(version),
      cutoffMs: Number(cutoffMs),
      publishedAt,
      ...(lineage ? { lineage } : {}),
      previous:
        previousVersion === undefined
          ? null
          : {
              version: Number(previousVersion),
              cutoffMs: Number(Item.previousCutoffMs?.N),
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
