/**
 * The batch layer at scale (issue 10: "10M archived events in < 60 s locally with peak RSS
 * < 2 GiB"): one full batch run over an archive of `events` page views and sensor readings, with
 * the time of each step and the whole process's peak RSS.
 * Run: npx tsx bench/batch-scale.ts [events=1000000] [objects=100] [--compacted] [--memory-limit=256MB] [--threads=1]
 *   [--archive=<dir>] [--compacted-dir=<dir>]
 *
 * The archive is the one bench/replay.ts writes (same events, 1% producer retries, arrivals over
 * an hour), written straight into a folder as NDJSON objects (the files the DuckDB engine reads
 * from the S3 emulator's folder; writing 10M events through s3rver would only time s3rver). Cells
 * go to dynalite through the DynamoDB adapter, as `npm start` writes them. With `--compacted` the
 * engine first compacts the archive into Parquet (ADR 011), timed on its own, and the run reads
 * the compacted files, which is how the local runtime reads a day-old archive.
 *
 * `--archive=<dir>` keeps the generated archive for later runs of the same size (10M events take
 * minutes to generate), `--compacted-dir=<dir>` keeps its compaction: a later run compacts only
 * what no kept manifest covers (nothing, for the same archive), and reports the kept generations.
 *
 * DuckDB's memory limit and threads (openDuckDb's defaults unless given) are recorded with the result.
 * Peak RSS is the kernel's high-water mark of this process (VmHWM), DuckDB's native memory included.
 * Writes bench/results/batch-scale.json.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { DynamoDbBatchViewStore } from '../lambdas/adapters/aws/dynamodb-batch-view-store';
import { DynamoDbControlStore } from '../lambdas/adapters/aws/dynamodb-control-store';
import { DynamoDbSpeedRowStore } from '../lambdas/adapters/aws/dynamodb-speed-row-store';
import { FolderCompactedStore } from '../lambdas/adapters/duckdb/compacted-archive-store';
import { DuckDbQueryEngine } from '../lambdas/adapters/duckdb/duckdb-query-engine';
import { systemClock } from '../lambdas/ports/clock';
import {
  makeDynamoDbClient,
  makeDynamoDocumentClient,
  makeKinesisClient,
  makeS3Client,
} from '../lambdas/runtime/clients';
import {
  planBatch,
  publishBatch,
  writeBatchRows,
  addWrites,
  type WriteResult,
} from '../lambdas/services/batch-layer';
import { typedFields } from '../lambdas/core/typed-columns';
import { startEmulators } from '../local/emulators';
import { quietSdkNodeWarning } from '../local/handler-host';
import { loadViews } from '../local/load-views';
import { ensureResources, resourceNames } from '../local/resources';
import { writeBenchArchive } from './archive-events';
import { benchMachine } from './bench-pipeline';
import { timed } from './step-times';

/** The kernel's peak resident set of this process, in MiB (Linux: /proc/self/status VmHWM). */
function peakRssMb(): number {
  const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  if (hwm === undefined)
    throw new Error('no VmHWM in /proc/self/status: this bench reads peak RSS the Linux way');
  return Math.round(Number(hwm) / 1024);
}

async function main(): Promise<void> {
  quietSdkNodeWarning();
  const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const compacted = process.argv.includes('--compacted');
  const total = Number(args[0] ?? 1_000_000);
  const objects = Number(args[1] ?? 100);
  const views = loadViews(path.resolve(__dirname, '..', 'views.ts'));
  const flag = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
  const dir = mkdtempSync(path.join(tmpdir(), 'streamfold-bench-batch-'));
  // --archive=<dir>: an archive kept from an earlier run of the same size (written there if absent).
  const kept = flag('archive');
  const archiveDir = kept ?? path.join(dir, 'archive');
  let t = performance.now();
  const archive =
    kept !== undefined && existsSync(path.join(kept, 'bytes'))
      ? { bytes: Number(readFileSync(path.join(kept, 'bytes'), 'utf8')) }
      : await writeBenchArchive(archiveDir, total, objects, views, Date.now() - 2 * 3_600_000);
  if (kept !== undefined) writeFileSync(path.join(kept, 'bytes'), String(archive.bytes));
  console.log(
    `archive: ${total} events (${(archive.bytes / 1024 ** 2).toFixed(0)} MiB NDJSON) in ${objects} objects, ready in ${((performance.now() - t) / 1000).toFixed(1)} s`,
  );
  const emulators = await startEmulators({ dataDir: path.join(dir, 'emulators') });
  const names = resourceNames('bench');
  const e = emulators.endpoints;
  await ensureResources(
    { kinesis: makeKinesisClient(e), dynamodb: makeDynamoDbClient(e), s3: makeS3Client(e) },
    1,
    names,
  );
  const dynamo = makeDynamoDocumentClient(e);
  const settings = {
    ...(flag('memory-limit') ? { memoryLimit: flag('memory-limit') } : {}),
    ...(flag('threads') ? { threads: Number(flag('threads')) } : {}),
  };
  const compactedStore = new FolderCompactedStore(flag('compacted-dir') ?? path.join(dir, 'compacted'));
  const engine = new DuckDbQueryEngine(
    archiveDir,
    undefined,
    compacted ? { store: compactedStore } : undefined,
    settings,
  );
  const ms: Record<string, number> = {};
  const deps = {
    views,
    // The archive is complete: the watermark a day ahead lets the cutoff cover all of it.
    watermark: { archivedBeforeMs: async () => Date.now() + 86_400_000 },
    batch: new DynamoDbBatchViewStore(dynamo, names.batchTable),
    control: new DynamoDbControlStore(dynamo, names.controlTable),
    speed: new DynamoDbSpeedRowStore(dynamo, names.speedTable),
    clock: systemClock,
    arrivalBucketMs: 1000,
  };
  const rssBefore = peakRssMb();
  let compactionS: number | null = null;
  if (compacted) {
    t = performance.now();
    const cutoff = Date.now() + 3 * 86_400_000; // past the day the archive is in: all of it compacted
    // One bounded generation per call (maxGenerationBytes), as successive runs would compact it.
    let generations = 0;
    for (;;) {
      // The fields a run's own compaction stores (planBatch's): typed columns, no JSON parsed.
      const result = await engine.compact(cutoff, typedFields(views));
      if (result.status === 'nothing-to-do') break;
      if (result.status !== 'committed')
        throw new Error(`the compaction did not commit (${JSON.stringify(result)})`);
      generations++;
    }
    const reused = (await compactedStore.list('manifests/')).length - generations;
    if (generations + reused === 0) throw new Error('the compaction committed nothing');
    compactionS = (performance.now() - t) / 1000;
    console.log(
      `compaction: ${compactionS.toFixed(2)} s in ${generations} generations (${reused} kept from an earlier run)`,
    );
  }
  // runBatch's steps, each timed (runBatch is exactly plan, run + write per view, publish).
  t = performance.now();
  // CPU time of the whole process (DuckDB's threads and the in-process dynalite included): steadier
  // than wall time on a machine shared with other work.
  const cpuBefore = process.cpuUsage();
  const planned = await timed(ms, 'plan (file time ranges, manifests, the dedupe the views share)', () =>
    planBatch({ ...deps, engine }, { full: true }),
  );
  if ('skipped' in planned) throw new Error(`the run was skipped: ${planned.skipped.reason}`);
  let written: WriteResult = { cells: 0, unstorableCount: 0, unstorable: [] };
  try {
    for (const { view, sql } of planned.queries) {
      const rows = await timed(ms, `query ${view.name} (DuckDB)`, () => engine.run(sql));
      written = addWrites(
        written,
        await timed(ms, `write ${view.name} cells (dynalite)`, () =>
          writeBatchRows(deps.batch, planned.plan.version, view, rows),
        ),
      );
    }
  } finally {
    await planned.release?.();
  }
  const published = await timed(ms, 'publish', () =>
    publishBatch({ ...deps, engine }, planned.plan, written),
  );
  const seconds = (performance.now() - t) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  await engine.close();
  const peak = peakRssMb();
  console.log(`batch: ${published.cells} cells in ${seconds.toFixed(2)} s; peak RSS ${peak} MiB`);
  console.log(ms);
  const result = {
    date: new Date().toISOString(),
    machine: benchMachine(),
    archive: { events: total, objects, ndjsonBytes: archive.bytes, producerRetries: Math.floor(total / 100) },
    duckdb: settings,
    compacted,
    compaction_s: compactionS === null ? null : Number(compactionS.toFixed(2)),
    batch_events_per_s: Math.round(total / seconds),
    batch_seconds: Number(seconds.toFixed(2)),
    batch_peak_rss_mb: peak,
    batch_cpu_s: Number(((cpu.user + cpu.system) / 1e6).toFixed(2)),
    peak_rss_before_run_mb: rssBefore,
    cells: published.cells,
    step_ms: ms,
  };
  mkdirSync(path.join(__dirname, 'results'), { recursive: true });
  writeFileSync(path.join(__dirname, 'results', 'batch-scale.json'), JSON.stringify(result, null, 2) + '\n');
  console.log(JSON.stringify(result, null, 2));
  await emulators.stop();
  rmSync(dir, { recursive: true, force: true });
}

main().catch((error: Error) => {
  console.error(error.stack ?? error.message);
  process.exit(1);
});
