/**
 * Incremental vs full batch runs over 30 simulated days of history plus one hour of new events.
 * Run: npx tsx bench/batch-incremental.ts [historyEvents=10000000]
 *
 * Writes the archive as the archiver does (NDJSON, one object per arrival hour, 1% producer
 * retries) into a temp folder; the new hour also holds late events (2%, event times anywhere in
 * the 30 days). Then, twice (the engine reading the raw NDJSON only, as before ADR 011, and the
 * engine compacting the archive into Parquet by event date first), with DuckDB as the engine and
 * the batch table in memory (so the figures are the engine's, not the local DynamoDB emulator's
 * write rate):
 *  - a full run over the history (`batch_full_s`);
 *  - an incremental run after the new hour arrived (`batch_incremental_s`) and its cells written ÷
 *    the cells of the whole view (`batch_cells_written_ratio`);
 *  - the same incremental run in the cloud's query shape (an engine without `materialize`, as
 *    Athena's: each view ranks its own source and the reconciliation ranks again, ADR 020), on
 *    stores of its own: its archive bytes read ÷ the whole archive's bytes
 *    (`batch_bytes_scanned_ratio`, what bench/cost-model.ts prices; the one-time read of the new
 *    object's time ranges included) beside the local engine's (`batch_bytes_scanned_ratio_local`),
 *    and its cells, which must equal the local run's (else it throws);
 *  - a full run after the new hour, whose cells must equal the incremental state (else it throws);
 *    the raw engine's incremental state must equal them too (its own full check is not run).
 * The compaction of the 30 days (as many generations as it takes, before the first run) is timed on its own
 * (`compaction_s`); its one read of every NDJSON byte is not in the ratio (each object is compacted
 * once in its life, so in steady state it adds the new objects' bytes once: see ADR 011).
 * The `batch_*` figures are the compacted engine's; `*_ndjson` the raw engine's, same run.
 * Writes bench/results/batch-incremental.json.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { FolderCompactedStore } from '../lambdas/adapters/duckdb/compacted-archive-store';
import { DuckDbQueryEngine } from '../lambdas/adapters/duckdb/duckdb-query-engine';
import { selectionOf } from '../lambdas/core/batch-lineage';
import { typedFields } from '../lambdas/core/typed-columns';
import type { QueryEngine } from '../lambdas/ports/query-engine';
import { runBatch, type BatchLayerDeps, type BatchRunResult } from '../lambdas/services/batch-layer';
import { loadViews } from '../local/load-views';
import {
  FixedWatermark,
  InMemoryControlStore,
  InMemorySpeedRowStore,
  ManualClock,
} from '../test/services/in-memory-stores';
import { checkedBenchArchiveLine } from './archive-events';
import { TextBatchViewStore } from './text-batch-store';

const DAY = 86_400_000;
const HOUR = 3_600_000;

async function main(): Promise<void> {
  const root = mkdtempSync(path.join(tmpdir(), 'streamfold-bench-incremental-'));
  // A failed run would leave the archive behind (hundreds of MB at full size).
  try {
    await measureInto(root);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

async function measureInto(root: string): Promise<void> {
  const history = Number(process.argv[2] ?? 10_000_000);
  const views = loadViews(path.resolve(__dirname, '..', 'views.ts'));
  const archive = path.join(root, 'archive');
  const start = Date.UTC(2026, 10, 1);
  const end = start + 30 * DAY;
  const perHour = Math.ceil(history / (30 * 24));
  let seq = 0;

  /** One archive object of the arrival hour `hourStart`: `count` events, `lateShare` of them late. */
  const writeHour = (hourStart: number, count: number, lateShare: number, first: number): number => {
    const lines: string[] = [];
    for (let j = 0; j < count; j++) {
      const i = first + j;
      const retry = i % 100 === 99; // a producer retry of the event before it
      const n = retry ? i - 1 : i;
      const arrivedMs = hourStart + Math.floor((j * HOUR) / count);
      const late = (n * 2654435761) % 1000 < lateShare * 1000;
      const eventMs = late
        ? start + ((n * 7919 * 60_000) % (hourStart - start || HOUR))
        : hourStart + Math.floor(((retry ? j - 1 : j) * HOUR) / count) - (n % 120) * 1000;
      const time = new Date(Math.max(start - HOUR, eventMs)).toISOString();
      const position = {
        shardId: 'shardId-000000000000',
        sequenceNumber: String(10n ** 50n + BigInt(seq++)),
        partitionKey: `e${n}`,
        arrivedMs,
      };
      // The fast spelling (validating 10M events against every view took most of an hour), checked
      // against the pipeline's own on a sample.
      lines.push(checkedBenchArchiveLine(n, time, position, views, i % 997 === 0));
    }
    const iso = new Date(hourStart).toISOString();
    const dir = path.join(archive, `dt=${iso.slice(0, 10)}`, `hour=${iso.slice(11, 13)}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, `part-${hourStart}.ndjson`), lines.join('\n') + '\n');
    return first + count;
  };

  let next = 0;
  for (let h = start; h < end; h += HOUR) next = writeHour(h, perHour, 0, next);
  const ndjsonBytes = listBytes(archive);

  /** Full run, the new hour, an incremental run, a full run that must agree; over one engine. */
  const measure = async (engine: DuckDbQueryEngine, compacting: boolean) => {
    const stores = (runEngine: QueryEngine) => {
      const batch = new TextBatchViewStore();
      const control = new InMemoryControlStore();
      const watermark = new FixedWatermark(end);
      const deps = {
        views,
        engine: runEngine,
        ...(compacting ? { compactor: engine } : {}),
        watermark,
        batch,
        control,
        speed: new InMemorySpeedRowStore(views),
        clock: new ManualClock(end),
        arrivalBucketMs: 1000,
      };
      return { batch, control, watermark, deps };
    };
    // The raw NDJSON engine stands for the cloud before ADR 011, so it plans as Athena does.
    const { batch, control, watermark, deps } = stores(compacting ? engine : withoutMaterialize(engine));
    // The cloud's query shape beside it (over the compacted archive): the same runs through an
    // engine that cannot keep rows between queries, as Athena cannot, so each view ranks its own
    // source and the reconciliation ranks again (ADR 020). Its bytes are what the cost model
    // prices as Athena's scans; the local engine's shared ranking reads less.
    const cloud = compacting ? stores(withoutMaterialize(engine)) : undefined;
    const timed = async (
      request = {},
      runDeps: BatchLayerDeps = deps,
    ): Promise<{ result: BatchRunResult; seconds: number; bytes: number; parquetBytes: number }> => {
      const bytesBefore = engine.bytesRead;
      const parquetBefore = engine.parquetBytesRead;
      const t = performance.now();
      const result = await runBatch(runDeps, request);
      return {
        result,
        seconds: (performance.now() - t) / 1000,
        bytes: engine.bytesRead - bytesBefore,
        parquetBytes: engine.parquetBytesRead - parquetBefore,
      };
    };
    let compaction: {
      seconds: number;
      generations: number;
      bytes: number;
      readBytes: number;
      typedShare: number;
    } | null = null;
    if (compacting) {
      const t = performance.now();
      const before = engine.bytesRead;
      // With the fields a run's own compaction stores (typed columns, ADR 013). One generation
      // holds at most maxGenerationBytes of NDJSON (64 MiB), so 30 days of history take many, as
      // the scheduled runs of those 30 days would have written them one per run.
      let compactedBytes = 0;
      let generations = 0;
      for (;;) {
        const done = await engine.compact(end, typedFields(views));
        if (done.status === 'nothing-to-do') break;
        if (done.status !== 'committed')
          throw new Error(`the 30 days were not compacted (${done.status}): the bench result is not valid`);
        compactedBytes += done.bytes;
        generations += 1;
      }
      if (generations === 0) throw new Error('the 30 days were not compacted: nothing to do');
      const seconds = (performance.now() - t) / 1000;
      // What Athena would scan of these files when a query reads every typed column but not the
      // line (ADR 019: it bills the columns it reads): their compressed column chunks.
      const parquet = walkFiles(path.join(root, 'compacted')).filter((f) => f.endsWith('.parquet'));
      const [share] = await engine.run(
        `SELECT sum(total_compressed_size) FILTER (WHERE path_in_schema <> 'line') / sum(total_compressed_size) AS typed
FROM parquet_metadata([${parquet.map((f) => `'${f}'`).join(', ')}])`,
      );
      compaction = {
        seconds,
        generations,
        bytes: compactedBytes,
        readBytes: engine.bytesRead - before,
        typedShare: Number(share.typed),
      };
    }
    const full = await timed();
    if (cloud) await timed({}, cloud.deps);
    // The new hour (written once, before the first engine's incremental run): as many events as
    // any hour, 2% of them late (event times anywhere in the 30 days).
    if (!newHourWritten) {
      writeHour(end, perHour, 0.02, next);
      newHourWritten = true;
    }
    watermark.value = end + HOUR;
    let cloudIncremental: Awaited<ReturnType<typeof timed>> | undefined;
    if (cloud) {
      // First, so that any compaction this run does is charged to the cloud's shape, as before
      // ADR 020; the local run after it finds nothing left to compact.
      cloud.watermark.value = end + HOUR;
      cloudIncremental = await timed({}, cloud.deps);
    }
    const incremental = await timed();
    // Per view, a fingerprint of what the published version serves (TextBatchViewStore).
    const fingerprints = (
      of: { batch: TextBatchViewStore; control: InMemoryControlStore } = { batch, control },
    ) =>
      views.map(
        (view) =>
          `${view.name}: ${of.batch.fingerprint(
            of.control.pointer!.version,
            view.name,
            selectionOf(of.control.pointer!.lineage, view.name),
          )}`,
      );
    const incrementalState = fingerprints();
    if (cloud && !sameLines(fingerprints(cloud), incrementalState))
      throw new Error(
        'the cloud-shaped incremental run gives other cells than the local one: the bench result is not valid',
      );
    // The raw engine's incremental state is checked against the compacted engine's full run below
    // (the same cells, else the result is refused), so only that engine runs the full check: a
    // second one over raw NDJSON took 3.5 s of --quick's 3 minutes.
    if (!compacting) {
      await engine.close();
      return { full, incremental, cloudIncremental, check: undefined, compaction, state: incrementalState };
    }
    const check = await timed({ full: true });
    const fullState = fingerprints();
    if (!sameLines(incrementalState, fullState))
      throw new Error(
        `the incremental state differs from the full recomputation (${incrementalState.join('; ')} vs ${fullState.join('; ')}): the bench result is not valid`,
      );
    await engine.close();
    return { full, incremental, cloudIncremental, check, compaction, state: fullState };
  };
  let newHourWritten = false;
  const raw = await measure(new DuckDbQueryEngine(archive), false);
  const compacted = await measure(
    new DuckDbQueryEngine(archive, undefined, {
      store: new FolderCompactedStore(path.join(root, 'compacted')),
    }),
    true,
  );
  if (!sameLines(raw.state, compacted.state))
    throw new Error(
      "the raw engine's incremental run gives other cells than the compacted engine's full run: the bench result is not valid",
    );
  // The ratio's denominator: the whole NDJSON archive, the new hour included.
  const archiveBytes = listBytes(archive);
  const { full, incremental } = compacted;
  const check = compacted.check!;
  // What the cost model prices as Athena's scans is the cloud's query shape (ADR 020).
  const cloudRun = compacted.cloudIncremental!;
  const result = {
    date: new Date().toISOString(),
    history_events: perHour * 30 * 24,
    new_events: perHour,
    archive_objects: 30 * 24 + 1,
    archive_bytes: archiveBytes,
    batch_full_s: Number(full.seconds.toFixed(2)),
    batch_full_after_new_hour_s: Number(check.seconds.toFixed(2)),
    batch_incremental_s: Number(incremental.seconds.toFixed(2)),
    incremental_bytes_read: cloudRun.bytes,
    // The cloud's query shape (each view ranks its own source, the reconciliation ranks again: no
    // materialize in Athena), over the compacted archive; the cost model prices these bytes.
    batch_bytes_scanned_ratio: Number((cloudRun.bytes / archiveBytes).toFixed(5)),
    incremental_parquet_bytes_read: cloudRun.parquetBytes,
    batch_incremental_s_cloud_shape: Number(cloudRun.seconds.toFixed(2)),
    // The local engine's run (one ranking kept for every view and the reconciliation, ADR 020).
    incremental_bytes_read_local: incremental.bytes,
    batch_bytes_scanned_ratio_local: Number((incremental.bytes / archiveBytes).toFixed(5)),
    // Of the compacted files' bytes, the typed columns' (all but the line): what Athena scans of a
    // typed generation for a run whose views' fields it stores (ADR 019), from parquet_metadata.
    compacted_typed_columns_share: Number(compacted.compaction!.typedShare.toFixed(5)),
    // The cloud-shaped run's bytes if its Parquet part read the typed columns only (the NDJSON
    // tail whole): a projection for Athena, which no local engine measures by column.
    batch_bytes_scanned_ratio_typed_columns: Number(
      (
        (cloudRun.bytes - cloudRun.parquetBytes + cloudRun.parquetBytes * compacted.compaction!.typedShare) /
        archiveBytes
      ).toFixed(5),
    ),
    // A full recomputation's likewise (on demand, or after a view changed).
    full_bytes_scanned_ratio_typed_columns: Number(
      (
        (check.bytes - check.parquetBytes + check.parquetBytes * compacted.compaction!.typedShare) /
        archiveBytes
      ).toFixed(5),
    ),
    cells_total: check.result.cells,
    cells_written_incremental: incremental.result.cells,
    batch_cells_written_ratio: Number((incremental.result.cells / check.result.cells).toFixed(5)),
    batch_full_s_ndjson: Number(raw.full.seconds.toFixed(2)),
    batch_incremental_s_ndjson: Number(raw.incremental.seconds.toFixed(2)),
    incremental_bytes_read_ndjson: raw.incremental.bytes,
    batch_bytes_scanned_ratio_ndjson: Number((raw.incremental.bytes / archiveBytes).toFixed(5)),
    history_ndjson_bytes: ndjsonBytes,
    compacted_bytes: compacted.compaction!.bytes,
    compacted_to_ndjson_ratio: Number((compacted.compaction!.bytes / ndjsonBytes).toFixed(5)),
    compaction_s: Number(compacted.compaction!.seconds.toFixed(2)),
    compaction_generations: compacted.compaction!.generations,
    compaction_bytes_read: compacted.compaction!.readBytes,
    engine:
      'DuckDB over the archive compacted into ZSTD Parquet by event date and hour (ADR 011) plus the raw NDJSON tail, per-file time ranges; beside it (*_ndjson) the same engine over raw NDJSON only; batch table in memory',
  };
  mkdirSync(path.join(__dirname, 'results'), { recursive: true });
  writeFileSync(
    path.join(__dirname, 'results', 'batch-incremental.json'),
    JSON.stringify(result, null, 2) + '\n',
  );
  console.log(JSON.stringify(result, null, 2));
}

function listBytes(dir: string): number {
  let total = 0;
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const full = path.join(d, name);
      const s = statSync(full);
      if (s.isDirectory()) walk(full);
      else total += s.size;
    }
  };
  walk(dir);
  return total;
}

main().catch((error: Error) => {
  console.error(error.stack ?? error.message);
  process.exit(1);
});

/**
 * The engine as Athena's adapter presents it: no `materialize`, so a run plans each view's query on
 * its own source and reconciles per view (ADR 020). A Proxy rather than a subclass so the byte
 * counters read are the engine's own.
 */
function withoutMaterialize(engine: DuckDbQueryEngine): QueryEngine {
  return new Proxy(engine, {
    get(target, property) {
      if (property === 'materialize') return undefined;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** Equal line by line (one fingerprint per view). */
function sameLines(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((line, i) => line === b[i]);
}

function walkFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name));
}
