import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  GetCommand,
  PutCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { realSleep } from './dynamodb-batch-writes';
import { isConditionalCheckFailed } from './dynamodb-errors';
import type { Clock } from '../../ports/clock';
import type { ReplayCopyClaims } from '../../ports/kappa';
import type { ClaimOutcome, EventClaims } from '../../ports/stores';

interface StoredClaim {
  readonly owner: string | undefined;
  readonly arrivedMs: number | undefined;
}

/**
 * The claim a ConditionalCheckFailedException carries (ReturnValuesOnConditionCheckFailure), or
 * undefined when it carries none. The document client does not translate an error's item, so it
 * is still in AttributeValue form (`{ owner: { S } , arrivedMs: { N } }`).
 */
function claimOf(error: unknown): StoredClaim | undefined {
  const item = (error as { Item?: Record<string, AttributeValue> }).Item;
  if (item === undefined) return undefined;
  const arrivedMs = item.arrivedMs?.N === undefined ? undefined : Number(item.arrivedMs.N);
  return { owner: item.owner?.S, arrivedMs: Number.isFinite(arrivedMs) ? arrivedMs : undefined };
}

// Counters live beside the claims (sort key `stats` never meets a claim's sort key, see claimSort).
const STATS = { pk: '#stats', sk: 'stats' };

/**
 * A claim's sort key: `claim` for the live stream's, `claim#<scope>` for a replay's. The scope
 * lives in the sort key because the partition key is the event id, and an event id is any string:
 * replays used to claim pk `<replayId>#<id>`, the very item the live processor claims for an
 * event whose id is `replay-2#abc` (ids `replay-<n>` are predictable), so that live event took
 * replay 2's claim of `abc` (the replay dropped `abc` as a duplicate), or the other way round.
 * Sort keys starting with `claim` never meet `stats` (above) nor the speed layer's id log
 * positions (`n` and 16 digits, DynamoDbShardIdLog) in this table. Live claims kept their key;
 * replay claims of the old layout are read by nothing and expire by TTL (a replay running across
 * the upgrade could count an id that two of its chunks claimed on either side of it: replay again).
 */
function claimSort(scope: string | undefined): string {
  return scope === undefined ? 'claim' : `claim#${scope}`;
}

/**
 * A replay's earliest-copy claim (ADR 024): `copy#<replayId>`, apart from the first-wins claims of
 * `claim#<replayId>` that replays wrote before it (a replay running across the upgrade keeps its
 * own kind), and like them never meeting `stats` or the id log positions.
 */
function copySort(scope: string): string {
  return `copy#${scope}`;
}

/**
 * BatchGetItem reads at most 100 keys a call, and returns in UnprocessedKeys what it did not read
 * (throttling, the 16 MB answer limit), to be asked again with backoff:
 * https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html
 */
const MAX_KEYS_PER_GET = 100;
const MAX_GET_ATTEMPTS = 10;
/** BatchGetItem calls in flight at once (as BATCH_WRITE_CONCURRENCY bounds the writes). */
const GETS_IN_FLIGHT = 8;

/**
 * Event-id claims: one conditional PutItem per event (the documented cost of speed-layer dedupe).
 * The claim records which stream record owns the id, so a redelivery of the owner is not taken
 * for a duplicate (its effect is then fenced by the row instead).
 */
export class DynamoDbEventClaims implements EventClaims, ReplayCopyClaims {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly ttlSeconds: number,
    private readonly clock: Clock,
  ) {}

  async claim(eventId: string, owner: string, arrivedMs: number, scope?: string): Promise<ClaimOutcome> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            pk: eventId,
            sk: claimSort(scope),
            owner,
            arrivedMs,
            expiresAt: Math.floor(this.clock.now() / 1000) + this.ttlSeconds,
          },
          ConditionExpression: 'attribute_not_exists(pk) OR #owner = :owner',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':owner': owner },
          // The failed condition answers with the claim that won: no second read for a duplicate.
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { owned: true };
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw error;
      const claim = claimOf(error) ?? (await this.readClaim(eventId, scope));
      if (claim?.owner === owner) return { owned: true };
      return { owned: false, kept: { owner: String(claim?.owner), arrivedMs: claim?.arrivedMs } };
    }
  }

  /**
   * The claim as stored, read strongly consistent. Only for a failed condition that came back
   * without the item: dynalite (the local emulator) accepts ReturnValuesOnConditionCheckFailure
   * but ignores it, while DynamoDB returns the item and saves this read.
   */
  private async readClaim(eventId: string, scope: string | undefined): Promise<StoredClaim | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: eventId, sk: claimSort(scope) },
        ConsistentRead: true,
      }),
    );
    if (Item === undefined) return undefined;
    return {
      owner: Item.owner === undefined ? undefined : String(Item.owner),
      arrivedMs: typeof Item.arrivedMs === 'number' ? Item.arrivedMs : undefined,
    };
  }

  /**
   * Puts `copy` as the id's replay claim under `condition` (on `#copy` and `:copy`); false when
   * the condition failed, with the claim as DynamoDB returned it, if it did.
   */
  private async putCopy(
    eventId: string,
    copy: string,
    scope: string,
    condition: string,
  ): Promise<{ put: true } | { put: false; held: string | undefined }> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { pk: eventId, sk: copySort(scope), copy, expiresAt: this.expiresAt() },
          ConditionExpression: condition,
          ExpressionAttributeNames: { '#copy': 'copy' },
          ExpressionAttributeValues: { ':copy': copy },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { put: true };
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw error;
      return { put: false, held: (error as { Item?: Record<string, AttributeValue> }).Item?.copy?.S };
    }
  }

  async offerCopy(eventId: string, copy: string, scope: string): Promise<void> {
    // Strictly greater: offering the kept copy again (a child run twice) writes nothing. A refusal
    // means the claim holds this copy or an earlier one: nothing to do.
    await this.putCopy(eventId, copy, scope, 'attribute_not_exists(pk) OR #copy > :copy');
  }

  async keptCopies(eventIds: readonly string[], scope: string): Promise<Map<string, string>> {
    const kept = new Map<string, string>();
    // BatchGetItem refuses a list that names one key twice.
    const ids = [...new Set(eventIds)];
    const slices: string[][] = [];
    for (let i = 0; i < ids.length; i += MAX_KEYS_PER_GET) slices.push(ids.slice(i, i + MAX_KEYS_PER_GET));
    // A Firehose object of 64 MiB holds hundreds of thousands of ids: a few calls in flight at once.
    let next = 0;
    const worker = async () => {
      while (next < slices.length) await this.readCopies(slices[next++], scope, kept);
    };
    await Promise.all(Array.from({ length: Math.min(GETS_IN_FLIGHT, slices.length) }, worker));
    return kept;
  }

  private async readCopies(ids: readonly string[], scope: string, into: Map<string, string>): Promise<void> {
    let keys: Record<string, unknown>[] = ids.map((pk) => ({ pk, sk: copySort(scope) }));
    for (let attempt = 0; keys.length > 0; attempt++) {
      if (attempt >= MAX_GET_ATTEMPTS)
        throw new Error(
          `BatchGetItem on ${this.tableName} left ${keys.length} replay claims unread after ${MAX_GET_ATTEMPTS} attempts (throttled): the child is retried`,
        );
      if (attempt > 0) await realSleep(Math.min(5000, 50 * 2 ** attempt));
      const result = await this.client.send(
        new BatchGetCommand({
          RequestItems: {
            [this.tableName]: {
              Keys: keys,
              // The first pass's writes all finished before this pass started: read them all.
              ConsistentRead: true,
              ProjectionExpression: 'pk, #copy',
              ExpressionAttributeNames: { '#copy': 'copy' },
            },
          },
        }),
      );
      for (const item of result.Responses?.[this.tableName] ?? [])
        if (typeof item.copy === 'string') into.set(String(item.pk), item.copy);
      keys = result.UnprocessedKeys?.[this.tableName]?.Keys ?? [];
    }
  }

  async claimCopyIfNone(eventId: string, copy: string, scope: string): Promise<string> {
    const outcome = await this.putCopy(eventId, copy, scope, 'attribute_not_exists(pk) OR #copy = :copy');
    if (outcome.put) return copy;
    if (outcome.held !== undefined) return outcome.held;
    // dynalite ignores ReturnValuesOnConditionCheckFailure (see readClaim).
    const { Item } = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: eventId, sk: copySort(scope) },
        ConsistentRead: true,
      }),
    );
    if (typeof Item?.copy !== 'string')
      throw new Error(
        `the replay claim of ${eventId} refused ${copy} but holds no copy: run the child again`,
      );
    return Item.copy;
  }

  private expiresAt(): number {
    return Math.floor(this.clock.now() / 1000) + this.ttlSeconds;
  }

  async noteEarlierCopy(eventId: string, owner: string): Promise<void> {
    // The copy is added to the claim's set only once (conditional), and only then counted, so a
    // redelivered batch does not count it again.
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: eventId, sk: claimSort(undefined) },
          UpdateExpression: 'ADD earlierCopies :copy',
          ConditionExpression: 'attribute_exists(pk) AND NOT contains(earlierCopies, :owner)',
          ExpressionAttributeValues: { ':copy': new Set([owner]), ':owner': owner },
        }),
      );
    } catch (error) {
      if (isConditionalCheckFailed(error)) return;
      throw error;
    }
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: STATS,
        UpdateExpression: 'ADD earlierCopies :one',
        ExpressionAttributeValues: { ':one': 1 },
      }),
    );
  }

  async earlierCopiesNoted(): Promise<number> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: STATS, ConsistentRead: true }),
    );
    return Number(Item?.earlierCopies ?? 0);
  }
}
