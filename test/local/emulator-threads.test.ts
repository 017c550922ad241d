import { CreateTableCommand, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { makeDynamoDbClient } from '../../lambdas/runtime/clients';
import { EMULATOR_THREADS, startEmulators, type Emulators } from '../../local/emulators';
import { memoryBreakdown } from '../../local/pipeline-status';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/**
 * Asks each endpoint over and over from a thread of its own (any HTTP answer counts, an error
 * answer too) while this thread is blocked, and resolves to the answers per endpoint that arrived
 * while it was blocked. An emulator on this thread cannot answer then: its count is 0.
 */
async function answersWhileBlocked(urls: readonly string[], blockMs: number): Promise<number[]> {
  const shared = new Int32Array(new SharedArrayBuffer(4));
  const client = new Worker(
    `
    const { parentPort, workerData } = require('node:worker_threads');
    const times = workerData.urls.map(() => []);
    let going = true;
    parentPort.on('message', () => { going = false; parentPort.postMessage(times); parentPort.close(); });
    workerData.urls.forEach(async (url, i) => {
      while (going) {
        try { await (await fetch(url, { method: 'POST', body: '{}' })).arrayBuffer(); times[i].push(Date.now()); }
        catch { await new Promise((r) => setTimeout(r, 10)); }
      }
    });
    parentPort.postMessage('asking');`,
    { eval: true, workerData: { urls } },
  );
  await new Promise((resolve) => client.once('message', resolve));
  await new Promise((r) => setTimeout(r, 200));
  const from = Date.now();
  // Blocks this thread's event loop, as a busy main thread does.
  Atomics.wait(shared, 0, 0, blockMs);
  const to = Date.now();
  const times = await new Promise<number[][]>((resolve) => {
    client.once('message', resolve);
    client.postMessage('stop');
  });
  await client.terminate();
  // The client stamps an answer once it has read it: one sent just before the block began can be
  // stamped well into it when the machine is busy. Nothing can be sent during the block by an
  // emulator on this thread, so only its start needs a margin.
  return times.map((list) => list.filter((t) => t > from + 500 && t < to).length);
}

describe('the emulators in worker threads', () => {
  it('answer while the main thread is blocked, each in its own worker when asked', async () => {
    const emulators = await startEmulators({ workers: EMULATOR_THREADS.each });
    try {
      expect(emulators.threads.map((t) => t.name)).toEqual(['kinesalite', 'dynalite', 's3rver']);
      const { kinesis, dynamodb, s3 } = emulators.endpoints;
      const answers = await answersWhileBlocked([kinesis!, dynamodb!, s3!], 2_000);
      for (const count of answers) expect(count).toBeGreaterThan(0);
    } finally {
      await emulators.stop();
    }
  });

  it('run on the calling thread by default (and then cannot answer while it is blocked)', async () => {
    const emulators = await startEmulators();
    try {
      expect(emulators.threads).toEqual([]);
      const { kinesis, dynamodb, s3 } = emulators.endpoints;
      expect(await answersWhileBlocked([kinesis!, dynamodb!, s3!], 2_000)).toEqual([0, 0, 0]);
    } finally {
      await emulators.stop();
    }
  });

  it('share one worker when grouped, and keep a table across a restart on the same data dir in another placement', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'streamfold-threads-'));
    dirs.push(dataDir);
    let emulators: Emulators = await startEmulators({ dataDir, workers: EMULATOR_THREADS.shared });
    try {
      expect(emulators.threads.map((t) => t.name)).toEqual(['kinesalite+dynalite+s3rver']);
      await makeDynamoDbClient(emulators.endpoints).send(
        new CreateTableCommand({
          TableName: 'kept',
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
          KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        }),
      );
      await emulators.stop();
      // The worker's databases must be closed (LevelDB's lock is per process, and kinesalite's
      // leveldown does not close on a thread's exit) for this thread to open kinesis/ again.
      emulators = await startEmulators({ dataDir, workers: [['dynamodb']] });
      expect(emulators.threads.map((t) => t.name)).toEqual(['dynalite']);
      const tables = await makeDynamoDbClient(emulators.endpoints).send(new ListTablesCommand({}));
      expect(tables.TableNames).toEqual(['kept']);
    } finally {
      await emulators.stop();
    }
  });

  it('reports each worker heap, and answers nothing once stopped', async () => {
    const emulators = await startEmulators({ workers: EMULATOR_THREADS.each });
    try {
      for (const thread of emulators.threads) {
        const usage = await thread.memoryUsage();
        expect(usage.heapUsed).toBeGreaterThan(0);
        expect(thread.lastMemory).toEqual(usage);
      }
      // What GET /admin/status gives as memoryMb (the pipeline passes these threads beside its handlers).
      const breakdown = await memoryBreakdown(emulators.threads, 5_000);
      expect(Object.keys(breakdown.workers)).toEqual(['kinesalite', 'dynalite', 's3rver']);
    } finally {
      await emulators.stop();
    }
    for (const thread of emulators.threads) await expect(thread.memoryUsage()).rejects.toThrow(/are stopped/);
  });

  it('restarts in the threads of the last stop: no worker loads its emulator again', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'streamfold-threads-'));
    dirs.push(dataDir);
    const first = await startEmulators({ dataDir, workers: EMULATOR_THREADS.each });
    const threadIds = first.threads.map((t) => t.threadId);
    await first.stop();
    const second = await startEmulators({ dataDir, workers: EMULATOR_THREADS.each });
    try {
      expect(second.threads.map((t) => t.threadId)).toEqual(threadIds);
      // And they serve the data dir again (the stop closed its databases, the start reopened them).
      expect((await makeDynamoDbClient(second.endpoints).send(new ListTablesCommand({}))).TableNames).toEqual(
        [],
      );
    } finally {
      await second.stop();
    }
  });

  it('fails if an emulator is placed twice or is unknown, naming it', async () => {
    await expect(startEmulators({ workers: [['dynamodb'], ['dynamodb']] })).rejects.toThrow(
      /"dynamodb" is in two worker groups/,
    );
    await expect(startEmulators({ workers: [['sqs' as 'dynamodb']] })).rejects.toThrow(
      /unknown emulator "sqs".*kinesis, dynamodb, s3/,
    );
  });
});
