/**
 * `npm run bench [-- --quick]`: every benchmark on the embedded stack, each figure beside its
 * baseline from the same run, written to bench/results.json ({name, value, unit, params} plus the
 * machine and the date) and summarized in bench/RESULTS.md. --quick runs smaller sizes of the
 * same benchmarks under the same names.
 */
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import * as path from 'node:path';
import { decodeKinesisEvent } from '../lambdas/adapters/codecs/kinesis-event';
import { makeDynamoDbClient, makeKinesisClient, makeS3Client } from '../lambdas/runtime/clients';
import { processSpeedBatch } from '../lambdas/services/speed-layer';
import { startEmulators } from '../local/emulators';
import { quietSdkNodeWarning } from '../local/handler-host';
import { ensureResources, resourceNames } from '../local/resources';
import { InMemoryEventClaims, InMemorySpeedRowStore } from '../test/services/in-memory-stores';
import { clickstreamBatch, CLICKSTREAM_VIEWS, measureSpeedHandler } from './speed-handler';

interface Metric {
  readonly name: string;
  readonly value: number | null;
  readonly unit: string;
  readonly params: Record<string, unknown>;
  /** Why there is no value (not measured yet), when value is null. */
  readonly note?: string;
}

const quick = process.argv.includes('--quick');
const metrics: Metric[] = [];
const add = (
  name: string,
  value: number | null,
  unit: string,
  params: Record<string, unknown>,
  note?: string,
) => metrics.push({ name, value, unit, params, ...(note ? { note } : {}) });

/** The workload of the write figures: Zipf pages over 1,000, one-minute buckets, 1,000 events/s per shard. */
async function writesPerEvent(events: number, batchSize: number): Promise<{ rows: number; claims: number }> {
  const rows = new InMemorySpeedRowStore(CLICKSTREAM_VIEWS);
  const claims = new InMemoryEventClaims();
  const deps = { views: CLICKSTREAM_VIEWS, rows, claims, fenceBy: 'shard' as const, arrivalBucketMs: 60_000 };
  const base = Date.UTC(2026, 10, 24, 10);
  for (let o = 0; o < events; o += batchSize)
    await processSpeedBatch(
      decodeKinesisEvent(clickstreamBatch(Math.min(batchSize, events - o), o, base)),
      deps,
    );
  return {
    rows: rows.writes.filter((w) => w.outcome === 'written').length,
    claims: claims.calls.filter((c) => c.result !== 'error').length,
  };
}

/** Bare PutRecords of 500-record batches into kinesalite: the local stream's own ceiling. */
async function kinesisBaseline(records: number): Promise<number> {
  const emulators = await startEmulators({});
  try {
    const names = resourceNames('bench-put');
    const e = emulators.endpoints;
    const kinesis = makeKinesisClient(e);
    await ensureResources({ kinesis, dynamodb: makeDynamoDbClient(e), s3: makeS3Client(e) }, 2, names);
    const data = Buffer.from(clickstreamBatch(1, 0, Date.now()).Records[0].kinesis.data, 'base64');
    const started = performance.now();
    for (let i = 0; i < records; i += 500) {
      const Records = Array.from({ length: Math.min(500, records - i) }, (_, j) => ({
        Data: data,
        PartitionKey: `k${i + j}`,
      }));
      const out = await kinesis.send(new PutRecordsCommand({ StreamName: names.stream, Records }));
      if (out.FailedRecordCount) throw new Error(`kinesalite refused ${out.FailedRecordCount} records`);
    }
    return records / ((performance.now() - started) / 1000);
  } finally {
    await emulators.stop();
  }
}

function runScript(script: string, args: string[]): void {
  execFileSync(process.execPath, ['--import', 'tsx', path.join(__dirname, script), ...args], {
    stdio: ['ignore', 'ignore', 'inherit'],
    cwd: path.resolve(__dirname, '..'),
  });
}

function readResult<T>(file: string): T {
  return JSON.parse(readFileSync(path.join(__dirname, 'results', file), 'utf8')) as T;
}

async function main(): Promise<void> {
  quietSdkNodeWarning();
  const started = Date.now();
  // 1. The speed handler's CPU path beside bare base64 + JSON.parse of the same records.
  const records = quick ? 50_000 : 200_000;
  for (const batchSize of [100, 500, 10_000]) {
    const f = await measureSpeedHandler(records, batchSize, quick ? 2 : 3);
    const params = {
      records,
      batchSize,
      view: 'page_views (count, sum, distinct, max, avg)',
      stores: 'in memory',
    };
    add('bare_parse_records_per_s', f.bareParseRecordsPerS, 'records/s', params);
    add('speed_handler_records_per_s', f.speedHandlerRecordsPerS, 'records/s', params);
    add('speed_handler_ratio_to_parse', f.ratio, 'ratio', params);
  }
  // 2. DynamoDB item writes per event at the default configuration (batch 500, dedupe on).
  const events = quick ? 20_000 : 100_000;
  const w = await writesPerEvent(events, 500);
  const workload = {
    events,
    batchSize: 500,
    keys: 'Zipf over 1,000 pages',
    granularity: '1m',
    rate: '1,000 events/s per shard',
    views: 1,
  };
  add('writes_per_event', (w.rows + w.claims) / events, 'writes/event', workload);
  add('dedupe_writes_per_event', w.claims / events, 'writes/event', workload);
  add('naive_writes_per_event', 1, 'writes/event', {
    ...workload,
    design: 'one UpdateItem per event per view',
  });
  add(
    'windowed_writes_per_event',
    null,
    'writes/event',
    workload,
    'aggregation windows are not implemented yet',
  );
  // 3. The local stream's ceiling, then end to end through npm start's runtime.
  add(
    'kinesis_emulator_put_records_per_s',
    Math.round(await kinesisBaseline(quick ? 20_000 : 100_000)),
    'records/s',
    {
      batch: 500,
      shards: 2,
    },
  );
  const e2eEvents = quick ? 5_000 : 20_000;
  runScript('local-pipeline.ts', [String(e2eEvents)]);
  const e2e = readResult<{ speedCaughtUp: { eventsPerSecond: number }; ingest: { eventsPerSecond: number } }>(
    'local-pipeline.json',
  );
  add('e2e_events_per_s', e2e.speedCaughtUp.eventsPerSecond, 'events/s', {
    events: e2eEvents,
    dedupe: true,
    through: 'POST /events -> speed rows served',
  });
  add('http_ingest_events_per_s', e2e.ingest.eventsPerSecond, 'events/s', {
    events: e2eEvents,
    perRequest: 500,
  });
  // 4. Replay and the batch recomputation of the same archive.
  const archived = quick ? 100_000 : 1_000_000;
  runScript('replay.ts', [String(archived), quick ? '10' : '100']);
  const replay = readResult<{
    replay: { replay_events_per_s: number };
    batch: { batch_events_per_s: number };
  }>('replay.json');
  add('replay_events_per_s', replay.replay.replay_events_per_s, 'events/s', { archived });
  add('batch_events_per_s', replay.batch.batch_events_per_s, 'events/s', { archived, engine: 'DuckDB' });
  // 5. GET /views over a day of one-minute buckets (batch and speed parts) while events arrive.
  runScript('query-latency.ts', [quick ? '100' : '300']);
  const query = readResult<{
    query_p50_ms: number;
    query_p99_ms: number;
    bucketsPerAnswer: number;
    queries: number;
  }>('query-latency.json');
  const queryParams = { buckets: query.bucketsPerAnswer, queries: query.queries, ingesting: '~500 events/s' };
  add('query_p50_ms', query.query_p50_ms, 'ms', queryParams);
  add('query_p99_ms', query.query_p99_ms, 'ms', queryParams);
  // 6. Incremental vs full batch runs: 30 days of history plus one new hour (2% of it late).
  runScript('batch-incremental.ts', [quick ? '100000' : '10000000']);
  const inc = readResult<{
    history_events: number;
    new_events: number;
    batch_full_s: number;
    batch_incremental_s: number;
    batch_bytes_scanned_ratio: number;
    batch_cells_written_ratio: number;
    engine: string;
  }>('batch-incremental.json');
  const incParams = {
    history_events: inc.history_events,
    new_events: inc.new_events,
    days: 30,
    engine: inc.engine,
  };
  add('batch_full_s', inc.batch_full_s, 's', incParams);
  add('batch_incremental_s', inc.batch_incremental_s, 's', incParams);
  add('batch_bytes_scanned_ratio', inc.batch_bytes_scanned_ratio, 'ratio', incParams);
  add('batch_cells_written_ratio', inc.batch_cells_written_ratio, 'ratio', incParams);
  for (const name of ['e2e_visibility_p50_ms', 'e2e_visibility_p95_ms'])
    add(name, null, 'ms', {}, 'not measured yet');

  const result = {
    date: new Date().toISOString(),
    quick,
    machine: {
      cores: cpus().length,
      cpu: cpus()[0]?.model ?? 'unknown',
      memoryGiB: Math.round(totalmem() / 1024 ** 3),
      node: process.version,
      loadAverage1m: Math.round(loadavg()[0] * 100) / 100,
    },
    seconds: Math.round((Date.now() - started) / 1000),
    metrics,
  };
  writeFileSync(path.join(__dirname, 'results.json'), JSON.stringify(result, null, 2) + '\n');
  writeFileSync(path.join(__dirname, 'RESULTS.md'), summary(result));
  console.log(summary(result));
}

function summary(result: {
  date: string;
  quick: boolean;
  machine: Record<string, unknown>;
  seconds: number;
}): string {
  const value = (name: string, params?: (p: Record<string, unknown>) => boolean) =>
    metrics.find((m) => m.name === name && (params === undefined || params(m.params)));
  const fmt = (m: Metric | undefined) =>
    m === undefined || m.value === null
      ? `not measured (${m?.note ?? 'missing'})`
      : m.value.toLocaleString('en-US', { maximumFractionDigits: 3 });
  const rows = [100, 500, 10_000].map((b) => {
    const at = (p: Record<string, unknown>) => p.batchSize === b;
    return `| ${b.toLocaleString('en-US')} | ${fmt(value('bare_parse_records_per_s', at))} | ${fmt(value('speed_handler_records_per_s', at))} | ${fmt(value('speed_handler_ratio_to_parse', at))} |`;
  });
  return `# Benchmark results

Generated by \`npm run bench${result.quick ? ' -- --quick' : ''}\` on ${result.date} in ${result.seconds} s
(${JSON.stringify(result.machine)}). Raw figures: [results.json](results.json). Figures stand beside
their baselines from the same run; other work on the machine slows both alike.

## Speed handler CPU path vs bare base64 + JSON.parse (the same records)

Command: \`npx tsx bench/speed-handler.ts <records> <batch>\`.

| batch | bare parse (records/s) | speed handler (records/s) | ratio |
| ----- | ---------------------- | ------------------------- | ----- |
${rows.join('\n')}

Before/after the CPU work of 2026-12-01 (batch 500, 100,000 records, same machine, two runs each,
\`bench/speed-handler.ts\` run against the commit before it): on this Zipf workload (about 240
rows per batch) 18,000 -> 35,700 records/s (ratio 0.033 -> 0.064); on a one-key workload (one row
per batch, what the per-record path costs alone) 30,000 -> 97,000 records/s. The changes: cached MD5
per distinct value, plain folds without a state object per event, nano-units without printing
small decimals, one key encoding per row, ISO times printed once per second, the Unicode walk only
when the text holds surrogate escapes, and sketches encoded and parsed by hand (no closure, no
regular expression per register) and folded without a second union. What is left is mostly per
row: every row write decodes and re-encodes its 4,096-register sketch (as DynamoDB stores it); the
target (150,000 records/s, 1/5 of the parse) is not reached.

## Writes per event (default configuration, dedupe on)

| figure | value |
| ------ | ----- |
| writes_per_event | ${fmt(value('writes_per_event'))} |
| dedupe_writes_per_event | ${fmt(value('dedupe_writes_per_event'))} |
| naive_writes_per_event | ${fmt(value('naive_writes_per_event'))} |
| windowed_writes_per_event | ${fmt(value('windowed_writes_per_event'))} |

## The local stream and the pipeline

| figure | value | baseline |
| ------ | ----- | -------- |
| e2e_events_per_s (POST /events -> served by the speed layer) | ${fmt(value('e2e_events_per_s'))} | kinesis_emulator_put_records_per_s ${fmt(value('kinesis_emulator_put_records_per_s'))} |
| replay_events_per_s (Kappa) | ${fmt(value('replay_events_per_s'))} | batch_events_per_s (DuckDB, same archive) ${fmt(value('batch_events_per_s'))} |
| query_p50_ms / query_p99_ms (a day of 1-minute buckets) | ${fmt(value('query_p50_ms'))} / ${fmt(value('query_p99_ms'))} | |
| e2e visibility | not measured yet | |
`;
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
