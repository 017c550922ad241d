/**
 * `npm run bench [-- --quick]`: every benchmark on the embedded stack, each figure beside its
 * baseline from the same run, written to bench/results.json ({name, value, unit, params} plus the
 * machine and the date) and summarized in bench/RESULTS.md. --quick runs smaller sizes of the
 * same benchmarks under the same names.
 *
 * `npm run bench -- windowed` measures only `windowed_writes_per_event` (bench/windowed-writes.ts)
 * on the workload recorded for `writes_per_event` and records it.
 *
 * `npm run bench -- batch [events] [--compacted] [--memory-limit=1GB] [--threads=2]` runs only the
 * batch layer at scale (bench/batch-scale.ts: one full run, its steps timed, the process's peak
 * RSS) and records `batch_events_per_s` and `batch_peak_rss_mb` for that configuration beside the
 * ones recorded for others; `--record-only` records the last run of bench/batch-scale.ts instead.
 *
 * `npm run bench -- latency [--record-only]` runs only the query latency (late-heavy and mostly
 * on-time) and visibility benchmarks and records their figures.
 *
 * `npm run bench -- soak [--minutes 45] [--rate 1000]` runs only the soak (bench/soak.ts, not part
 * of the default run: it takes 45 minutes) and records its figures and RSS series in
 * results.json beside the others; `--record-only` records the last soak without running one.
 */
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import type { KinesisStreamEvent } from 'aws-lambda';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import * as path from 'node:path';
import { decodeKinesisEvent } from '../lambdas/adapters/codecs/kinesis-event';
import { makeDynamoDbClient, makeKinesisClient, makeS3Client } from '../lambdas/runtime/clients';
import { processSpeedBatch } from '../lambdas/services/speed-layer';
import { startEmulators } from '../local/emulators';
import { quietSdkNodeWarning } from '../local/handler-host';
import { ensureResources, resourceNames } from '../local/resources';
import { loadViews } from '../local/load-views';
import {
  costPerMillion,
  DEFAULT_STREAM,
  eventsPerInvocation,
  incrementalCosts,
  ON_DEMAND_SHARDS,
  SPEED_BATCH_SIZE,
  provisionedShards,
  shardEventsPerSecond,
  type StreamCapacity,
  type CostLine,
  naiveCostPerMillion,
  total,
  type BatchIncrementalResult,
  type MeasuredCosts,
} from './cost-model';
import { billedIdLogWrites, billedRowWrites, countRowReads } from './billed-writes';
import { measureIngestHandler } from './ingest-handler';
import { measureSdkRequestCpu } from './sdk-request-cpu';
import {
  CLICKSTREAM_VIEWS,
  clickstreamBatch,
  measureSpeedHandler,
  onShard,
  sharedTableInstances,
  speedDeps,
} from './speed-handler';
import { throughputChart } from './throughput-chart';
import { measureWindowedWrites } from './windowed-writes';
import {
  FULL_WRITE_EVENTS,
  readResult,
  readResults,
  RESULTS_FILE,
  LEAN_AGGREGATION_WINDOW_S,
  TUNED_WINDOW_S,
  type Metric,
} from './results-file';
import { summary } from './results-summary';

const quick = process.argv.includes('--quick');
const metrics: Metric[] = [];
const add = (
  name: string,
  value: number | null,
  unit: string,
  params: Record<string, unknown>,
  note?: string,
) => metrics.push({ name, value, unit, params, ...(note ? { note } : {}) });

/** A handler's rate beside bare parsing of the same input: `<prefix>bare_parse_<unit>_per_s`, `<handler>_<unit>_per_s`, `<handler>_ratio_to_parse`. */
function addBesideParse(
  prefix: string,
  handler: string,
  unit: 'records/s' | 'events/s',
  [bare, rate, ratio]: readonly [number, number, number],
  params: Record<string, unknown>,
): void {
  const per = unit === 'records/s' ? 'records' : 'events';
  add(`${prefix}bare_parse_${per}_per_s`, bare, unit, params);
  add(`${handler}_${per}_per_s`, rate, unit, params);
  add(`${handler}_ratio_to_parse`, ratio, 'ratio', params);
}

/** When the bench's simulated clickstream starts. */
const CLICKSTREAM_BASE = Date.UTC(2026, 10, 24, 10);

/** `events` clickstream records through the speed layer of `speed`, `batchSize` an invocation, arriving at `eventsPerSecond`. */
async function runClickstream<T extends ReturnType<typeof speedDeps>>(
  speed: T,
  events: number,
  batchSize: number,
  eventsPerSecond: number,
): Promise<T> {
  for (let o = 0; o < events; o += batchSize)
    await processSpeedBatch(
      decodeKinesisEvent(
        clickstreamBatch(Math.min(batchSize, events - o), o, CLICKSTREAM_BASE, eventsPerSecond),
      ),
      speed.deps,
    );
  return speed;
}

/** The workload of the write figures: Zipf pages over 1,000, one-minute buckets, 1,000 events/s per shard. */
async function writesPerEvent(
  events: number,
  batchSize: number,
  scope: 'shard' | 'global',
  eventsPerSecond = 1000,
): Promise<{
  rows: number;
  rowWriteUnits: number;
  dedupe: number;
  dedupeWriteUnits: number;
  eventBytes: number;
}> {
  const { rows, log, claims } = await runClickstream(speedDeps(scope), events, batchSize, eventsPerSecond);
  const claimWrites = claims.calls.filter((c) => c.result !== 'error').length;
  const written = rows.writes.filter((w) => w.outcome === 'written');
  const sample = clickstreamBatch(100, 0, CLICKSTREAM_BASE).Records;
  return {
    rows: written.length,
    rowWriteUnits: written.reduce((n, w) => n + Math.ceil((w.bytes ?? 0) / 1024), 0),
    eventBytes: sample.reduce((n, r) => n + Buffer.from(r.kinesis.data, 'base64').length, 0) / sample.length,
    dedupe: scope === 'shard' ? log.appends.length : claimWrites,
    // DynamoDB bills a write per started KB of the item (keys and attributes about 200 bytes more).
    dedupeWriteUnits:
      scope === 'shard'
        ? log.appends.reduce((n, a) => n + Math.ceil((a.bytes + 200) / 1024), 0)
        : claimWrites,
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
  const started = Date.now();
  execFileSync(process.execPath, ['--import', 'tsx', path.join(__dirname, script), ...args], {
    stdio: ['ignore', 'ignore', 'inherit'],
    cwd: path.resolve(__dirname, '..'),
  });
  reportTime(`${script} ${args.join(' ')}`, started);
}

/** Where the run's time goes (--quick must stay under 3 minutes): on stderr, beside the scripts' own. */
function reportTime(part: string, started: number): void {
  console.error(`bench: ${part} took ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

/** Runs an in-process part of the bench and prints its time beside the scripts' (runScript). */
async function timedPart<T>(part: string, work: () => Promise<T>): Promise<T> {
  const started = Date.now();
  try {
    return await work();
  } finally {
    reportTime(part, started);
  }
}

/** Prettier over a generated Markdown file, so `npm run lint` (part of `npm test`) accepts it as written. */
function formatMarkdown(file: string): void {
  execFileSync(process.execPath, [require.resolve('prettier/bin/prettier.cjs'), '--write', file], {
    stdio: 'ignore',
  });
}

function rewriteSummary(): void {
  const results = readResults();
  if (!results) throw new Error(`${RESULTS_FILE} is missing: run npm run bench first`);
  metrics.splice(0, metrics.length, ...results.metrics);
  writeFileSync(
    path.join(__dirname, 'RESULTS.md'),
    summary(metrics, results as unknown as Parameters<typeof summary>[1]),
  );
  formatMarkdown(path.join(__dirname, 'RESULTS.md'));
}

/** The soak's figures and RSS series (from bench/results/soak.json) into results.json. */
function recordSoak(): void {
  const soak = readResult<{
    date: string;
    complete: boolean;
    command: string;
    summary: Record<string, number | null> & { minutes: number; rate: number };
    samples: {
      t: number;
      rssMb: number;
      dataDirMb: number;
      speedLagRecords: number;
      loadAverage1m: number;
      rssAnonMb?: number;
      nativeMb?: number;
      heapUsedMb?: Record<string, number>;
    }[];
  }>('soak.json');
  const results = readResults() ?? { metrics: [] };
  const params = { minutes: soak.summary.minutes, rate: soak.summary.rate, command: soak.command };
  const figures: Metric[] = (['soak_rss_mb_start', 'soak_rss_mb_end', 'soak_rss_mb_max'] as const).map(
    (name) => ({ name, value: soak.summary[name], unit: 'MB', params }),
  );
  writeFileSync(
    RESULTS_FILE,
    JSON.stringify(
      {
        ...results,
        metrics: [...results.metrics.filter((m) => !m.name.startsWith('soak_')), ...figures],
        soak: {
          date: soak.date,
          complete: soak.complete,
          summary: soak.summary,
          plot: 'soak-rss.svg',
          series: soak.samples.map((s) => ({
            t: s.t,
            rssMb: s.rssMb,
            dataDirMb: s.dataDirMb,
            speedLagRecords: s.speedLagRecords,
            loadAverage1m: s.loadAverage1m,
            ...(s.rssAnonMb === undefined
              ? {}
              : { rssAnonMb: s.rssAnonMb, nativeMb: s.nativeMb, heapUsedMb: s.heapUsedMb }),
          })),
        },
      },
      null,
      2,
    ) + '\n',
  );
  console.log(JSON.stringify(soak.summary, null, 2));
}

/** The speed layer's figures the cost model reads, with what they were measured at. */
type SpeedLines = Pick<
  MeasuredCosts,
  'rowWriteUnitsPerEvent' | 'dedupeWriteUnitsPerEvent' | 'readUnitsPerEvent' | 'speedBatchSize'
> & { shardEventsPerSecond: number; shards: number; conflictsPerEvent: number };

/**
 * The speed layer's DynamoDB writes and reads at the batch a volume gives each invocation (one
 * second of a shard's records, ADR 014: cost-model.ts eventsPerInvocation), on the clickstream
 * workload spread over the stream's shards (4 on a new on-demand stream). Measured, not scaled:
 * rows and id-log appends per event depend on how many events share a batch (at 100M events a
 * month about ten), and the shards share rows (a row is per view, key, bucket and arrival bucket).
 * Each shard is served by an instance of its own (Lambda gives shards no affinity, and runs them
 * concurrently), with its own row cache, so what the others wrote since makes its conditional
 * write fail: DynamoDB bills a failed conditional write like a write of the item, and the instance
 * then reads the row (strongly consistent) and writes again. A row holds a fence per shard that
 * wrote it. Until 2026-12-05 this simulated one shard: no conflicts, one fence a row.
 */
async function speedWritesAt(
  eventsPerMonth: number,
  stream: StreamCapacity,
  batchingWindowSeconds = 0,
): Promise<SpeedLines> {
  const batch = eventsPerInvocation(eventsPerMonth, stream, batchingWindowSeconds);
  const rate = shardEventsPerSecond(eventsPerMonth, stream);
  const shards = stream.mode === 'on-demand' ? ON_DEMAND_SHARDS : stream.shards;
  // About 50,000 events of the stream (20,000 in --quick), as 100 to 400 batches of each shard (25
  // to 400 in --quick): the in-memory id log answers a read in time linear in its items, so many
  // tiny batches take quadratic time, and huge ones would keep --quick over 3 minutes.
  const budget = quick ? 20_000 : 50_000;
  const batchesPerShard = Math.min(400, Math.max(quick ? 25 : 100, Math.round(budget / (shards * batch))));
  const events = shards * batch * batchesPerShard;
  const w = await writesAcrossShards(events, batch, shards, rate * shards);
  return speedLines(w, events, batch, rate, shards);
}

/** The speed layer's cost figures per event from a simulation's billed writes and reads. */
function speedLines(
  w: { rowWriteUnits: number; dedupeWriteUnits: number; rowReads: number; conflicts: number },
  events: number,
  batch: number,
  rate: number,
  shards: number,
): SpeedLines {
  return {
    rowWriteUnitsPerEvent: w.rowWriteUnits / events,
    dedupeWriteUnitsPerEvent: w.dedupeWriteUnits / events,
    // One strongly consistent id-log Query per batch (1 read unit at least), and a row read after
    // each failed conditional write (rows are under 4 KB: 1 read unit).
    readUnitsPerEvent: 1 / batch + w.rowReads / events,
    speedBatchSize: batch,
    shardEventsPerSecond: Number(rate.toFixed(3)),
    shards,
    conflictsPerEvent: Number((w.conflicts / events).toFixed(4)),
  };
}

/**
 * `events` clickstream records of a stream of `shards` shards (record i on shard i mod shards),
 * `batchSize` of a shard's records an invocation, the shards' invocations taken in turn, each
 * shard by its own instance (row cache, id index) over one row table and one id log.
 */
async function writesAcrossShards(
  events: number,
  batchSize: number,
  shards: number,
  streamEventsPerSecond: number,
): Promise<{ rowWriteUnits: number; dedupeWriteUnits: number; rowReads: number; conflicts: number }> {
  const { rows, log, instances } = sharedTableInstances(shards);
  const rowReads = countRowReads(rows);
  const perShard: KinesisStreamEvent['Records'][] = Array.from({ length: shards }, () => []);
  const all = clickstreamBatch(events, 0, CLICKSTREAM_BASE, streamEventsPerSecond).Records;
  all.forEach((r, i) => {
    const { shard, record } = onShard(r, i, shards);
    perShard[shard].push(record);
  });
  for (let o = 0; o < perShard[0].length; o += batchSize)
    for (let shard = 0; shard < shards; shard++) {
      const Records = perShard[shard].slice(o, o + batchSize);
      if (Records.length > 0) await processSpeedBatch(decodeKinesisEvent({ Records }), instances[shard]);
    }
  return {
    ...billedRowWrites(rows),
    dedupeWriteUnits: billedIdLogWrites(log),
    rowReads: rowReads(),
  };
}

/**
 * The speed layer's writes and reads with the aggregation window (ADR 012) at a monthly volume:
 * Lambda's tumbling windows on each shard, the rows written when a window closes (or when its
 * state passes the flush threshold), the shards' instances over one table as in speedWritesAt, an
 * invocation per second of a shard's records (no batching window). At least 15 windows of the
 * stream and 2,000 events (2 windows and 1,000 events in --quick, which must stay under 3 minutes).
 */
async function windowedSpeedWritesAt(
  eventsPerMonth: number,
  stream: StreamCapacity,
  windowSeconds: number,
): Promise<SpeedLines & { windowSeconds: number }> {
  const batch = eventsPerInvocation(eventsPerMonth, stream);
  const rate = shardEventsPerSecond(eventsPerMonth, stream);
  const shards = stream.mode === 'on-demand' ? ON_DEMAND_SHARDS : stream.shards;
  const events = Math.max(
    quick ? 1_000 : 2_000,
    Math.round(rate * shards * windowSeconds * (quick ? 2 : 15)),
  );
  const w = await measureWindowedWrites(events, batch, windowSeconds, rate, shards);
  return { ...speedLines(w, events, batch, rate, shards), windowSeconds };
}

type ServingTableCost =
  | 'speedRowDeleteUnitsPerEvent'
  | 'speedRowScanUnitsPerEvent'
  | 'batchCellWriteUnitsPerEvent'
  | 'batchCellBytesPerEvent';

/**
 * What the serving tables cost beyond the speed layer's own writes, at a monthly volume: the
 * cleanup's deletion of every speed row, the Scans of the speed table by the cleanup and the
 * reconciliation, and the cells the scheduled batch runs write. Measured on the clickstream
 * workload as the whole stream delivers it: shards share rows
 * (a row is per view, key, bucket and arrival bucket, its fences per shard), so the stream's
 * second of events goes through one simulated speed layer. Rows of one-minute arrival buckets
 * (the stacks' default) are what the cleanup deletes; rows of one arrival bucket per batch run
 * (15 minutes, the default schedule) are the cells an incremental run writes: what the arrivals
 * since the last run touched, each with all of its bucket's events, as the batch cell holds them.
 */
async function servingTableCostsAt(eventsPerMonth: number): Promise<Pick<MeasuredCosts, ServingTableCost>> {
  const rate = eventsPerMonth / (30 * 24 * 3600);
  const batch = Math.min(SPEED_BATCH_SIZE, Math.max(1, Math.round(rate)));
  // An hour of the stream (5 minutes in --quick, to keep it under 3 minutes: the per-event
  // figures of 5, 30 and 60 minutes differed by under 2% at every volume here, 2026-12-05).
  const events = Math.max(batch, Math.round(rate * (quick ? 300 : 3600)));
  const finalRows = async (arrivalBucketMs: number) => {
    const { rows } = await runClickstream(speedDeps('shard', arrivalBucketMs), events, batch, rate);
    const last = new Map<string, number>();
    for (const w of rows.writes)
      if (w.outcome === 'written') last.set(JSON.stringify(w.address), w.bytes ?? 0);
    let units = 0;
    let bytes = 0;
    for (const b of last.values()) {
      units += Math.ceil(b / 1024);
      bytes += b;
    }
    return { units: units / events, bytes: bytes / events };
  };
  const speed = await finalRows(60_000);
  const cells = await finalRows(15 * 60_000);
  return {
    speedRowDeleteUnitsPerEvent: speed.units,
    // Two runs read each row: the cleanup's Scan at half a unit per 4 KB, and the
    // reconciliation's, strongly consistent, once per view (the bench's workload has one).
    speedRowScanUnitsPerEvent: (2 * (0.5 + CLICKSTREAM_VIEWS.length) * speed.bytes) / 4096,
    batchCellWriteUnitsPerEvent: cells.units,
    batchCellBytesPerEvent: cells.bytes,
  };
}

/**
 * Cost per million events at 1M, 100M and 1B a month from what was measured: as deployed by
 * default (on-demand stream), beside the full recomputation, the naive design, a provisioned
 * stream sized for a peak of 5 times the average rate, and that stream with a batching window.
 * The speed layer's writes, reads and invocations are those of the batch each volume gives an
 * invocation (speedWritesAt), not of the 500-record batches of `writes_per_event`.
 */
async function addCostFigures(measured: Omit<MeasuredCosts, ServingTableCost>): Promise<void> {
  for (const volume of [1e6, 1e8, 1e9]) {
    const shards = provisionedShards(volume, measured.eventBytes);
    const provisionedStream: StreamCapacity = { ...DEFAULT_STREAM, mode: 'provisioned', shards };
    const tables = await servingTableCostsAt(volume);
    const onDemand = { ...measured, ...tables, ...(await speedWritesAt(volume, DEFAULT_STREAM)) };
    const onShards = { ...measured, ...tables, ...(await speedWritesAt(volume, provisionedStream)) };
    const lines = costPerMillion(volume, onDemand);
    const full = costPerMillion(volume, { ...onDemand, incremental: undefined });
    const naive = naiveCostPerMillion(volume, { ...onDemand, incremental: undefined }, 1);
    const provisioned = costPerMillion(volume, onShards, provisionedStream);
    // The configuration a cost-minded user deploys: provisioned shards and a batching window.
    const windowed = {
      ...measured,
      ...tables,
      ...(await speedWritesAt(volume, provisionedStream, TUNED_WINDOW_S)),
    };
    const tuned = costPerMillion(volume, windowed, provisionedStream);
    // The cheapest configuration priced here: provisioned shards, the stream's 24 hours of
    // retention (no extended retention billed), and the speed layer's aggregation window.
    const leanStream: StreamCapacity = { mode: 'provisioned', shards, retentionHours: 24 };
    const leanMeasured = {
      ...measured,
      ...tables,
      ...(await windowedSpeedWritesAt(volume, leanStream, LEAN_AGGREGATION_WINDOW_S)),
    };
    const lean = costPerMillion(volume, leanMeasured, leanStream);
    const items = (of: readonly CostLine[]) =>
      Object.fromEntries(of.map((l) => [l.item, Number(l.usdPerMillionEvents.toFixed(4))]));
    const costParams = {
      eventsPerMonth: volume,
      measured: onDemand,
      items: items(lines),
      prices: 'us-east-1 list prices, bench/cost-model.ts',
    };
    add('cost_usd_per_million_events', Number(total(lines).toFixed(3)), 'USD per 1M events', costParams);
    add('full_recompute_cost_usd_per_million_events', Number(total(full).toFixed(3)), 'USD per 1M events', {
      eventsPerMonth: volume,
      design: 'every scheduled run reads the whole archive (ADR 004), today in the cloud',
      items: items(full),
    });
    add('naive_cost_usd_per_million_events', Number(total(naive).toFixed(3)), 'USD per 1M events', {
      eventsPerMonth: volume,
      design: 'one UpdateItem per event per view, same ingestion and batch path',
    });
    add(
      'provisioned_stream_cost_usd_per_million_events',
      Number(total(provisioned).toFixed(3)),
      'USD per 1M events',
      {
        eventsPerMonth: volume,
        design: `cdk deploy -c shardCount=${shards}: a provisioned stream sized for a peak of 5x the average rate, 7-day retention`,
        shards,
        measured: onShards,
        items: items(provisioned),
      },
    );
    add('tuned_cost_usd_per_million_events', Number(total(tuned).toFixed(3)), 'USD per 1M events', {
      eventsPerMonth: volume,
      design: `cdk deploy -c shardCount=${shards} -c speedBatchingWindowSeconds=${TUNED_WINDOW_S}: the speed layer's maxBatchingWindow at ${TUNED_WINDOW_S} s (up to ${TUNED_WINDOW_S} s more before an event is served)`,
      shards,
      measured: windowed,
      items: items(tuned),
    });
    add('lean_cost_usd_per_million_events', Number(total(lean).toFixed(3)), 'USD per 1M events', {
      eventsPerMonth: volume,
      design: `cdk deploy -c shardCount=${shards} -c streamRetentionHours=24 -c speedAggregationWindowSeconds=${LEAN_AGGREGATION_WINDOW_S}: provisioned shards, 24 h of stream retention, rows written once per ${LEAN_AGGREGATION_WINDOW_S} s window (an event is served up to ${LEAN_AGGREGATION_WINDOW_S} s later)`,
      shards,
      measured: leanMeasured,
      items: items(lean),
    });
  }
}

/** `npm run bench -- costs`: the cost figures again from the measurements in results.json (after a price or model change). */
async function recordCosts(): Promise<void> {
  const results = readResults();
  const measured = results?.metrics.find((m) => m.name === 'cost_usd_per_million_events')?.params.measured;
  if (measured === undefined)
    throw new Error(`${RESULTS_FILE} has no measured costs: run npm run bench first`);
  const costNames =
    /cost_usd_per_million_events$|_typed_columns(_share)?$|^batch_bytes_scanned_ratio(_local)?$/;
  metrics.splice(0, metrics.length);
  // The batch bench's latest result (it runs on its own too: npx tsx bench/batch-incremental.ts),
  // with the byte ratios the costs use (byte counts: they do not depend on the load; its seconds,
  // which do, are recorded by a whole bench run only).
  const inc = readResult<BatchIncrementalResult & Record<string, unknown>>('batch-incremental.json');
  await addCostFigures({ ...(measured as MeasuredCosts), incremental: incrementalCosts(inc) });
  const incParams = {
    history_events: inc.history_events,
    new_events: inc.new_events,
    days: 30,
    engine: inc.engine,
  };
  for (const name of [
    'compacted_typed_columns_share',
    'batch_bytes_scanned_ratio',
    'batch_bytes_scanned_ratio_local',
    'batch_bytes_scanned_ratio_typed_columns',
    'full_bytes_scanned_ratio_typed_columns',
  ])
    if (typeof inc[name] === 'number') add(name, inc[name], 'ratio', incParams);
  const kept = results!.metrics.filter((m) => !costNames.test(m.name));
  writeFileSync(RESULTS_FILE, JSON.stringify({ ...results, metrics: [...kept, ...metrics] }, null, 2) + '\n');
  rewriteSummary();
}

/**
 * `windowed_writes_per_event`: the aggregation window's writes (rows + id-log appends) per event,
 * 60 s windows, on the workload of `writes_per_event` (same records, batch size, stores); also at
 * the full size when that workload is the quick one (20 s of events fill a third of one window).
 */
async function addWindowedWrites(workload: Record<string, unknown> & { events: number; batchSize: number }) {
  for (const events of [...new Set([workload.events, FULL_WRITE_EVENTS])]) {
    const f = await measureWindowedWrites(events, workload.batchSize, 60);
    add('windowed_writes_per_event', (f.rowWrites + f.dedupeWrites) / f.events, 'writes/event', {
      ...workload,
      events,
      aggregationWindow: '60s',
      rowWrites: f.rowWrites,
      dedupeWrites: f.dedupeWrites,
      windows: f.windows,
      earlyFlushes: f.earlyFlushes,
      maxStateBytes: f.maxStateBytes,
      clock: 'simulated: records carry their arrival times, windows are cut on them',
      measuredAt: new Date().toISOString(),
    });
  }
}

/**
 * The batch-at-scale configurations: the quick run (under 3 minutes in all) times only the
 * runtime's steady state, its defaults over the compacted archive; the full run adds raw NDJSON
 * and the settings for large runs.
 */
const BATCH_SCALE_CONFIGS = (quickRun: boolean): readonly string[][] =>
  quickRun ? [['--compacted']] : [['--compacted'], [], ['--compacted', '--memory-limit=1GB', '--threads=2']];

/** Runs bench/batch-scale.ts over `events` with `args` and adds its figures (replacing the same configuration's). */
function addBatchScale(events: number, args: readonly string[]): void {
  // --record-only records bench/results/batch-scale.json as the last run left it.
  if (!args.includes('--record-only'))
    runScript('batch-scale.ts', [String(events), String(Math.max(10, Math.round(events / 10_000))), ...args]);
  const r = readResult<{
    date: string;
    machine: Record<string, unknown>;
    archive: { events: number; objects: number; ndjsonBytes: number };
    duckdb: { memoryLimit?: string; threads?: number };
    compacted: boolean;
    compaction_s: number | null;
    batch_events_per_s: number;
    batch_seconds: number;
    batch_peak_rss_mb: number;
    batch_cpu_s?: number;
    cells: number;
    step_ms: Record<string, number>;
  }>('batch-scale.json');
  const params = {
    archived: r.archive.events,
    ndjsonMiB: Math.round(r.archive.ndjsonBytes / 1024 ** 2),
    archive: r.compacted ? 'compacted Parquet, typed columns (ADR 013)' : 'raw NDJSON',
    memoryLimit: r.duckdb.memoryLimit ?? '256MB (default)',
    threads: r.duckdb.threads ?? 1,
    seconds: r.batch_seconds,
    cpuSeconds: r.batch_cpu_s ?? null,
    compactionSeconds: r.compaction_s,
    cells: r.cells,
    stepMs: r.step_ms,
    loadAverage1m: r.machine.loadAverage1m,
    date: r.date,
  };
  const same = (m: Metric) =>
    ['archived', 'archive', 'memoryLimit', 'threads'].every(
      (k) => m.params[k] === (params as Record<string, unknown>)[k],
    );
  const kept = metrics.filter(
    (m) => !(['batch_events_per_s', 'batch_peak_rss_mb'].includes(m.name) && same(m)),
  );
  metrics.splice(0, metrics.length, ...kept);
  add('batch_events_per_s', r.batch_events_per_s, 'events/s', params);
  add('batch_peak_rss_mb', r.batch_peak_rss_mb, 'MiB', params);
}

/** `npm run bench -- batch ...`: measures the batch at scale in one configuration and records it. */
function recordBatchScale(args: readonly string[]): void {
  const results = readResults();
  if (!results) throw new Error(`${RESULTS_FILE} is missing: run npm run bench first`);
  metrics.splice(0, metrics.length, ...results.metrics);
  const events = Number(args.find((a) => /^\d+$/.test(a)) ?? 1_000_000);
  addBatchScale(
    events,
    args.filter((a) => a.startsWith('--')),
  );
  writeFileSync(RESULTS_FILE, JSON.stringify({ ...results, metrics }, null, 2) + '\n');
  rewriteSummary();
  console.log(
    JSON.stringify(
      metrics.filter((m) => m.name.startsWith('batch_') && m.params.archived === events),
      null,
      2,
    ),
  );
}

/** `npm run bench -- windowed`: measures only windowed_writes_per_event (on the recorded workload) and records it. */
async function recordWindowedWrites(): Promise<void> {
  const results = readResults();
  const workload = results?.metrics.find((m) => m.name === 'writes_per_event')?.params as
    (Record<string, unknown> & { events: number; batchSize: number }) | undefined;
  if (!results || !workload)
    throw new Error(`${RESULTS_FILE} has no writes_per_event: run npm run bench first`);
  await addWindowedWrites(workload);
  const measured = metrics.filter((m) => m.name === 'windowed_writes_per_event');
  const at = results.metrics.findIndex((m) => m.name === 'windowed_writes_per_event');
  const others = results.metrics.filter((m) => m.name !== 'windowed_writes_per_event');
  writeFileSync(
    RESULTS_FILE,
    JSON.stringify(
      { ...results, metrics: [...others.slice(0, at), ...measured, ...others.slice(at)] },
      null,
      2,
    ) + '\n',
  );
  rewriteSummary();
  console.log(JSON.stringify(measured, null, 2));
}

/** Runs the query latency benchmark in both modes: the late-heavy one (query_p*_ms) and the mostly on-time one. */
function runQueryLatency(): void {
  runScript('query-latency.ts', [quick ? '60' : '300', 'late']);
  runScript('query-latency.ts', [quick ? '60' : '300', 'ontime']);
}

/** query_p50_ms / query_p99_ms (every trickle event late) and query_ontime_p50_ms / p99 (1 in 100 late) from the last runs. */
function addQueryFigures(): void {
  for (const [file, prefix, ingesting] of [
    ['query-latency.json', 'query', '~500 events/s, every one late (a random minute of the day queried)'],
    ['query-latency-ontime.json', 'query_ontime', '~500 events/s, 1 in 100 late, the rest stamped as sent'],
  ] as const) {
    const query = readResult<{
      query_p50_ms: number;
      query_p99_ms: number;
      query_first_ms?: number;
      bucketsPerAnswer: number;
      queries: number;
      machine: { loadAverage1m: number };
    }>(file);
    const params = {
      buckets: query.bucketsPerAnswer,
      queries: query.queries,
      ingesting,
      loadAverage1m: query.machine.loadAverage1m,
    };
    add(`${prefix}_p50_ms`, query.query_p50_ms, 'ms', params);
    add(`${prefix}_p99_ms`, query.query_p99_ms, 'ms', params);
    // The cold first query, not in the percentiles (query-latency.ts).
    if (query.query_first_ms !== undefined) add(`${prefix}_first_ms`, query.query_first_ms, 'ms', params);
  }
}

/**
 * The variants beside the default run (1,000 keys, a standard iterator): enhanced fan-out (ADR
 * 025), and 50 keys (the built-in generator's pages, a load the local speed layer keeps up with),
 * each with and without it: what enhanced fan-out changes once the function keeps up, and what it
 * cannot change while it does not.
 */
const VISIBILITY_VARIANTS = [
  { prefix: 'e2e_visibility_efo', file: 'e2e-visibility-efo.json', args: ['--enhanced-fan-out'] },
  { prefix: 'e2e_visibility_50keys', file: 'e2e-visibility-50keys.json', args: ['--keys', '50'] },
  {
    prefix: 'e2e_visibility_efo_50keys',
    file: 'e2e-visibility-efo-50keys.json',
    args: ['--keys', '50', '--enhanced-fan-out'],
  },
] as const;

function runVisibility(): void {
  runScript('e2e-visibility.ts', [quick ? '15' : '60', '1000']);
  // Shorter in the quick run, which must stay under 3 minutes in all (6 s each: 60 markers).
  for (const v of VISIBILITY_VARIANTS)
    runScript('e2e-visibility.ts', [quick ? '6' : '60', '1000', ...v.args, '--out', v.file]);
}

/** e2e_visibility_p50_ms / p95 from the last run of bench/e2e-visibility.ts. */
function addVisibilityFigures(): void {
  const vis = readResult<{
    e2e_visibility_p50_ms: number;
    e2e_visibility_p95_ms: number;
    warmupSeconds?: number;
    probesAfterWarmup?: number;
    e2e_visibility_after_warmup_p50_ms?: number | null;
    e2e_visibility_after_warmup_p95_ms?: number | null;
    achievedRate: number;
    probes: number;
    speedBatchingWindowMs?: number;
    machine: { loadAverage1m: number };
  }>('e2e-visibility.json');
  const visParams = {
    rate: vis.achievedRate,
    probes: vis.probes,
    perRequest: 100,
    dedupe: 'shard',
    batchingWindowMs: vis.speedBatchingWindowMs ?? 1000,
    loadAverage1m: vis.machine.loadAverage1m,
  };
  add('e2e_visibility_p50_ms', vis.e2e_visibility_p50_ms, 'ms', visParams);
  add('e2e_visibility_p95_ms', vis.e2e_visibility_p95_ms, 'ms', visParams);
  addAfterWarmup('e2e_visibility', vis, visParams);
  for (const v of VISIBILITY_VARIANTS) {
    const r = readResult<typeof vis & { keys: number; enhancedFanOut: boolean; seconds: number }>(v.file);
    const params = {
      ...visParams,
      rate: r.achievedRate,
      probes: r.probes,
      seconds: r.seconds,
      keys: r.keys,
      enhancedFanOut: r.enhancedFanOut,
      loadAverage1m: r.machine.loadAverage1m,
    };
    add(`${v.prefix}_p50_ms`, r.e2e_visibility_p50_ms, 'ms', params);
    add(`${v.prefix}_p95_ms`, r.e2e_visibility_p95_ms, 'ms', params);
    addAfterWarmup(v.prefix, r, params);
  }
}

/**
 * `<prefix>_after_warmup_p50_ms` / p95: the same run's markers acknowledged after its first
 * seconds (bench/e2e-visibility.ts WARMUP_S), when it ran long enough (not in --quick).
 */
function addAfterWarmup(
  prefix: string,
  r: {
    warmupSeconds?: number;
    probesAfterWarmup?: number;
    e2e_visibility_after_warmup_p50_ms?: number | null;
    e2e_visibility_after_warmup_p95_ms?: number | null;
  },
  params: Record<string, unknown>,
): void {
  const p50 = r.e2e_visibility_after_warmup_p50_ms;
  const p95 = r.e2e_visibility_after_warmup_p95_ms;
  if (p50 == null || p95 == null) return;
  const after = { ...params, afterSeconds: r.warmupSeconds, probes: r.probesAfterWarmup };
  add(`${prefix}_after_warmup_p50_ms`, p50, 'ms', after);
  add(`${prefix}_after_warmup_p95_ms`, p95, 'ms', after);
}

/** The AWS SDK's own CPU per DynamoDB request, by client (bench/sdk-request-cpu.ts). */
async function addSdkFigures(): Promise<void> {
  const sdk = await measureSdkRequestCpu(quick ? 2_000 : 20_000, quick ? 3 : 5);
  const sdkParams = {
    requests: sdk.requests,
    command: 'UpdateItem of a 1 KB speed row',
    transport: 'instant',
  };
  add('sdk_update_item_cpu_us', sdk.documentClientDefaultUs, 'µs/request', {
    ...sdkParams,
    client: 'document client, SDK defaults',
  });
  add('sdk_update_item_cpu_us', sdk.documentClientUs, 'µs/request', {
    ...sdkParams,
    client: 'document client, one signer (makeDynamoDocumentClient)',
  });
  add('sdk_update_item_cpu_us', sdk.itemClientUs, 'µs/request', {
    ...sdkParams,
    client: 'item client (makeDynamoDbItemClient): the speed rows and Kappa cells',
  });
}

/**
 * `npm run bench -- latency [--record-only]`: runs only the query and visibility benchmarks
 * (or, with --record-only, takes their last results from bench/results/) and puts their figures
 * in results.json in place of the recorded ones.
 */
function recordLatency(recordOnly: boolean): void {
  const results = readResults();
  if (!results) throw new Error(`${RESULTS_FILE} is missing: run npm run bench first`);
  if (!recordOnly) {
    runQueryLatency();
    runVisibility();
  }
  addQueryFigures();
  addVisibilityFigures();
  recordInPlace();
}

/** Puts the figures measured by this run in results.json in place of the recorded ones of the same names. */
function recordInPlace(): void {
  const results = readResults();
  if (!results) throw new Error(`${RESULTS_FILE} is missing: run npm run bench first`);
  const names = new Set(metrics.map((m) => m.name));
  const at = results.metrics.findIndex((m) => names.has(m.name));
  const others = results.metrics.filter((m) => !names.has(m.name));
  const where = at < 0 ? others.length : at;
  writeFileSync(
    RESULTS_FILE,
    JSON.stringify(
      { ...results, metrics: [...others.slice(0, where), ...metrics, ...others.slice(where)] },
      null,
      2,
    ) + '\n',
  );
  const recorded = [...metrics];
  rewriteSummary();
  console.log(JSON.stringify(recorded, null, 2));
}

async function main(): Promise<void> {
  quietSdkNodeWarning();
  const args = process.argv.slice(2);
  if (args[0] === 'windowed') {
    await recordWindowedWrites();
    return;
  }
  if (args[0] === 'soak') {
    if (!args.includes('--record-only'))
      execFileSync(process.execPath, ['--import', 'tsx', path.join(__dirname, 'soak.ts'), ...args.slice(1)], {
        stdio: 'inherit',
        cwd: path.resolve(__dirname, '..'),
      });
    recordSoak();
    rewriteSummary();
    return;
  }
  if (args[0] === 'batch') {
    recordBatchScale(args.slice(1));
    return;
  }
  if (args[0] === 'costs') {
    await recordCosts();
    return;
  }
  if (args[0] === 'latency') {
    recordLatency(args.includes('--record-only'));
    return;
  }
  if (args[0] === 'sdk') {
    await addSdkFigures();
    recordInPlace();
    return;
  }
  if (args[0] === 'record') {
    // Re-renders RESULTS.md from results.json and the soak and fault figures recorded since.
    rewriteSummary();
    return;
  }
  const started = Date.now();
  // 1. The speed handler's CPU path beside bare base64 + JSON.parse of the same records, and the
  // ingest handler's beside bare JSON.parse of the same request bodies.
  const view = 'page_views (count, sum, distinct, max, avg)';
  const records = quick ? 30_000 : 200_000;
  for (const batchSize of [100, 500, 10_000]) {
    const f = await timedPart(`speed handler, batch ${batchSize}`, () =>
      measureSpeedHandler(records, batchSize, quick ? 2 : 3),
    );
    addBesideParse(
      '',
      'speed_handler',
      'records/s',
      [f.bareParseRecordsPerS, f.speedHandlerRecordsPerS, f.ratio],
      {
        records,
        batchSize,
        view,
        stores: 'in memory',
      },
    );
  }
  for (const perRequest of [100, 500]) {
    const events = quick ? 20_000 : 100_000;
    const f = await timedPart(`ingest handler, ${perRequest} a request`, () =>
      measureIngestHandler(events, perRequest, quick ? 2 : 3),
    );
    addBesideParse(
      'ingest_',
      'ingest_handler',
      'events/s',
      [f.bareParseEventsPerS, f.ingestHandlerEventsPerS, f.ratio],
      {
        events,
        perRequest,
        view,
        stream: 'no-op',
      },
    );
  }
  // The AWS SDK's own CPU per speed-row write (an instant transport): the clients the handlers use
  // beside the document client as the SDK builds it by default.
  await timedPart('SDK CPU per request', addSdkFigures);
  // 2. DynamoDB item writes per event at the default configuration (batch 500, dedupe on).
  const events = quick ? 20_000 : 100_000;
  const w = await timedPart('writes per event (shard dedupe)', () => writesPerEvent(events, 500, 'shard'));
  const g = await timedPart('writes per event (global dedupe)', () => writesPerEvent(events, 500, 'global'));
  const workload = {
    events,
    batchSize: 500,
    keys: 'Zipf over 1,000 pages',
    granularity: '1m',
    rate: '1,000 events/s per shard',
    views: 1,
  };
  add('writes_per_event', (w.rows + w.dedupe) / events, 'writes/event', workload);
  add('dedupe_writes_per_event', w.dedupe / events, 'writes/event', { ...workload, dedupeScope: 'shard' });
  add('dedupe_write_units_per_event', w.dedupeWriteUnits / events, 'write units/event', {
    ...workload,
    dedupeScope: 'shard',
    note: 'per started KB of each id-log item (compressed entries + 200 bytes of keys)',
  });
  add('global_dedupe_writes_per_event', g.dedupe / events, 'writes/event', {
    ...workload,
    dedupeScope: 'global',
  });
  add('global_writes_per_event', (g.rows + g.dedupe) / events, 'writes/event', {
    ...workload,
    dedupeScope: 'global',
  });
  add('naive_writes_per_event', 1, 'writes/event', {
    ...workload,
    design: 'one UpdateItem per event per view',
  });
  await timedPart('windowed writes', () => addWindowedWrites(workload));
  // 3. The local stream's ceiling, then end to end through npm start's runtime.
  add(
    'kinesis_emulator_put_records_per_s',
    Math.round(await timedPart('kinesalite PutRecords', () => kinesisBaseline(quick ? 20_000 : 100_000))),
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
    speedBatchSize: SPEED_BATCH_SIZE,
    dedupe: true,
    through: 'POST /events -> speed rows served',
  });
  add('http_ingest_events_per_s', e2e.ingest.eventsPerSecond, 'events/s', {
    events: e2eEvents,
    perRequest: 500,
  });
  // 4. Replay and the batch recomputation of the same archive.
  const archived = quick ? 50_000 : 1_000_000;
  runScript('replay.ts', [String(archived), quick ? '10' : '100']);
  const replay = readResult<{
    replay: { replay_events_per_s: number };
    batch: { batch_events_per_s: number };
  }>('replay.json');
  add('replay_events_per_s', replay.replay.replay_events_per_s, 'events/s', { archived });
  // The batch recomputation of the replay's own archive, for the comparison (its s3rver copy, DuckDB's defaults).
  add('replay_archive_batch_events_per_s', replay.batch.batch_events_per_s, 'events/s', {
    archived,
    engine: 'DuckDB',
  });
  // 4b. The batch layer at scale (issue 10): 250,000 archived events in --quick (generating a
  // larger archive would take most of its 3 minutes), 10M in the full run, at the runtime's
  // DuckDB defaults and at the settings chosen for large runs (README).
  for (const args of BATCH_SCALE_CONFIGS(quick)) addBatchScale(quick ? 250_000 : 10_000_000, args);
  // 5. GET /views over a day of one-minute buckets (batch and speed parts) while events arrive.
  runQueryLatency();
  addQueryFigures();
  // 6. Incremental vs full batch runs: 30 days of history plus one new hour (2% of it late).
  // 10M (the full size) takes hours on 2 cores with full runs at ~1,000 events/s: 1M here.
  runScript('batch-incremental.ts', [quick ? '100000' : '1000000']);
  const inc = readResult<{
    history_events: number;
    new_events: number;
    batch_full_s: number;
    batch_incremental_s: number;
    batch_bytes_scanned_ratio: number;
    batch_bytes_scanned_ratio_local: number;
    batch_incremental_s_cloud_shape: number;
    batch_cells_written_ratio: number;
    batch_bytes_scanned_ratio_ndjson: number;
    batch_incremental_s_ndjson: number;
    batch_full_s_ndjson: number;
    compacted_to_ndjson_ratio: number;
    compacted_typed_columns_share: number;
    batch_bytes_scanned_ratio_typed_columns: number;
    full_bytes_scanned_ratio_typed_columns: number;
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
  // The cloud's query shape (no materialize, ADR 020): what the cost model prices as Athena's scans.
  add('batch_bytes_scanned_ratio', inc.batch_bytes_scanned_ratio, 'ratio', incParams);
  add('batch_bytes_scanned_ratio_local', inc.batch_bytes_scanned_ratio_local, 'ratio', incParams);
  add('batch_incremental_s_cloud_shape', inc.batch_incremental_s_cloud_shape, 's', incParams);
  add('batch_cells_written_ratio', inc.batch_cells_written_ratio, 'ratio', incParams);
  add('batch_bytes_scanned_ratio_ndjson', inc.batch_bytes_scanned_ratio_ndjson, 'ratio', incParams);
  add('batch_incremental_s_ndjson', inc.batch_incremental_s_ndjson, 's', incParams);
  add('batch_full_s_ndjson', inc.batch_full_s_ndjson, 's', incParams);
  add('compacted_to_ndjson_ratio', inc.compacted_to_ndjson_ratio, 'ratio', incParams);
  // ADR 019: what Athena would scan reading typed generations by column (a projection).
  add('compacted_typed_columns_share', inc.compacted_typed_columns_share, 'ratio', incParams);
  add(
    'batch_bytes_scanned_ratio_typed_columns',
    inc.batch_bytes_scanned_ratio_typed_columns,
    'ratio',
    incParams,
  );
  add(
    'full_bytes_scanned_ratio_typed_columns',
    inc.full_bytes_scanned_ratio_typed_columns,
    'ratio',
    incParams,
  );

  // 7. Acknowledgement -> visible in GET /views, at 1,000 events/s.
  runVisibility();
  addVisibilityFigures();

  // 8. Cost per million events from the measured writes, bytes and handler speed (bench/cost-model.ts).
  const handler500 = metrics.find(
    (m) => m.name === 'speed_handler_records_per_s' && m.params.batchSize === 500,
  );
  const measured: Omit<MeasuredCosts, ServingTableCost> = {
    eventBytes: Math.round(w.eventBytes),
    eventsPerRequest: 100,
    rowWriteUnitsPerEvent: w.rowWriteUnits / events,
    dedupeWriteUnitsPerEvent: w.dedupeWriteUnits / events,
    // One strongly consistent id-log Query per batch (1 read unit at least); the row cache hit every row.
    readUnitsPerEvent: 1 / 500,
    speedRecordsPerSecond: handler500?.value ?? 10_000,
    speedBatchSize: 500,
    waitMsPerBatch: 100,
    batchScannedFraction: 1,
    batchRunsPerDay: 96,
    // Per view: the touched buckets, the cells, the reconciliation.
    batchQueriesPerRun: 3 * loadViews(path.resolve(__dirname, '..', 'views.ts')).length,
    incremental: incrementalCosts(readResult<BatchIncrementalResult>('batch-incremental.json')),
  };
  await timedPart('cost model', () => addCostFigures(measured));

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
  // The soak runs on its own (npm run bench -- soak): its last figures stay.
  const previous = readResults();
  const soakFigures = previous?.metrics.filter((m) => m.name.startsWith('soak_')) ?? [];
  writeFileSync(
    RESULTS_FILE,
    JSON.stringify(
      {
        ...result,
        metrics: [...metrics, ...soakFigures],
        ...(previous?.soak ? { soak: previous.soak } : {}),
      },
      null,
      2,
    ) + '\n',
  );
  writeFileSync(path.join(__dirname, 'RESULTS.md'), summary(metrics, result));
  formatMarkdown(path.join(__dirname, 'RESULTS.md'));
  const byBatch = (name: string, b: number) =>
    metrics.find((m) => m.name === name && m.params.batchSize === b)?.value ?? 0;
  writeFileSync(
    path.join(__dirname, 'throughput.svg'),
    throughputChart(
      [100, 500, 10_000].map((b) => ({
        batchSize: b,
        bareParse: byBatch('bare_parse_records_per_s', b),
        handler: byBatch('speed_handler_records_per_s', b),
      })),
      `Records/s by batch size (${cpus().length} cores, ${result.date.slice(0, 10)})`,
    ),
  );
  console.log(summary(metrics, result));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
