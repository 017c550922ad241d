import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { isConditionalCheckFailed } from './dynamodb-errors';
import type { Clock } from '../../ports/clock';
import type { EventClaims } from '../../ports/stores';

/**
 * Event-id claims: one conditional PutItem per event (the documented cost of speed-layer dedupe).
 * The claim records which stream record owns the id, so a redelivery of the owner is not taken
 * for a duplicate (its effect is then fenced by the row instead).
 */
export class DynamoDbEventClaims implements EventClaims {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly ttlSeconds: number,
    private readonly clock: Clock,
  ) {}

  async claim(eventId: string, owner: string): Promise<boolean> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            pk: eventId,
            sk: 'claim',
            owner,
            expiresAt: Math.floor(this.clock.now() / 1000) + this.ttlSeconds,
          },
          ConditionExpression: 'attribute_not_exists(pk) OR #owner = :owner',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':owner': owner },
        }),
      );
      return true;
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw error;
      const { Item } = await this.client.send(
        new GetCommand({
          TableName: this.tableName,
          Key: { pk: eventId, sk: 'claim' },
          ConsistentRead: true,
        }),
      );
      return Item?.owner === owner;
    }
  }
}
