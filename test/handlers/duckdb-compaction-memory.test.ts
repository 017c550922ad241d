import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FolderCompactedStore } from '../../lambdas/adapters/duckdb/compacted-archive-store';
import {
  DEFAULT_MAX_GENERATION_BYTES,
  DuckDbQueryEngine,
} from '../../lambdas/adapters/duckdb/duckdb-query-engine';

const root = mkdtempSync(path.join(tmpdir(), 'streamfold-compaction-memory-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** An archive line of about 300 bytes, the shape of the bench's page views. */
function line(n: number, start: number): string {
  const am = start + n;
  return JSON.stringify({
    id: `e${n}`,
    type: 'page.view',
    time: new Date(am - (n % 120) * 1000).toISOString(),
    page: `/p${n % 50}`,
    userId: `u${(n * 7919) % 20_000}`,
    amount: (n % 1000) / 100,
    latencyMs: n % 997,
    arrivedAt: new Date(am).toISOString(),
    _tm: am - (n % 120) * 1000,
    _am: am,
    _shard: 'shardId-000000000000',
    _seq: String(10n ** 50n + BigInt(n)),
    _pk: `e${n}`,
  });
}

describe("the runtime's compaction within DuckDB's default 256 MB (ADR 016)", () => {
  it('compacts a whole generation (maxGenerationBytes of NDJSON) with the typed columns of every field', async () => {
    const archive = path.join(root, 'archive');
    mkdirSync(archive, { recursive: true });
    const start = Date.UTC(2026, 11, 1);
    let bytes = 0;
    let n = 0;
    for (let o = 0; bytes < DEFAULT_MAX_GENERATION_BYTES - 4 * 1024 * 1024; o++) {
      const lines: string[] = [];
      for (let i = 0; i < 25_000; i++) lines.push(line(n++, start));
      const body = lines.join('\n') + '\n';
      bytes += Buffer.byteLength(body);
      writeFileSync(path.join(archive, `o${String(o).padStart(3, '0')}.ndjson`), body);
    }
    // The defaults of the long-running runtime: 256 MB, one thread. With the sort the compaction
    // had, this generation failed with DuckDB's out-of-memory error.
    const engine = new DuckDbQueryEngine(archive, undefined, {
      store: new FolderCompactedStore(path.join(root, 'compacted')),
    });
    try {
      const result = await engine.compact(start + 10 * 86_400_000, [
        'amount',
        'deviceId',
        'latencyMs',
        'page',
        'temperature',
        'userId',
      ]);
      expect(result).toMatchObject({ status: 'committed', rows: n });
    } finally {
      await engine.close();
    }
  }, 240_000);
});
