import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeDynamoDbClient, makeKinesisClient, makeS3Client } from '../../lambdas/runtime/clients';
import { startEmulators, type Emulators } from '../../local/emulators';
import { ensureResources, resourceNames } from '../../local/resources';

let emulators: Emulators;
beforeAll(async () => {
  emulators = await startEmulators();
});
afterAll(() => emulators.stop());

describe('ensureResources', () => {
  it('answers the open shards of the stream, which an existing stream keeps (the runtime then says --shards is not applied)', async () => {
    const e = emulators.endpoints;
    const clients = { kinesis: makeKinesisClient(e), dynamodb: makeDynamoDbClient(e), s3: makeS3Client(e) };
    const names = resourceNames('resources-shards');
    expect(await ensureResources(clients, 2, names)).toEqual({ openShards: 2 });
    expect(await ensureResources(clients, 4, names)).toEqual({ openShards: 2 });
  });
});
