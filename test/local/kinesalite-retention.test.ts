import {
  CreateStreamCommand,
  waitUntilStreamExists,
  GetRecordsCommand,
  GetShardIteratorCommand,
  PutRecordsCommand,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeKinesisClient } from '../../lambdas/runtime/clients';
import { startEmulators } from '../../local/emulators';

const HOUR = 3_600_000;
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

async function put(kinesis: KinesisClient, stream: string, n: number, tag: string): Promise<void> {
  for (let i = 0; i < n; i += 500)
    await kinesis.send(
      new PutRecordsCommand({
        StreamName: stream,
        Records: Array.from({ length: Math.min(500, n - i) }, (_, j) => ({
          PartitionKey: `${tag}-${i + j}`,
          Data: Buffer.from(JSON.stringify({ tag, n: i + j })),
        })),
      }),
    );
}

/** Every record of every shard, read from the trim horizon. */
async function readAll(kinesis: KinesisClient, stream: string, shards: number): Promise<string[]> {
  const tags: string[] = [];
  for (let s = 0; s < shards; s++) {
    let iterator = (
      await kinesis.send(
        new GetShardIteratorCommand({
          StreamName: stream,
          ShardId: `shardId-00000000000${s}`,
          ShardIteratorType: 'TRIM_HORIZON',
        }),
      )
    ).ShardIterator;
    for (;;) {
      const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
      for (const r of page.Records ?? [])
        tags.push((JSON.parse(Buffer.from(r.Data!).toString()) as { tag: string }).tag);
      if ((page.Records ?? []).length === 0) break;
      iterator = page.NextShardIterator;
    }
  }
  return tags;
}

describe('the local stream keeps its retention on disk', () => {
  it('deletes records older than the 24-hour retention and keeps every newer one, on every shard', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'streamfold-retention-'));
    dirs.push(dataDir);
    const emulators = await startEmulators({ dataDir, trimStreamEveryMs: 0 });
    const kinesis = makeKinesisClient(emulators.endpoints);
    try {
      await kinesis.send(new CreateStreamCommand({ StreamName: 'trimmed', ShardCount: 2 }));
      // The stream is CREATING until a timer of kinesalite's fires; under load that is after the next
      // request, which then finds no ACTIVE stream (as in Kinesis): wait for ACTIVE.
      await waitUntilStreamExists(
        { client: kinesis, maxWaitTime: 30, minDelay: 0.05 },
        { StreamName: 'trimmed' },
      );
      await put(kinesis, 'trimmed', 12_345, 'old');
      // Within the retention nothing goes.
      expect(await emulators.trimStream(Date.now() + 23 * HOUR)).toBe(0);
      // Sequence numbers carry whole seconds: the new records go in from the next second on.
      const newSince = (Math.floor(Date.now() / 1000) + 1) * 1000;
      await new Promise((r) => setTimeout(r, newSince - Date.now() + 50));
      await put(kinesis, 'trimmed', 300, 'new');
      // 24 hours after the old records were put, before the new ones are that old: only the old go.
      expect(await emulators.trimStream(newSince + 24 * HOUR)).toBe(12_345);
      const left = await readAll(kinesis, 'trimmed', 2);
      expect(left).toHaveLength(300);
      expect(new Set(left)).toEqual(new Set(['new']));
      expect(await emulators.trimStream(newSince + 24 * HOUR)).toBe(0);
    } finally {
      kinesis.destroy();
      await emulators.stop();
    }
  }, 60_000);
});
