/**
 * Acknowledgement -> visible: POST /events at a steady rate (default 1,000 events/s, 100 per
 * request) and, for every request, the time from its 202 to the moment GET /views serves the
 * request's marker event (a key of its own), checked by one poller, oldest first. Run: npx tsx bench/e2e-visibility.ts [seconds=30] [rate=1000] [--hops] [--window-ms N] [--keys N] [--enhanced-fan-out] [--out name.json]
 * Writes bench/results/e2e-visibility.json (or --out: a name there, or a path); with --hops also where each marker's time
 * went, hop by hop (bench/results/e2e-hops.json). --window-ms sets the speed layer's batching
 * window (default: the pipeline's, as deployed) to compare settings; --keys the pages the other
 * events spread over (default 1,000: about one speed row per event, the harsh case);
 * --enhanced-fan-out reads the stream as an enhanced fan-out consumer (ADR 025).
 */
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { benchMachine, percentile, startBenchPipeline } from './bench-pipeline';
import { HopRecorder } from './hop-recorder';

const PER_REQUEST = 100;
/**
 * The start-up the `after_warmup` figures leave out: the pipeline starts cold (the handlers' first
 * invocations, the SDK's first requests and the emulators' first writes run before V8 has
 * optimized them), and at 1,000 keys the records that arrive meanwhile take seconds to drain
 * (bench/RESULTS.md). Markers acknowledged later are what a pipeline that has been running sees.
 */
const WARMUP_S = 10;

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 30);
  const rate = Number(process.argv[3] ?? 1000);
  const hops = process.argv.includes('--hops') ? new HopRecorder() : undefined;
  const windowArg = process.argv.indexOf('--window-ms');
  const flagValue = (name: string) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const keys = Number(flagValue('--keys') ?? 1000);
  if (!Number.isSafeInteger(keys) || keys < 1)
    throw new Error(`--keys must be a positive integer (given ${keys})`);
  const enhancedFanOut = process.argv.includes('--enhanced-fan-out');
  const out = flagValue('--out') ?? 'e2e-visibility.json';
  const pipeline = await startBenchPipeline({
    ...(hops?.pipelineProbes() ?? {}),
    ...(windowArg > 0 ? { speedBatchingWindowMs: Number(process.argv[windowArg + 1]) } : {}),
    enhancedFanOut,
  });
  const visibility: number[] = [];
  /** The visibility of each marker acknowledged after the warm-up. */
  const afterWarmup: number[] = [];
  // One checker, one request at a time, oldest marker first: pollers of their own (one per
  // request) would load the query path and the emulator more than the pipeline being measured.
  // A marker is timed when the checker sees it, so each figure is an upper bound.
  const pending: { n: number; acked: number }[] = [];
  let sending = true;
  const started = performance.now();
  const checker = (async () => {
    while (sending || pending.length > 0) {
      const oldest = pending[0];
      if (oldest === undefined) {
        await new Promise((r) => setTimeout(r, 20));
        continue;
      }
      const body = (await (
        await fetch(`${pipeline.url}/views/page_views?page=/marker${oldest.n}`)
      ).json()) as { buckets: unknown[] };
      if (body.buckets.length > 0) {
        visibility.push(performance.now() - oldest.acked);
        if (oldest.acked - started >= WARMUP_S * 1000) afterWarmup.push(performance.now() - oldest.acked);
        hops?.mark(oldest.n, 'seen');
        pending.shift();
      } else if (performance.now() - oldest.acked > 120_000) {
        throw new Error(`marker ${oldest.n} not visible after 120 s`);
      } else await new Promise((r) => setTimeout(r, 10));
    }
  })();
  let sent = 0;
  let request = 0;
  const intervalMs = (PER_REQUEST / rate) * 1000;
  while (performance.now() - started < seconds * 1000) {
    const n = request++;
    const now = Date.now();
    const events = Array.from({ length: PER_REQUEST }, (_, j) => ({
      id: `v${n}-${j}`,
      type: 'page.view',
      time: new Date(now).toISOString(),
      // The first event is the request's marker, under a key nobody else writes.
      page: j === 0 ? `/marker${n}` : `/p${(n * PER_REQUEST + j) % keys}`,
      userId: `u${(n * PER_REQUEST + j) % 20_000}`,
    }));
    hops?.mark(n, 'posted');
    const res = await fetch(`${pipeline.url}/events`, { method: 'POST', body: JSON.stringify({ events }) });
    if (res.status !== 202) throw new Error(`POST /events answered ${res.status}: ${await res.text()}`);
    const acked = performance.now();
    hops?.mark(n, 'acked');
    sent += PER_REQUEST;
    pending.push({ n, acked });
    const next = started + request * intervalMs;
    const wait = next - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  const elapsed = (performance.now() - started) / 1000;
  sending = false;
  await checker;
  await pipeline.stop();
  visibility.sort((a, b) => a - b);
  afterWarmup.sort((a, b) => a - b);
  // Only when the run went on long enough after the warm-up for a percentile to mean something.
  const steady = seconds >= 2 * WARMUP_S && afterWarmup.length > 0;
  const result = {
    date: new Date().toISOString(),
    machine: benchMachine(),
    seconds,
    targetRate: rate,
    speedBatchingWindowMs: pipeline.options.speedBatchingWindowMs,
    keys,
    enhancedFanOut,
    achievedRate: Math.round(sent / elapsed),
    probes: visibility.length,
    e2e_visibility_p50_ms: Math.round(percentile(visibility, 50)),
    e2e_visibility_p95_ms: Math.round(percentile(visibility, 95)),
    e2e_visibility_max_ms: Math.round(visibility[visibility.length - 1]),
    warmupSeconds: WARMUP_S,
    probesAfterWarmup: afterWarmup.length,
    e2e_visibility_after_warmup_p50_ms: steady ? Math.round(percentile(afterWarmup, 50)) : null,
    e2e_visibility_after_warmup_p95_ms: steady ? Math.round(percentile(afterWarmup, 95)) : null,
  };
  writeFileSync(path.resolve(__dirname, 'results', out), JSON.stringify(result, null, 2) + '\n');
  console.log(JSON.stringify(result));
  if (hops) {
    const breakdown = { date: result.date, machine: result.machine, seconds, ...hops.summary() };
    writeFileSync(
      path.join(__dirname, 'results', 'e2e-hops.json'),
      JSON.stringify(breakdown, null, 2) + '\n',
    );
    console.log(JSON.stringify(breakdown, null, 2));
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
