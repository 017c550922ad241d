import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { order, ORDERS_BASE, OrdersSuite } from './orders-workload';

/**
 * The compacted archive through the local runtime (HTTP, dynalite, s3rver, DuckDB; ADR 011): with
 * a one-second compaction period every batch run first compacts what the archiver wrote into
 * Parquet in the bucket's `compacted/` prefix, then reads it; served values stay exact through
 * full and incremental runs, late events and producer retries, and a repeated run compacts nothing.
 */
const BASE = ORDERS_BASE;
const suite = new OrdersSuite({ compactionPeriodMs: 1000 }, async (s) => {
  // The compaction horizon is the start of the cutoff's second: let the last arrival's pass.
  await new Promise((resolve) => setTimeout(resolve, 1100));
  await s.archived();
});
const pipeline = suite.pipeline;
const accepted = suite.accepted;
const post = suite.post.bind(suite);
const ingest = suite.ingest.bind(suite);

async function expectServedExact(): Promise<void> {
  await suite.expectServedExact(BASE - 3_600_000, BASE + 30 * 3_600_000);
}

beforeAll(async () => {
  await pipeline.start();
}, 60_000);

afterAll(async () => {
  await pipeline.stop();
});

describe('the compacted archive through the local runtime', () => {
  it('compacts before each run, reads Parquet and the raw tail, and serves exact values', async () => {
    // History over two event days (minutes 0..1196 from 09:00 on the 24th: into the 25th).
    await ingest(Array.from({ length: 300 }, (_, i) => order(i, i * 4)));
    const first = await post('/admin/batch', {});
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body).toMatchObject({
      status: 'published',
      compaction: { status: 'committed', generation: 1 },
    });
    // One Parquet file per event hour (partitions edt=/ehr=).
    const hours = new Set(accepted.map((e) => e.time.slice(0, 13))).size;
    expect(first.body.compaction).toMatchObject({ files: hours, rows: 300 });
    await expectServedExact();

    // New events, a late one for the first day and a producer retry of an event already compacted.
    await ingest([order(1000, 5), order(1001, 890), order(7, 21)]);
    const second = await post('/admin/batch', {});
    expect(second.body).toMatchObject({
      status: 'published',
      mode: 'incremental',
      compaction: { status: 'committed', generation: 2 },
      // Batch (read pruned to the window's buckets) and speed agree over the window.
      reconciliation: { mismatchCount: 0 },
    });
    expect((second.body.reconciliation as { cellsCompared: number }).cellsCompared).toBeGreaterThan(0);
    await expectServedExact();

    // Nothing new: the run compacts nothing, and a full run from the compacted archive agrees.
    const full = await post('/admin/batch', { full: true });
    expect(full.body).toMatchObject({
      status: 'published',
      mode: 'full',
      compaction: { status: 'nothing-to-do' },
    });
    await expectServedExact();
  }, 240_000);
});
