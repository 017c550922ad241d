/**
 * Benchmarks of the view core: speed-layer pre-aggregation (events/s), the batch SQL on DuckDB
 * over an NDJSON archive (events/s), and peak memory. Run: npm run bench
 * Writes bench/results/core-throughput.json. Numbers depend on the machine: the file records it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import * as path from 'node:path';
import { DuckDbQueryEngine } from '../lambdas/adapters/duckdb/duckdb-query-engine';
import { normalizeStreamRecord, toArchiveLine, type NormalizedEvent } from '../lambdas/core/event';
import { applyToRow, groupForSpeed } from '../lambdas/core/fencing';
import { batchRowToCell } from '../lambdas/core/batch-result-row';
import { batchSql } from '../lambdas/core/batch-sql';
import { validateViews } from '../lambdas/core/view';

const views = validateViews([
  {
    name: 'page_views',
    eventType: 'page.view',
    key: ['page'],
    granularity: '1m',
    measures: {
      views: { kind: 'count' },
      revenue: { kind: 'sum', field: 'amount' },
      visitors: { kind: 'distinct', field: 'userId' },
      slowest: { kind: 'max', field: 'latencyMs' },
      avgLatency: { kind: 'avg', field: 'latencyMs' },
    },
  },
]);

function makeEvents(n: number): NormalizedEvent[] {
  const base = Date.UTC(2026, 10, 24, 10);
  const out: NormalizedEvent[] = [];
  for (let i = 0; i < n; i++) {
    const body = {
      id: `e${i}`,
      type: 'page.view',
      time: new Date(base + (i % 3_600_000)).toISOString(),
      page: `/p${i % 50}`,
      userId: `u${(i * 7919) % 20_000}`,
      amount: (i % 1000) / 100,
      latencyMs: i % 997,
    };
    out.push(
      normalizeStreamRecord(
        JSON.stringify(body),
        {
          shardId: `shardId-00000000000${i % 4}`,
          sequenceNumber: String(10n ** 50n + BigInt(i)),
          partitionKey: `e${i}`,
          arrivedMs: base + i,
        },
        views,
      ),
    );
  }
  return out;
}

async function main(): Promise<void> {
  const sizes = [10_000, 100_000, 1_000_000];
  const results: Record<string, unknown>[] = [];
  for (const n of sizes) {
    const events = makeEvents(n);
    // Speed: pre-aggregate in batches of 500 (the default batch size) and apply to in-memory rows.
    let t = process.hrtime.bigint();
    let rows = 0;
    for (let i = 0; i < events.length; i += 500) {
      for (const group of groupForSpeed(views, events.slice(i, i + 500), 60_000)) {
        applyToRow(views[0], undefined, group.events, 'shard');
        rows++;
      }
    }
    const speedMs = Number(process.hrtime.bigint() - t) / 1e6;
    // Batch: DuckDB over one NDJSON file.
    const dir = mkdtempSync(path.join(tmpdir(), 'streamfold-bench-'));
    writeFileSync(path.join(dir, 'a.ndjson'), events.map(toArchiveLine).join('\n') + '\n');
    const engine = new DuckDbQueryEngine(dir);
    t = process.hrtime.bigint();
    const source = (await engine.source())!;
    const out = await engine.run(batchSql(views[0], 'duckdb', source, Date.UTC(2030, 0, 1)).sql);
    const cells = out.map((r) => batchRowToCell(views[0], r));
    const batchMs = Number(process.hrtime.bigint() - t) / 1e6;
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
    const result = {
      events: n,
      speed: {
        ms: Math.round(speedMs),
        eventsPerSecond: Math.round((n / speedMs) * 1000),
        rowWrites: rows,
        writesPerEvent: +(rows / n).toFixed(4),
      },
      batchDuckdb: {
        ms: Math.round(batchMs),
        eventsPerSecond: Math.round((n / batchMs) * 1000),
        cells: cells.length,
      },
      rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
    };
    console.log(JSON.stringify(result));
    results.push(result);
  }
  const file = path.join(__dirname, 'results', 'core-throughput.json');
  writeFileSync(
    file,
    JSON.stringify(
      {
        recordedAt: new Date().toISOString(),
        node: process.version,
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model,
        totalMemGiB: Math.round(totalmem() / 2 ** 30),
        results,
      },
      null,
      2,
    ) + '\n',
  );
  console.log(`written ${file}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
