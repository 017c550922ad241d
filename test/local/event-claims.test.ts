import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbEventClaims } from '../../lambdas/adapters/aws/dynamodb-event-claims';
import {
  makeDynamoDbClient,
  makeDynamoDocumentClient,
  makeKinesisClient,
  makeS3Client,
} from '../../lambdas/runtime/clients';
import { startEmulators, type Emulators } from '../../local/emulators';
import { ensureResources, resourceNames } from '../../local/resources';

/** The claims adapter against dynalite, over HTTP with the SDK client the speed handler uses. */
let emulators: Emulators;
let claims: DynamoDbEventClaims;
/** The names of the commands `claims` sent, in order. */
const sent: string[] = [];

beforeAll(async () => {
  emulators = await startEmulators({});
  const names = resourceNames();
  const e = emulators.endpoints;
  await ensureResources(
    { kinesis: makeKinesisClient(e), dynamodb: makeDynamoDbClient(e), s3: makeS3Client(e) },
    1,
    names,
  );
  const doc = makeDynamoDocumentClient(e);
  const counting = {
    send: (command: Parameters<DynamoDBDocumentClient['send']>[0]) => {
      sent.push(command.constructor.name);
      return doc.send(command);
    },
  };
  // Only `send` is used by the adapter; the cast spares a full client double.
  claims = new DynamoDbEventClaims(counting as unknown as DynamoDBDocumentClient, names.dedupeTable, 3600, {
    now: () => 0,
  });
}, 30_000);

afterAll(async () => {
  await emulators?.stop();
});

describe('DynamoDbEventClaims', () => {
  it('tells the owner, and a duplicate where the kept copy sat and when it arrived', async () => {
    expect(await claims.claim('e1', 'shard-1/0005', 2_000)).toEqual({ owned: true });
    expect(await claims.claim('e1', 'shard-1/0005', 2_000)).toEqual({ owned: true }); // redelivery
    sent.length = 0;
    expect(await claims.claim('e1', 'shard-0/0003', 1_000)).toEqual({
      owned: false,
      kept: { owner: 'shard-1/0005', arrivedMs: 2_000 },
    });
    // dynalite returns no item with the failed condition: the adapter reads the claim once.
    expect(sent).toEqual(['PutCommand', 'GetCommand']);
  });

  it('takes the kept claim from the failed condition when DynamoDB returns it, without a second read', async () => {
    const requests: { name: string; input: Record<string, unknown> }[] = [];
    // DynamoDB's answer to the conditional put with ReturnValuesOnConditionCheckFailure: the item
    // that won, in AttributeValue form (the document client does not translate error items).
    const dynamodb = {
      send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
        requests.push({ name: command.constructor.name, input: command.input });
        throw new ConditionalCheckFailedException({
          message: 'The conditional request failed',
          $metadata: { httpStatusCode: 400 },
          Item: {
            pk: { S: 'e9' },
            sk: { S: 'claim' },
            owner: { S: 'shard-1/0007' },
            arrivedMs: { N: '7000' },
          },
        });
      },
    };
    const cloud = new DynamoDbEventClaims(dynamodb as unknown as DynamoDBDocumentClient, 'claims', 3600, {
      now: () => 0,
    });
    expect(await cloud.claim('e9', 'shard-0/0002', 1_000)).toEqual({
      owned: false,
      kept: { owner: 'shard-1/0007', arrivedMs: 7_000 },
    });
    expect(requests.map((r) => r.name)).toEqual(['PutCommand']);
    expect(requests[0].input).toMatchObject({ ReturnValuesOnConditionCheckFailure: 'ALL_OLD' });
  });

  it('counts an earlier copy once, however often it is noted', async () => {
    const before = await claims.earlierCopiesNoted();
    await claims.noteEarlierCopy('e1', 'shard-0/0003');
    await claims.noteEarlierCopy('e1', 'shard-0/0003');
    await claims.noteEarlierCopy('e1', 'shard-2/0001');
    expect(await claims.earlierCopiesNoted()).toBe(before + 2);
  });
});
