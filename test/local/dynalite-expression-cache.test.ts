import {
  CreateTableCommand,
  GetItemCommand,
  QueryCommand,
  UpdateItemCommand,
  type DynamoDBClient,
  type UpdateItemCommandInput,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeDynamoDbClient, makeKinesisClient, makeS3Client } from '../../lambdas/runtime/clients';
import { dynaliteExpressionCacheCounts } from '../../local/dynalite-expression-cache';
import { startEmulators, type Emulators } from '../../local/emulators';
import { ensureResources, resourceNames } from '../../local/resources';

/**
 * dynalite's expression parses are cached by everything but the values (local/dynalite-expression-
 * cache.ts). Through the emulator on this thread, as the runtime runs it: every request must still
 * be judged on its own values, and refused as dynalite refuses it.
 */
describe('dynalite with its expression parses cached', () => {
  let emulators: Emulators;
  let dynamodb: DynamoDBClient;
  const table = resourceNames('expressions').speedTable;
  beforeAll(async () => {
    emulators = await startEmulators({});
    const e = emulators.endpoints;
    dynamodb = makeDynamoDbClient(e);
    await ensureResources(
      { kinesis: makeKinesisClient(e), dynamodb, s3: makeS3Client(e) },
      1,
      resourceNames('expressions'),
    );
  });
  afterAll(async () => {
    await emulators?.stop();
  });

  const key = (pk: string) => ({ pk: { S: pk }, sk: { S: 'row' } });
  const write = (input: Omit<UpdateItemCommandInput, 'TableName'>) =>
    dynamodb.send(new UpdateItemCommand({ TableName: table, ...input })).then(
      () => 'written',
      (error: Error) => `${error.name}: ${error.message}`,
    );
  const read = async (pk: string) =>
    (await dynamodb.send(new GetItemCommand({ TableName: table, Key: key(pk), ConsistentRead: true }))).Item;

  it('applies and checks each request with its own values', async () => {
    const before = dynaliteExpressionCacheCounts();
    const row = (i: number, revision: number, expected: number | undefined) =>
      write({
        Key: key(`row-${i}`),
        UpdateExpression: 'SET m = :m, rev = :rev, d = if_not_exists(d, :d)',
        ConditionExpression: expected === undefined ? 'attribute_not_exists(pk)' : 'rev = :expected',
        ExpressionAttributeValues: {
          ':m': { S: `state ${i} at ${revision}` },
          ':rev': { N: String(revision) },
          ':d': { S: `definition ${i}` },
          ...(expected === undefined ? {} : { ':expected': { N: String(expected) } }),
        },
      });
    for (let i = 0; i < 20; i++) expect(await row(i, 1, undefined)).toBe('written');
    for (let i = 0; i < 20; i++) {
      // Half of them on the revision the row holds, half on another: only the first half writes.
      const outcome = await row(i, 2, i % 2 === 0 ? 1 : 5);
      expect(outcome.startsWith(i % 2 === 0 ? 'written' : 'ConditionalCheckFailedException')).toBe(true);
      // A create of a row that exists fails, whatever the values.
      expect(await row(i, 9, undefined)).toMatch(/^ConditionalCheckFailedException/);
    }
    for (let i = 0; i < 20; i++) {
      const item = await read(`row-${i}`);
      const revision = i % 2 === 0 ? 2 : 1;
      expect(item?.m).toEqual({ S: `state ${i} at ${revision}` });
      expect(item?.rev).toEqual({ N: String(revision) });
      expect(item?.d).toEqual({ S: `definition ${i}` });
    }
    const after = dynaliteExpressionCacheCounts();
    // The cache is installed in this thread and answered most parses (three expressions, 120 parses).
    expect(after.hits - before.hits).toBeGreaterThan(100);
  });

  it('counts a value as used by each expression that uses it, whichever came first', async () => {
    // The same value names and types each time, so the condition is answered from the cache below.
    const both = () =>
      write({
        Key: key('shared'),
        UpdateExpression: 'SET rev = :rev, m = :m',
        ConditionExpression: 'attribute_not_exists(rev) OR rev < :rev',
        ExpressionAttributeValues: { ':rev': { N: '1' }, ':m': { S: 'first' } },
      });
    expect(await both()).toBe('written');
    expect(await both()).toMatch(/^ConditionalCheckFailedException/);
    // The condition, now cached after an update that used :rev first, with an update that does not
    // use :rev: :rev is still used, by the condition.
    expect(
      await write({
        Key: key('shared'),
        UpdateExpression: 'SET m = :m',
        ConditionExpression: 'attribute_not_exists(rev) OR rev < :rev',
        ExpressionAttributeValues: { ':rev': { N: '7' }, ':m': { S: 'x' } },
      }),
    ).toBe('written');
    expect((await read('shared'))?.m).toEqual({ S: 'x' });
  });

  it("keeps the parser's prototype-free maps: a key attribute named constructor stays a key", async () => {
    await dynamodb.send(
      new CreateTableCommand({
        TableName: 'expressions-constructor',
        AttributeDefinitions: [{ AttributeName: 'constructor', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'constructor', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    await waitUntilTableExists(
      { client: dynamodb, maxWaitTime: 30 },
      { TableName: 'expressions-constructor' },
    );
    for (const n of ['1', '2', '3'])
      await dynamodb.send(
        new UpdateItemCommand({
          TableName: 'expressions-constructor',
          Key: { constructor: { S: 'k' } },
          UpdateExpression: 'SET a = :x',
          ExpressionAttributeValues: { ':x': { N: n } },
        }),
      );
    for (let i = 0; i < 2; i++) {
      const out = await dynamodb.send(
        new QueryCommand({
          TableName: 'expressions-constructor',
          KeyConditionExpression: '#k = :k',
          FilterExpression: 'a >= :x',
          ExpressionAttributeNames: { '#k': 'constructor' },
          ExpressionAttributeValues: { ':k': { S: 'k' }, ':x': { N: '2' } },
        }),
      );
      expect(out.Items).toEqual([{ constructor: { S: 'k' }, a: { N: '3' } }]);
    }
  });

  it('still refuses what dynalite refuses, with its own message', async () => {
    const set = (values: Record<string, { S: string }>) =>
      write({ Key: key('refused'), UpdateExpression: 'SET m = :m', ExpressionAttributeValues: values });
    expect(await set({ ':m': { S: 'a' } })).toBe('written');
    expect(await set({ ':m': { S: 'b' } })).toBe('written');
    expect(await set({ ':m': { S: 'c' }, ':extra': { S: 'unused' } })).toMatch(
      /^ValidationException: .*unused in expressions: keys: \{:extra\}/,
    );
    expect(await set({ ':n': { S: 'c' } })).toMatch(
      /^ValidationException: .*attribute value used in expression is not defined; attribute value: :m/,
    );
    expect((await read('refused'))?.m).toEqual({ S: 'b' });
    // BETWEEN compares its bounds' values: never answered from the cache.
    const between = (from: string, to: string) =>
      dynamodb
        .send(
          new QueryCommand({
            TableName: table,
            KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
            ExpressionAttributeValues: { ':pk': { S: 'refused' }, ':from': { S: from }, ':to': { S: to } },
          }),
        )
        .then(
          (out) => `found ${out.Count}`,
          (error: Error) => `${error.name}: ${error.message}`,
        );
    expect(await between('a', 'z')).toBe('found 1');
    expect(await between('a', 'z')).toBe('found 1');
    expect(await between('z', 'a')).toMatch(
      /^ValidationException: .*upper bound to be greater than or equal/,
    );
  });
});
