/**
 * GET /views latency over one day of one-minute buckets, with both a batch part and a speed part,
 * while events keep arriving. Run: npx tsx bench/query-latency.ts [queries=300]
 * Writes bench/results/query-latency.json.
 */
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { benchMachine, percentile, startBenchPipeline } from './bench-pipeline';

const DAY = 86_400_000;

async function post(url: string, events: unknown[]): Promise<void> {
  const res = await fetch(`${url}/events`, { method: 'POST', body: JSON.stringify({ events }) });
  if (res.status !== 202) throw new Error(`POST /events answered ${res.status}: ${await res.text()}`);
}

async function main(): Promise<void> {
  const queries = Number(process.argv[2] ?? 300);
  const pipeline = await startBenchPipeline({ archiveFlushMs: 300 });
  const dayStart = Math.floor(Date.now() / DAY) * DAY - DAY;
  // A day of one-minute buckets for /home (2 events a minute), into the batch view.
  const day = Array.from({ length: 2880 }, (_, i) => ({
    id: `d${i}`,
    type: 'page.view',
    time: new Date(dayStart + i * 30_000).toISOString(),
    page: '/home',
    userId: `u${i % 97}`,
  }));
  for (let i = 0; i < day.length; i += 500) await post(pipeline.url, day.slice(i, i + 500));
  await pipeline.idle(120_000);
  await new Promise((r) => setTimeout(r, 1_500));
  await pipeline.runBatch();
  // Then the speed part: more events on the same day, and a steady trickle during the queries.
  let n = 0;
  const more = () =>
    Array.from({ length: 50 }, () => ({
      id: `m${n++}`,
      type: 'page.view',
      time: new Date(dayStart + ((n * 7_919) % DAY)).toISOString(),
      page: '/home',
      userId: `u${n % 131}`,
    }));
  await post(pipeline.url, more());
  await pipeline.idle(60_000);
  let ingesting = true;
  const ingest = (async () => {
    while (ingesting) {
      await post(pipeline.url, more());
      await new Promise((r) => setTimeout(r, 100)); // about 500 events/s
    }
  })();
  const url = `${pipeline.url}/views/page_views?page=/home&from=${new Date(dayStart).toISOString()}&to=${new Date(dayStart + DAY).toISOString()}`;
  const times: number[] = [];
  let buckets = 0;
  for (let q = 0; q < queries; q++) {
    const t = performance.now();
    const body = (await (await fetch(url)).json()) as { buckets: unknown[]; cutoff: string | null };
    times.push(performance.now() - t);
    buckets = body.buckets.length;
  }
  ingesting = false;
  await ingest;
  await pipeline.stop();
  times.sort((a, b) => a - b);
  const result = {
    date: new Date().toISOString(),
    machine: benchMachine(),
    queries,
    bucketsPerAnswer: buckets,
    query_p50_ms: Math.round(percentile(times, 50) * 10) / 10,
    query_p99_ms: Math.round(percentile(times, 99) * 10) / 10,
  };
  writeFileSync(
    path.join(__dirname, 'results', 'query-latency.json'),
    JSON.stringify(result, null, 2) + '\n',
  );
  console.log(JSON.stringify(result));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
