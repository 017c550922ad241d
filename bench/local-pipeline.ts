/**
 * End-to-end benchmark of the local runtime: events posted over HTTP (500 per request), until
 * the speed layer has served them all, the archive holds them and a batch run has covered them.
 * Run: npx tsx bench/local-pipeline.ts [events]   Writes bench/results/local-pipeline.json.
 */
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import * as path from 'node:path';
import { validateViews } from '../lambdas/core/view';
import { DEFAULT_STREAM_BATCH_SIZE } from '../lambdas/runtime/function-environment';
import { startBenchPipeline } from './bench-pipeline';

async function main(): Promise<void> {
  const total = Number(process.argv[2] ?? 20_000);
  const views = validateViews([
    {
      name: 'page_views',
      eventType: 'page.view',
      key: ['page'],
      granularity: '1m',
      measures: {
        views: { kind: 'count' },
        visitors: { kind: 'distinct', field: 'userId' },
        slowest: { kind: 'max', field: 'latencyMs' },
      },
    },
  ]);
  // The speed layer's batches are the runtime's default (DEFAULT_STREAM_BATCH_SIZE, as deployed;
  // ADR 026): 20,000 events posted at once leave it behind, where the batch size counts.
  const pipeline = await startBenchPipeline({ views, archiveFlushMs: 500 });
  const base = Date.UTC(2026, 0, 1, 12);
  const started = Date.now();
  for (let i = 0; i < total; i += 500) {
    const events = Array.from({ length: Math.min(500, total - i) }, (_, j) => ({
      id: `b${i + j}`,
      type: 'page.view',
      time: new Date(base + ((i + j) % 3_600_000)).toISOString(),
      page: `/p${(i + j) % 20}`,
      userId: `u${(i + j) % 5000}`,
      latencyMs: (i + j) % 900,
    }));
    const res = await fetch(`${pipeline.url}/events`, { method: 'POST', body: JSON.stringify({ events }) });
    if (res.status !== 202) throw new Error(`ingest answered ${res.status}: ${await res.text()}`);
  }
  const ingestMs = Date.now() - started;
  await pipeline.idle(600_000);
  const speedMs = Date.now() - started;
  await new Promise((r) => setTimeout(r, 1_500));
  const batchStarted = Date.now();
  const run = await pipeline.runBatch();
  const batchMs = Date.now() - batchStarted;
  let served = 0;
  for (let p = 0; p < 20; p++) {
    const body = (await (
      await fetch(
        `${pipeline.url}/views/page_views?page=/p${p}&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z`,
      )
    ).json()) as { buckets: { measures: { views: number } }[] };
    served += body.buckets.reduce((n, b) => n + b.measures.views, 0);
  }
  await pipeline.stop();
  if (served !== total) throw new Error(`served ${served} of ${total} events`);
  const result = {
    recordedAt: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    events: total,
    speedBatchSize: DEFAULT_STREAM_BATCH_SIZE,
    ingest: { ms: ingestMs, eventsPerSecond: Math.round((total / ingestMs) * 1000) },
    speedCaughtUp: { ms: speedMs, eventsPerSecond: Math.round((total / speedMs) * 1000) },
    batch: { ms: batchMs, cells: run.cells, version: run.version },
    servedEqualsSent: served === total,
    rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
  };
  console.log(JSON.stringify(result, null, 2));
  writeFileSync(
    path.join(__dirname, 'results', 'local-pipeline.json'),
    JSON.stringify(result, null, 2) + '\n',
  );
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
