import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { normalizeStreamRecord, toArchiveLine } from '../lambdas/core/event';
import type { ViewDefinition } from '../lambdas/core/view';

/**
 * The events the archive benchmarks write: event `n` is a sensor reading (200 devices) or a page
 * view (50 pages, 20,000 users) of the views in views.ts.
 */
export function benchEventBody(n: number, time: string): Record<string, unknown> {
  return n % 4 === 0
    ? { id: `e${n}`, type: 'sensor.reading', time, deviceId: `dev-${n % 200}`, temperature: (n % 400) / 10 }
    : {
        id: `e${n}`,
        type: 'page.view',
        time,
        page: `/p${n % 50}`,
        userId: `u${(n * 7919) % 20_000}`,
        amount: (n % 1000) / 100,
        latencyMs: n % 997,
      };
}

/**
 * The archive line of bench event `n` as toArchiveLine(normalizeStreamRecord(...)) writes it,
 * without validating it again against every view: 10M events through the ingestion path took most
 * of an hour to generate on the 2-core machine.
 */
function benchArchiveLine(
  n: number,
  time: string,
  at: { shardId: string; sequenceNumber: string; partitionKey: string; arrivedMs: number },
): string {
  return JSON.stringify({
    ...benchEventBody(n, time),
    arrivedAt: new Date(at.arrivedMs).toISOString(),
    _tm: Date.parse(time),
    _am: at.arrivedMs,
    _shard: at.shardId,
    _seq: at.sequenceNumber,
    _pk: at.partitionKey,
  });
}

/**
 * The archive line of bench event `n`, in its fast spelling; when `check` is set, compared with
 * the pipeline's own (normalizeStreamRecord, then toArchiveLine), so a change to the archive format
 * fails the bench instead of timing lines it never writes. Callers check a sample.
 */
export function checkedBenchArchiveLine(
  n: number,
  time: string,
  position: { shardId: string; sequenceNumber: string; partitionKey: string; arrivedMs: number },
  views: readonly ViewDefinition[],
  check: boolean,
): string {
  const line = benchArchiveLine(n, time, position);
  if (check) {
    const expected = toArchiveLine(
      normalizeStreamRecord(JSON.stringify(benchEventBody(n, time)), position, views),
    );
    if (line !== expected)
      throw new Error(`bench archive line differs from toArchiveLine's:\n${line}\n${expected}`);
  }
  return line;
}

/**
 * Writes the archive bench/replay.ts and bench/batch-scale.ts read: `total` events (1% producer
 * retries of the event before them) arriving evenly over the hour from `start`, each up to two
 * minutes late, as NDJSON objects the way the archiver names them, calling `put` with each object's
 * key and body (into s3rver, or a folder). Returns the NDJSON bytes.
 */
export async function writeArchiveObjects(
  total: number,
  objects: number,
  views: readonly ViewDefinition[],
  start: number,
  put: (key: string, body: string) => Promise<void>,
): Promise<number> {
  const perObject = Math.ceil(total / objects);
  let written = 0;
  let bytes = 0;
  for (let o = 0; o < objects; o++) {
    const lines: string[] = [];
    for (let j = 0; j < perObject && written < total; j++, written++) {
      const i = written;
      const retry = i % 100 === 99;
      const n = retry ? i - 1 : i;
      const arrivedMs = start + Math.floor((i * 3_600_000) / total);
      const time = new Date(start + Math.floor((n * 3_600_000) / total) - (n % 120) * 1000).toISOString();
      const position = {
        shardId: 'shardId-000000000000',
        sequenceNumber: String(10n ** 50n + BigInt(i)),
        partitionKey: `e${n}`,
        arrivedMs,
      };
      lines.push(checkedBenchArchiveLine(n, time, position, views, i % 997 === 0));
    }
    const hour = new Date(start + Math.floor((o * 3_600_000) / objects)).toISOString();
    const body = lines.join('\n') + '\n';
    bytes += Buffer.byteLength(body);
    await put(
      `events/dt=${hour.slice(0, 10)}/hour=${hour.slice(11, 13)}/shardId-000000000000-${o}.ndjson`,
      body,
    );
  }
  return bytes;
}

/** The bench archive written straight into `dir` (the `events/` prefix left out), as files the DuckDB engine reads. */
export async function writeBenchArchive(
  dir: string,
  total: number,
  objects: number,
  views: readonly ViewDefinition[],
  start: number,
): Promise<{ bytes: number }> {
  const bytes = await writeArchiveObjects(total, objects, views, start, async (key, body) => {
    const file = path.join(dir, ...key.slice('events/'.length).split('/'));
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, body);
  });
  return { bytes };
}
