import { PutCommand, QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  makeDynamoDbClient,
  makeDynamoDocumentClient,
  makeKinesisClient,
  makeS3Client,
} from '../../lambdas/runtime/clients';
import { EMULATOR_THREADS, startEmulators, type Emulators } from '../../local/emulators';
import { ensureResources, resourceNames } from '../../local/resources';

/**
 * dynalite reads each Query and Scan through a LevelDB iterator; before the fix none of them was
 * ever closed, and a long-running runtime's memory and data dir grew with every request. Checked
 * on disk (classic-level, what `npm start` uses), in the thread dynalite runs in, where the fix
 * must be applied (each thread loads its own copy of the modules).
 */
describe.each([
  ['on the main thread', EMULATOR_THREADS.none],
  ['in a worker thread', EMULATOR_THREADS.each],
])('dynalite closes the LevelDB iterator of every Query and Scan, %s', (_where, workers) => {
  let emulators: Emulators;
  const dir = mkdtempSync(path.join(tmpdir(), 'streamfold-iterators-'));
  beforeAll(async () => {
    emulators = await startEmulators({ dataDir: dir, workers });
  });
  afterAll(async () => {
    await emulators?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('leaves no iterator open after 150 queries and scans, whole or cut short by Limit', async () => {
    const e = emulators.endpoints;
    const names = resourceNames('iterators');
    await ensureResources(
      { kinesis: makeKinesisClient(e), dynamodb: makeDynamoDbClient(e), s3: makeS3Client(e) },
      1,
      names,
    );
    const doc = makeDynamoDocumentClient(emulators.endpoints);
    for (let i = 0; i < 20; i++)
      await doc.send(
        new PutCommand({ TableName: names.speedTable, Item: { pk: `k${i % 4}`, sk: String(i), n: i } }),
      );
    const before = await emulators.openLevelIterators();
    for (let i = 0; i < 50; i++) {
      const q = await doc.send(
        new QueryCommand({
          TableName: names.speedTable,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': `k${i % 4}` },
        }),
      );
      expect(q.Items).toHaveLength(5);
      await doc.send(new ScanCommand({ TableName: names.speedTable, Select: 'COUNT' }));
      // A page cut short: the stream is destroyed before the iterator reaches its end.
      await doc.send(new ScanCommand({ TableName: names.speedTable, Limit: 3 }));
    }
    const deadline = Date.now() + 5000;
    while ((await emulators.openLevelIterators()) > before && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    expect((await emulators.openLevelIterators()) - before).toBe(0);
  });
});
