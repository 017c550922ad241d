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

beforeAll(async () => {
  emulators = await startEmulators({});
  const names = resourceNames();
  const e = emulators.endpoints;
  await ensureResources(
    { kinesis: makeKinesisClient(e), dynamodb: makeDynamoDbClient(e), s3: makeS3Client(e) },
    1,
    names,
  );
  claims = new DynamoDbEventClaims(makeDynamoDocumentClient(e), names.dedupeTable, 3600, { now: () => 0 });
}, 30_000);

afterAll(async () => {
  await emulators?.stop();
});

describe('DynamoDbEventClaims', () => {
  it('tells the owner, and a duplicate where the kept copy sat and when it arrived', async () => {
    expect(await claims.claim('e1', 'shard-1/0005', 2_000)).toEqual({ owned: true });
    expect(await claims.claim('e1', 'shard-1/0005', 2_000)).toEqual({ owned: true }); // redelivery
    expect(await claims.claim('e1', 'shard-0/0003', 1_000)).toEqual({
      owned: false,
      kept: { owner: 'shard-1/0005', arrivedMs: 2_000 },
    });
  });

  it('counts an earlier copy once, however often it is noted', async () => {
    const before = await claims.earlierCopiesNoted();
    await claims.noteEarlierCopy('e1', 'shard-0/0003');
    await claims.noteEarlierCopy('e1', 'shard-0/0003');
    await claims.noteEarlierCopy('e1', 'shard-2/0001');
    expect(await claims.earlierCopiesNoted()).toBe(before + 2);
  });
});
