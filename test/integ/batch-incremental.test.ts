import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseBatchCommand, runBatchCommand } from '../../local/batch-command';
import { order, ORDERS_BASE, OrdersSuite } from './orders-workload';

/**
 * Incremental batch runs through the local runtime (HTTP, dynalite, s3rver, DuckDB): a scheduled
 * run writes only the cells new arrivals touch, late ones included, and serves what a full run
 * serves; `{"full": true}`, a backfill range and the CLI reach the same handler.
 */
const BASE = ORDERS_BASE;
const suite = new OrdersSuite();
const pipeline = suite.pipeline;
const post = suite.post.bind(suite);
const ingest = suite.ingest.bind(suite);

/** Two hours of history: 120 one-minute buckets per shop. */
const HISTORY = Array.from({ length: 360 }, (_, i) => order(i, Math.floor(i / 3)));

/**
 * The history, ingested and batched: what each test starts from, whatever ran before it. Its ids
 * repeat across tests, so a second ingestion is a producer retry and changes no served value; the
 * run is full on a fresh pipeline and incremental over all 120 buckets after it.
 */
async function withHistory(): Promise<void> {
  await ingest(HISTORY);
  const run = await post('/admin/batch', {});
  expect(run.body).toMatchObject({ status: 'published', cells: 360 });
}

/** Served buckets equal the oracle's, exactly (distinct too: every bucket is all batch). */
async function expectServedExact(): Promise<void> {
  await suite.expectServedExact(BASE - 3_600_000, BASE + 3 * 3_600_000);
}

beforeAll(async () => {
  await pipeline.start();
}, 60_000);

afterAll(async () => {
  await pipeline.stop();
});

describe('incremental batch runs through the local runtime', () => {
  it('writes only the cells new arrivals touch (late ones included) and serves what a full run serves', async () => {
    await withHistory();

    // New events in the last minutes, and late ones for a bucket an hour and a half back.
    await ingest([order(1000, 119), order(1001, 119), order(1002, 30), order(1003, 30), order(5, 1)]);
    const second = await post('/admin/batch', {});
    expect(second.status, JSON.stringify(second.body)).toBe(200);
    // Buckets 119, 30 and 1 (order-5 is a producer retry: counted once), every key of each
    // touched bucket: 3 x 3 of the 360 cells.
    expect(second.body).toMatchObject({ status: 'published', mode: 'incremental', fullViews: [], cells: 9 });
    await expectServedExact();

    const full = await post('/admin/batch', { full: true });
    expect(full.body).toMatchObject({ status: 'published', mode: 'full', cells: 360 });
    await expectServedExact();
  }, 240_000); // three batch runs over two hours of history, on a loaded machine

  it('recomputes a backfill range on request, and refuses a malformed one with 400', async () => {
    await withHistory();
    const range = { from: new Date(BASE).toISOString(), to: new Date(BASE + 10 * 60_000).toISOString() };
    const backfill = await post('/admin/batch', range);
    expect(backfill.body).toMatchObject({ status: 'published', mode: 'incremental', cells: 30 });
    await expectServedExact();
    const bad = await post('/admin/batch', { from: 'yesterday', to: range.to });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toMatch(/from must be ISO-8601/);
  }, 180_000);

  it('runs a full recomputation from the CLI (streamfold batch --full)', async () => {
    await withHistory();
    const command = parseBatchCommand(['--full', '--url', pipeline.url!]);
    expect(command).not.toBe('help');
    const { status, text } = await runBatchCommand(command as Exclude<typeof command, 'help'>);
    expect(status).toBe(200);
    expect(JSON.parse(text)).toMatchObject({ status: 'published', mode: 'full', cells: 360 });
  }, 180_000);
});
