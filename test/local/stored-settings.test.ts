import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  makeDynamoDbClient,
  makeDynamoDocumentClient,
  makeKinesisClient,
  makeS3Client,
} from '../../lambdas/runtime/clients';
import { startEmulators, type Emulators } from '../../local/emulators';
import { ensureResources, resourceNames } from '../../local/resources';
import { checkStoredSettings, StartRefusedError } from '../../local/stored-settings';

let emulators: Emulators;
beforeAll(async () => {
  emulators = await startEmulators();
});
afterAll(() => emulators.stop());

const clients = () => {
  const e = emulators.endpoints;
  return { kinesis: makeKinesisClient(e), dynamodb: makeDynamoDbClient(e), s3: makeS3Client(e) };
};

async function controlTable(prefix: string) {
  const names = resourceNames(prefix);
  await ensureResources(clients(), 1, names);
  return { client: makeDynamoDocumentClient(emulators.endpoints), table: names.controlTable };
}

describe('the settings kept beside the data (dynalite)', () => {
  it('tells the user when the dedupe scope changed on existing data, once, and says what that costs', async () => {
    const { client, table } = await controlTable('settings-scope');
    expect(await checkStoredSettings(client, table, 60_000, 'dir', 'shard')).toEqual({ notices: [] });
    expect(await checkStoredSettings(client, table, 60_000, 'dir', 'shard')).toEqual({ notices: [] });
    const switched = await checkStoredSettings(client, table, 60_000, 'dir', 'global');
    expect(switched.notices).toHaveLength(1);
    expect(switched.notices[0]).toMatch(
      /dedupe scope changed from shard to global: .* counted again in the speed part, until the next batch run's cutoff passes it .* Restart with --dedupe-scope shard to avoid it/,
    );
    // Recorded: the next start with the same scope has nothing to say, a switch back does.
    expect(await checkStoredSettings(client, table, 60_000, 'dir', 'global')).toEqual({ notices: [] });
    // Off has no window to wait out and no scope flag that turns it back on.
    const off = (await checkStoredSettings(client, table, 60_000, 'dir', 'off')).notices[0];
    expect(off).toMatch(
      /dedupe is off \(--no-speed-dedupe; it was global\): from now on every producer retry/,
    );
    expect(off).toMatch(
      /Restart without --no-speed-dedupe \(with --dedupe-scope global\) to turn it back on/,
    );
    expect(off).not.toMatch(/next dedupe window/);
    // From off back to a scope: restarting without --no-speed-dedupe is what undoes it.
    expect((await checkStoredSettings(client, table, 60_000, 'dir', 'shard')).notices[0]).toMatch(
      /from off to shard: .* Restart without --no-speed-dedupe to avoid it/,
    );
    // The arrival bucket is still checked first, and still refuses.
    await expect(checkStoredSettings(client, table, 120_000, 'dir', 'off')).rejects.toThrow(
      StartRefusedError,
    );
  });

  it('says nothing about the scope of data kept before the scope was (it cannot know it)', async () => {
    const { client, table } = await controlTable('settings-old');
    await checkStoredSettings(client, table, 60_000, 'dir');
    expect(await checkStoredSettings(client, table, 60_000, 'dir', 'global')).toEqual({ notices: [] });
    expect((await checkStoredSettings(client, table, 60_000, 'dir', 'shard')).notices).toHaveLength(1);
  });
});

describe('the stream of existing data', () => {
  it('answers the open shards of the stream, which an existing stream keeps (the runtime then says --shards is not applied)', async () => {
    const names = resourceNames('resources-shards');
    expect(await ensureResources(clients(), 2, names)).toEqual({ openShards: 2 });
    expect(await ensureResources(clients(), 4, names)).toEqual({ openShards: 2 });
  });
});
