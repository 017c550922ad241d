/**
 * GET /views latency over one day of one-minute buckets, with both a batch part and a speed part,
 * while events keep arriving (about 500 a second). Run:
 * npx tsx bench/query-latency.ts [queries=300] [late|ontime]
 *
 * - `late` (the default, the recorded `query_p99_ms`): the day queried is yesterday, and every
 *   event of the trickle is late, at a random minute of it, so the speed part grows by about 500
 *   rows a second (one per bucket and arrival second). The harsh case.
 * - `ontime`: the day queried is the last 24 hours (up to 10 minutes ahead, for the run), and
 *   the trickle is stamped as it is sent, but for 1 event in 100 late at a random minute of the
 *   day: a stream that is mostly on time, whose speed part grows by a row or two a second
 *   (`query_ontime_p99_ms`).
 *
 * The first query after the batch run is timed apart (`query_first_ms`): it is the query
 * function's cold start and its first read of the new version, which the percentiles, taken over
 * the `queries` after it, do not include (until 2026-12-06 they did: in --quick's 60 queries
 * it was the p99).
 *
 * Writes bench/results/query-latency.json (`late`) or query-latency-ontime.json.
 */
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { benchMachine, percentile, startBenchPipeline } from './bench-pipeline';

const DAY = 86_400_000;
const MINUTE = 60_000;

async function post(url: string, events: unknown[]): Promise<void> {
  const res = await fetch(`${url}/events`, { method: 'POST', body: JSON.stringify({ events }) });
  if (res.status !== 202) throw new Error(`POST /events answered ${res.status}: ${await res.text()}`);
}

async function main(): Promise<void> {
  const queries = Number(process.argv[2] ?? 300);
  const mode = process.argv[3] ?? 'late';
  if (mode !== 'late' && mode !== 'ontime') throw new Error(`mode must be late or ontime (given ${mode})`);
  const pipeline = await startBenchPipeline({ archiveFlushMs: 300 });
  const startedAt = Date.now();
  // The day queried: yesterday (late), or the 24 hours before the minute the run starts in (ontime).
  const dayStart =
    mode === 'late' ? Math.floor(startedAt / DAY) * DAY - DAY : Math.floor(startedAt / MINUTE) * MINUTE - DAY;
  const rangeEnd = mode === 'late' ? dayStart + DAY : dayStart + DAY + 10 * MINUTE;
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
  // Late: at a minute of the day queried, spread by a prime step. On time: now, but 1 in 100 late.
  const timeOf = (i: number): number =>
    mode === 'late' || i % 100 === 0 ? dayStart + ((i * 7_919) % DAY) : Math.min(Date.now(), rangeEnd - 1);
  const more = () =>
    Array.from({ length: 50 }, () => ({
      id: `m${n++}`,
      type: 'page.view',
      time: new Date(timeOf(n)).toISOString(),
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
  const url = `${pipeline.url}/views/page_views?page=/home&from=${new Date(dayStart).toISOString()}&to=${new Date(rangeEnd).toISOString()}`;
  // The first query is timed apart: the query function's first invocation (its worker's modules and
  // JIT cold, as a Lambda cold start) and the first read of the new batch version (its cells fetched
  // and decoded, every bucket merged once: each warm instance pays that once per publish).
  let t = performance.now();
  await (await fetch(url)).json();
  const firstMs = performance.now() - t;
  const times: number[] = [];
  let buckets = 0;
  for (let q = 0; q < queries; q++) {
    t = performance.now();
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
    mode,
    queries,
    bucketsPerAnswer: buckets,
    query_p50_ms: Math.round(percentile(times, 50) * 10) / 10,
    query_p99_ms: Math.round(percentile(times, 99) * 10) / 10,
    query_first_ms: Math.round(firstMs * 10) / 10,
  };
  writeFileSync(
    path.join(__dirname, 'results', mode === 'late' ? 'query-latency.json' : 'query-latency-ontime.json'),
    JSON.stringify(result, null, 2) + '\n',
  );
  console.log(JSON.stringify(result));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
