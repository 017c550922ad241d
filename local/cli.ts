import { parseArgs } from 'node:util';
import { parseDuration } from '../lambdas/core/time';
import { BATCH_USAGE, parseBatchCommand, runBatchCommand } from './batch-command';
import { quietSdkNodeWarning } from './handler-host';
import type { DedupeScope } from '../lambdas/runtime/config';
import { MIN_REPLAY_HANDOFF_DELAY_MS } from '../lambdas/runtime/function-environment';
import { EMULATOR_THREADS, type EmulatorThreads } from './emulators';
import { loadViews } from './load-views';
import { DEFAULT_OPTIONS, LocalPipeline, type LocalPipelineOptions } from './pipeline';
import { ProgressLine } from './progress';

const USAGE = `Usage: streamfold start [options]
       streamfold batch [--full | --from <time> --to <time>]   (streamfold batch --help)

Runs the Lambda architecture (or the Kappa one, or both) locally: emulators, the deployed
handlers, their event sources, the archive, the batch schedule or the replay, and the HTTP API.

Options:
  --views <file>            views module (.ts or .js)                 [views.ts]
  --port <n>                HTTP port of the API (0 = any free port)  [3000]
  --data-dir <dir>          where data is kept across restarts        [.data]
  --in-memory               keep nothing on disk
  --no-generator            do not send synthetic events
  --rate <n>                synthetic events per second               [20]
  --batch-every <duration>  batch layer schedule, e.g. 30s, 5m        [1m]
  --archive-flush <duration> archiver flush interval                  [5s]
  --arrival-bucket <duration> cutoff alignment / speed row width     [1s]
  --compaction-period <duration> compact the archive into Parquet before a
                            batch run once a period of arrivals is over [1d]
  --no-compaction           batch runs read the raw NDJSON archive only
  --duckdb-memory <size>    DuckDB's memory limit for batch runs; past it DuckDB
                            spills to disk, e.g. 256MB, 2GB          [256MB]
  --duckdb-threads <n>      DuckDB's threads for batch runs             [1]
  --shards <n>              shards of the local stream                [2]
  --no-speed-dedupe         turn the speed layer's event-id dedupe off
  --dedupe-scope <s>        shard (copies sharing a partition key, ~1 write per
                            batch) or global (one claim per event)       [shard]
  --aggregation-window <duration> speed layer: fold batches in a tumbling window
                            and write each row once per window (rows appear
                            when the window closes), up to 15m; 0 = off   [0]
  --enhanced-fan-out        read the stream as an enhanced fan-out consumer
                            (records pushed: a caught-up shard is read every
                            200 ms instead of once a second)
  --endpoint <url>          an AWS-compatible endpoint (LocalStack) instead of the
                            embedded emulators                    [$AWS_ENDPOINT_URL]
  --architecture <a>        lambda, kappa, or both on one stream (Lambda at
                            /views, Kappa at /kappa/views)          [lambda]
  --no-auto-replay          kappa: do not start a replay at start for views
                            not built with their current definition
  --replay-handoff <duration> kappa: how far ahead a replay's handoff is set [3s]
  --heap-snapshots <dir>    on kill -USR2 <pid>, write V8 heap snapshots of the main
                            thread and every worker into <dir>
  --emulator-threads <t>    where the emulators run: none (the main thread), each
                            (a worker thread each) or shared (one worker) [none]
  -h, --help`;

function integer(text: string, option: string, min: number): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min)
    throw new Error(`${option} must be an integer >= ${min} (given ${JSON.stringify(text)})`);
  return value;
}

export function parseCli(argv: readonly string[]): LocalPipelineOptions | 'help' {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      views: { type: 'string', default: 'views.ts' },
      port: { type: 'string', default: String(DEFAULT_OPTIONS.port) },
      'data-dir': { type: 'string', default: DEFAULT_OPTIONS.dataDir ?? '.data' },
      'in-memory': { type: 'boolean', default: false },
      'no-generator': { type: 'boolean', default: false },
      rate: { type: 'string', default: String(DEFAULT_OPTIONS.generatorRate) },
      'batch-every': { type: 'string', default: '1m' },
      'archive-flush': { type: 'string', default: '5s' },
      'arrival-bucket': { type: 'string', default: '1s' },
      'compaction-period': { type: 'string', default: '1d' },
      'no-compaction': { type: 'boolean', default: false },
      'duckdb-memory': { type: 'string' },
      'duckdb-threads': { type: 'string' },
      shards: { type: 'string', default: String(DEFAULT_OPTIONS.shards) },
      'no-speed-dedupe': { type: 'boolean', default: false },
      'dedupe-scope': { type: 'string', default: 'shard' },
      'aggregation-window': { type: 'string', default: '0s' },
      'enhanced-fan-out': { type: 'boolean', default: false },
      architecture: { type: 'string', default: 'lambda' },
      'no-auto-replay': { type: 'boolean', default: false },
      'replay-handoff': { type: 'string', default: '3s' },
      endpoint: { type: 'string', default: process.env.AWS_ENDPOINT_URL ?? '' },
      'heap-snapshots': { type: 'string' },
      'emulator-threads': { type: 'string', default: 'none' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return 'help';
  const command = positionals[0] ?? 'start';
  if (command !== 'start') throw new Error(`unknown command "${command}"; the commands are: start, batch`);
  const architecture = values.architecture;
  if (architecture !== 'lambda' && architecture !== 'kappa' && architecture !== 'both') {
    throw new Error(`--architecture must be lambda, kappa or both (given ${JSON.stringify(architecture)})`);
  }
  const arrivalBucketMs = parseDuration(values['arrival-bucket'], '--arrival-bucket');
  if (arrivalBucketMs < 1000 || 60_000 % arrivalBucketMs !== 0) {
    throw new Error(
      `--arrival-bucket must be at least 1s and divide a minute evenly, e.g. 1s, 5s, 1m (given ${values['arrival-bucket']})`,
    );
  }
  const compactionPeriodMs = parseDuration(values['compaction-period'], '--compaction-period');
  if (compactionPeriodMs < 1000)
    throw new Error(
      `--compaction-period must be at least 1s (given ${values['compaction-period']}); --no-compaction turns compaction off`,
    );
  const aggregationWindowMs = parseDuration(values['aggregation-window'], '--aggregation-window');
  if (aggregationWindowMs % 1000 !== 0 || aggregationWindowMs > 900_000)
    throw new Error(
      `--aggregation-window must be whole seconds from 0s to 15m, as Lambda's tumbling windows (given ${values['aggregation-window']})`,
    );
  const duckdbMemory = values['duckdb-memory'];
  if (duckdbMemory !== undefined && !/^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/i.test(duckdbMemory))
    throw new Error(
      `--duckdb-memory must be a size such as 256MB or 2GB (given ${JSON.stringify(duckdbMemory)})`,
    );
  const emulatorThreads = values['emulator-threads'];
  if (!Object.keys(EMULATOR_THREADS).includes(emulatorThreads))
    throw new Error(
      `--emulator-threads must be ${Object.keys(EMULATOR_THREADS).join(', ')} (given ${JSON.stringify(emulatorThreads)})`,
    );
  const replayHandoffDelayMs = parseDuration(values['replay-handoff'], '--replay-handoff');
  // A replay records its handoff this far ahead, and fails if the control table write lands after
  // it: at 0 every replay failed (black-box probe, 2026-12-06).
  if (replayHandoffDelayMs < MIN_REPLAY_HANDOFF_DELAY_MS)
    throw new Error(
      `--replay-handoff must be at least ${MIN_REPLAY_HANDOFF_DELAY_MS}ms: a replay's handoff must be written before it passes (given ${values['replay-handoff']})`,
    );
  const batchEveryMs = parseDuration(values['batch-every'], '--batch-every');
  const archiveFlushMs = parseDuration(values['archive-flush'], '--archive-flush');
  return {
    ...DEFAULT_OPTIONS,
    views: loadViews(values.views),
    port: integer(values.port, '--port', 0),
    dataDir: values['in-memory'] ? null : values['data-dir'],
    generator: !values['no-generator'],
    generatorRate: integer(values.rate, '--rate', 1),
    batchEveryMs,
    // A first batch soon after start, so a new user sees the handoff without waiting a whole interval.
    firstBatchAfterMs: Math.min(batchEveryMs, archiveFlushMs + 5_000),
    archiveFlushMs,
    arrivalBucketMs,
    shards: integer(values.shards, '--shards', 1),
    speedDedupe: !values['no-speed-dedupe'],
    dedupeScope: dedupeScope(values['dedupe-scope']),
    speedAggregationWindowMs: aggregationWindowMs,
    enhancedFanOut: values['enhanced-fan-out'],
    endpoint: values.endpoint || undefined,
    architecture,
    kappaAutoReplay: !values['no-auto-replay'],
    replayHandoffDelayMs,
    compactionPeriodMs: values['no-compaction'] ? 0 : compactionPeriodMs,
    ...(duckdbMemory !== undefined ? { duckdbMemoryLimit: duckdbMemory } : {}),
    ...(values['heap-snapshots'] !== undefined ? { heapSnapshotDir: values['heap-snapshots'] } : {}),
    emulatorThreads: emulatorThreads as EmulatorThreads,
    ...(values['duckdb-threads'] !== undefined
      ? { duckdbThreads: integer(values['duckdb-threads'], '--duckdb-threads', 1) }
      : {}),
  };
}

function dedupeScope(value: string): DedupeScope {
  if (value !== 'shard' && value !== 'global')
    throw new Error(`--dedupe-scope must be shard or global (given ${JSON.stringify(value)})`);
  return value;
}

/** `streamfold batch ...`: asks a running instance for a batch run. */
async function batchMain(argv: readonly string[]): Promise<void> {
  let command;
  try {
    command = parseBatchCommand(argv);
  } catch (error) {
    console.error(`streamfold batch: ${(error as Error).message}\n\n${BATCH_USAGE}`);
    process.exit(2);
  }
  if (command === 'help') {
    console.log(BATCH_USAGE);
    return;
  }
  const { status, text } = await runBatchCommand(command);
  console.log(text);
  if (status !== 200) process.exit(1);
}

export async function main(): Promise<void> {
  quietSdkNodeWarning();
  if (process.argv[2] === 'batch') return batchMain(process.argv.slice(3));
  let options: LocalPipelineOptions | 'help';
  try {
    options = parseCli(process.argv.slice(2));
  } catch (error) {
    console.error(`streamfold: ${(error as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (options === 'help') {
    console.log(USAGE);
    return;
  }
  const pipeline = new LocalPipeline(options);
  await pipeline.start();
  const e = pipeline.endpoints!;
  const architecture = options.architecture ?? 'lambda';
  const routes = {
    lambda: 'POST /events, GET /views/{view}?<key>=..., GET /health, GET /admin/status, POST /admin/batch',
    kappa:
      'POST /events, GET /views/{view}?<key>=..., GET /health, GET /admin/status, POST /admin/replay, POST /admin/rollback',
    both: 'POST /events, Lambda: GET /views/{view}, POST /admin/batch; Kappa: GET /kappa/views/{view}, POST /admin/replay, POST /admin/rollback; GET /admin/status',
  }[architecture];
  console.log(`streamfold is running (architecture: ${architecture})
  API:       ${pipeline.url}   (${routes})
  Views:     ${options.views.map((v) => `${v.name} (key ${v.key.join(', ')}, ${v.granularity})`).join('; ')}
  Kinesis:   ${e.kinesis}  stream streamfold-events
  DynamoDB:  ${e.dynamodb}  tables streamfold-speed, streamfold-batch, streamfold-control, streamfold-dedupe, streamfold-kappa
  S3:        ${e.s3}  bucket streamfold-archive
  Data:      ${options.dataDir ?? '(in memory)'}
  Try:       curl '${pipeline.url}/views/${options.views[0].name}?${options.views[0].key.map((k) => `${k}=...`).join('&')}'
Ctrl+C stops (data is kept in the data dir).`);
  for (const notice of pipeline.startNotices) console.log(`note: ${notice}`);
  const snapshotDir = options.heapSnapshotDir;
  if (snapshotDir !== undefined) {
    let writing = false;
    process.on('SIGUSR2', () => {
      if (writing) return; // one set at a time: a snapshot of every heap is slow and large
      writing = true;
      const label = `t${Math.round((Date.now() - pipeline.startedAt) / 1000)}s`;
      pipeline
        .writeHeapSnapshots(snapshotDir, label)
        .then(
          (files) => console.log(`\nheap snapshots written: ${files.join(', ')}`),
          (error: Error) => console.error(`\nheap snapshots failed: ${error.message}`),
        )
        .finally(() => (writing = false));
    });
  }
  const progress = new ProgressLine(pipeline);
  progress.start();
  let stopping = false;
  const stop = async () => {
    if (stopping) process.exit(1);
    stopping = true;
    progress.stop();
    console.log('\nstopping: flushing the archive and the speed layer...');
    const { abandoned, ms } = await pipeline.stop();
    if (abandoned !== null)
      console.log(
        `stopped after ${(ms / 1000).toFixed(1)} s without waiting for ${abandoned} (the next start redoes what it had not finished)`,
      );
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}

if (require.main === module) {
  main().catch((error: Error) => {
    console.error(
      `streamfold: ${error.name === 'StartRefusedError' ? error.message : (error.stack ?? error.message)}`,
    );
    process.exit(1);
  });
}
