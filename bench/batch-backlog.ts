/**
 * The first batch run after a long backlog (issue 12: in the full fault run it took over 16
 * minutes while its archive copy was done within 7), scaled down: an archive of `events` events
 * arriving over an hour, a first run publishing a cutoff half way, then every event's speed row in
 * dynalite (the rows the speed layer writes, one per view cell and arrival second) and one more
 * run. Each phase of that run is timed on its own: the plan, the view queries and cell writes, the
 * reconciliation's DuckDB queries and its reads of the speed rows, and the deletion of the speed
 * rows its cutoff covers (the previous cutoff's until ADR 028, 2026-12-06).
 * Run: npx tsx bench/batch-backlog.ts [events=40000]
 * Writes bench/results/batch-backlog.json.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { DynamoDbBatchViewStore } from '../lambdas/adapters/aws/dynamodb-batch-view-store';
import { DynamoDbControlStore } from '../lambdas/adapters/aws/dynamodb-control-store';
import { DynamoDbSpeedRowStore } from '../lambdas/adapters/aws/dynamodb-speed-row-store';
import { DuckDbQueryEngine } from '../lambdas/adapters/duckdb/duckdb-query-engine';
import { normalizeStreamRecord, type NormalizedEvent } from '../lambdas/core/event';
import { groupForSpeed } from '../lambdas/core/fencing';
import { foldEvents, identityRow } from '../lambdas/core/measures';
import type { QueryEngine } from '../lambdas/ports/query-engine';
import type { SpeedRowStore } from '../lambdas/ports/stores';
import { systemClock } from '../lambdas/ports/clock';
import { runBatch } from '../lambdas/services/batch-layer';
import { quietSdkNodeWarning } from '../local/handler-host';
import { loadViews } from '../local/load-views';
import { startEmulatedTables } from '../test/fixtures/emulated-tables';
import { benchEventBody, writeBenchArchive } from './archive-events';
import { benchMachine } from './bench-pipeline';
import { timed } from './step-times';

const HOUR = 3_600_000;

/** The speed store with each of the batch layer's calls timed. */
function timedSpeed(store: SpeedRowStore, ms: Record<string, number>): SpeedRowStore {
  return {
    read: (v, a) => store.read(v, a),
    write: (v, a, r, e) => store.write(v, a, r, e),
    query: (v, k, f, t, a) => store.query(v, k, f, t, a),
    count: () => store.count(),
    recordOrigin: (v) => store.recordOrigin(v),
    readOrigin: () => store.readOrigin(),
    listArrived: (v, f, t) =>
      timed(ms, 'reconcile: read speed rows (DynamoDB)', () => store.listArrived(v, f, t)),
    deleteArrivedBefore: (a) =>
      timed(ms, 'delete covered speed rows (DynamoDB)', () => store.deleteArrivedBefore(a)),
    deleteArrivedBeforePage: (a, c) =>
      timed(ms, 'delete covered speed rows (DynamoDB)', () => store.deleteArrivedBeforePage(a, c)),
  };
}

/** The engine with its queries timed (every one: the plan's, the views', the reconciliation's). */
function timedEngine(engine: DuckDbQueryEngine, ms: Record<string, number>): QueryEngine {
  return new Proxy(engine, {
    get(target, name, receiver) {
      const value: unknown = Reflect.get(target, name, receiver);
      if (name === 'run' && typeof value === 'function')
        return (sql: string) =>
          timed(ms, 'DuckDB queries (plan, views, reconciliation)', () => target.run(sql));
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

async function main(): Promise<void> {
  quietSdkNodeWarning();
  const total = Number(process.argv[2] ?? 40_000);
  const views = loadViews(path.resolve(__dirname, '..', 'views.ts'));
  const dir = mkdtempSync(path.join(tmpdir(), 'streamfold-bench-backlog-'));
  const start = Date.now() - 2 * HOUR;
  await writeBenchArchive(path.join(dir, 'archive'), total, 20, views, start);
  const tables = await startEmulatedTables('backlog');
  const { names, doc: dynamo } = tables;
  const speed = new DynamoDbSpeedRowStore(dynamo, names.speedTable);
  const engine = new DuckDbQueryEngine(path.join(dir, 'archive'));
  let archivedBefore = start + HOUR / 2;
  const base = {
    views,
    watermark: { archivedBeforeMs: async () => archivedBefore },
    batch: new DynamoDbBatchViewStore(dynamo, names.batchTable),
    control: new DynamoDbControlStore(dynamo, names.controlTable),
    clock: systemClock,
    arrivalBucketMs: 1000,
  };
  const first = await runBatch({ ...base, speed, engine }, { full: true });
  console.log(`first run: ${first.status}, cutoff ${first.cutoff}`);

  // The speed rows of every distinct event (the bench archive's 1% producer retries dropped, as
  // the speed layer's dedupe does), written as the speed layer writes them.
  const events: NormalizedEvent[] = [];
  for (let i = 0; i < total; i++) {
    if (i % 100 === 99) continue;
    const arrivedMs = start + Math.floor((i * HOUR) / total);
    const time = new Date(start + Math.floor((i * HOUR) / total) - (i % 120) * 1000).toISOString();
    const position = {
      shardId: 'shardId-000000000000',
      sequenceNumber: String(10n ** 50n + BigInt(i)),
      partitionKey: `e${i}`,
      arrivedMs,
    };
    events.push(normalizeStreamRecord(JSON.stringify(benchEventBody(i, time)), position, views));
  }
  const groups = groupForSpeed(views, events, 1000);
  const byName = new Map(views.map((v) => [v.name, v]));
  let t = performance.now();
  for (let g = 0; g < groups.length; g += 16)
    await Promise.all(
      groups.slice(g, g + 16).map((group) => {
        const view = byName.get(group.address.view)!;
        const state = foldEvents(
          view,
          identityRow(view),
          group.events.map((ev) => ev.body),
        );
        return speed.write(view, group.address, { state, fences: {} }, undefined);
      }),
    );
  const rows = await speed.count();
  console.log(`${rows} speed rows written in ${((performance.now() - t) / 1000).toFixed(1)} s`);

  const ms: Record<string, number> = {};
  archivedBefore = start + HOUR + 60_000;
  t = performance.now();
  const cpu = process.cpuUsage();
  const result = await runBatch(
    { ...base, speed: timedSpeed(speed, ms), engine: timedEngine(engine, ms) },
    {},
  );
  const seconds = (performance.now() - t) / 1000;
  const used = process.cpuUsage(cpu);
  const out = {
    date: new Date().toISOString(),
    machine: benchMachine(),
    events: total,
    speed_rows: rows,
    run_status: result.status,
    run_seconds: Number(seconds.toFixed(2)),
    run_cpu_s: Number(((used.user + used.system) / 1e6).toFixed(2)),
    speed_rows_deleted: result.speedRowsDeleted,
    reconciliation: result.reconciliation
      ? {
          cellsCompared: result.reconciliation.cellsCompared,
          mismatchCount: result.reconciliation.mismatchCount,
        }
      : null,
    step_ms: ms,
  };
  console.log(JSON.stringify(out, null, 2));
  mkdirSync(path.join(__dirname, 'results'), { recursive: true });
  writeFileSync(path.join(__dirname, 'results', 'batch-backlog.json'), JSON.stringify(out, null, 2) + '\n');
  await engine.close();
  await tables.stop();
  rmSync(dir, { recursive: true, force: true });
}

main().catch((error: Error) => {
  console.error(error.stack ?? error.message);
  process.exit(1);
});
