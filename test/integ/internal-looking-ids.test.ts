import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { validateViews } from '../../lambdas/core/view';
import type { LocalPipeline } from '../../local/pipeline';
import { ITEM_LIKE_IDS } from '../fixtures/hostile-input';
import { postJson } from './orders-workload';
import { testPipeline } from './test-pipeline';
import { waitFor, waitForArchivedBefore } from './wait';

/**
 * Event ids are any string, and the dedupe table keys claims by the bare id beside the pipeline's
 * own items (the speed layer's id logs `#idlog#<shard>`, the `#stats` counter; replays' claims).
 * The claim of the id `#idlog#shardId-000000000000` once sat in the partition of shard 0's id log,
 * and the speed layer's cold read of it (after a restart) threw on every batch: a stuck shard
 * (fixed in 21111ce). Here every such id is sent, resent as producer retries before and after a
 * restart on the same data dir (the cold read), and each is served exactly once by every layer:
 * speed, batch, the Kappa processor and a replay.
 */
const VIEWS = validateViews([
  {
    name: 'clicks',
    eventType: 'click',
    key: ['page'],
    granularity: '1d',
    measures: { n: { kind: 'count' } },
  },
]);
const ARRIVAL_BUCKET_MS = 1000;
const QUERY = 'clicks?page=%2Fids&from=2026-11-24T00:00:00Z&to=2026-11-25T00:00:00Z';
const EVENTS = ITEM_LIKE_IDS.map((id, i) => ({
  id,
  type: 'click',
  time: `2026-11-24T10:${String(i).padStart(2, '0')}:00Z`,
  page: '/ids',
}));
const dataDir = mkdtempSync(path.join(tmpdir(), 'streamfold-item-ids-'));
let pipeline: LocalPipeline | undefined;
afterAll(async () => {
  await pipeline?.stop();
  rmSync(dataDir, { recursive: true, force: true });
}, 120_000);

async function start(): Promise<LocalPipeline> {
  pipeline = testPipeline(VIEWS, { dataDir, architecture: 'both', arrivalBucketMs: ARRIVAL_BUCKET_MS });
  await pipeline.start();
  return pipeline;
}

/** The count served at `prefix` (`` for Lambda, `/kappa` for Kappa), with the answer for messages. */
async function served(p: LocalPipeline, prefix: string): Promise<{ n: number; answer: string }> {
  const res = await fetch(`${p.url}${prefix}/views/${QUERY}`);
  const text = await res.text();
  if (res.status !== 200) return { n: -1, answer: `${res.status} ${text}` };
  const body = JSON.parse(text) as { buckets: { measures: { n: number } }[] };
  return { n: body.buckets.reduce((sum, b) => sum + b.measures.n, 0), answer: text };
}

async function expectServedOnce(p: LocalPipeline, what: string, events: number): Promise<void> {
  expect(await p.deadLetterQueue.depth(), `${what}: dead-lettered speed batches`).toBe(0);
  for (const prefix of ['', '/kappa']) {
    let last = '';
    await waitFor(
      async () => {
        const { n, answer } = await served(p, prefix);
        last = answer;
        return n === events;
      },
      `${what}: ${events} events at ${prefix || '/'}views`,
      60_000,
      async () => last,
    );
  }
}

describe('event ids spelled like the pipeline’s own items', () => {
  it('are each served once by speed, batch, the Kappa processor and a replay, across a restart', async () => {
    let p = await start();
    await waitFor(
      async () =>
        (
          (await (await fetch(`${p.url}/kappa/health`)).json()) as {
            versions?: Record<string, number | null>;
          }
        ).versions?.clicks === 1,
      'Kappa version 1 (the replay of the empty archive at start)',
    );
    expect((await postJson(p.url, '/events', { events: EVENTS })).status).toBe(202);
    expect((await postJson(p.url, '/events', { events: EVENTS })).status).toBe(202); // producer retries
    await p.idle(60_000);
    await expectServedOnce(p, 'before the restart', EVENTS.length);

    await p.stop();
    pipeline = undefined;
    p = await start();
    // After the restart the speed layer reads each shard's id log cold, past the claims of the
    // ids above: the retries are dropped, the new events counted, no batch dead-lettered.
    const after = EVENTS.map((e) => ({ ...e, id: `${e.id}#after-restart` }));
    expect((await postJson(p.url, '/events', { events: [...EVENTS, ...after] })).status).toBe(202);
    await p.idle(60_000);
    await expectServedOnce(p, 'retries and new events after the restart', 2 * EVENTS.length);

    await waitForArchivedBefore(p.url, Date.now(), ARRIVAL_BUCKET_MS);
    await p.idle(60_000);
    expect((await p.runBatch()).status).toBe('published');
    const replay = await postJson(p.url, '/admin/replay', {});
    expect(replay.status, JSON.stringify(replay.body)).toBe(202);
    await p.kappa!.replayDone();
    await expectServedOnce(p, 'after a batch run and a replay', 2 * EVENTS.length);
    const lambda = JSON.parse((await served(p, '')).answer) as { batchVersion: number | null };
    expect(lambda.batchVersion).not.toBeNull();
    const kappa = JSON.parse((await served(p, '/kappa')).answer) as { version: number };
    expect(kappa.version).toBe(2);
  }, 300_000);
});
