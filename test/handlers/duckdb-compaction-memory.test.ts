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

/** The fields the shipped views read (views.ts), each stored as typed columns. */
const VIEW_FIELDS = ['amount', 'deviceId', 'latencyMs', 'page', 'temperature', 'userId'];

/** One compaction of `archive` into `compacted` at the runtime's defaults (256 MB, one thread). */
async function compactAt(archive: string, compacted: string, cutoffMs: number, fields: readonly string[]) {
  const engine = new DuckDbQueryEngine(archive, undefined, {
    store: new FolderCompactedStore(path.join(root, compacted)),
  });
  try {
    return await engine.compact(cutoffMs, fields);
  } finally {
    await engine.close();
  }
}

/**
 * An archive line of about 300 bytes, the shape of the bench's page views. With `everyMs`, the
 * n-th event arrives `everyMs` after the one before it, and one in 50 is late by up to 30 days.
 */
function line(n: number, start: number, everyMs = 1): string {
  const am = start + n * everyMs;
  const late = everyMs > 1 && n % 50 === 7;
  const tm = late ? am - ((n * 7919) % (30 * 86_400_000)) : am - (n % 120) * 1000;
  return JSON.stringify({
    id: `e${n}`,
    type: 'page.view',
    time: new Date(tm).toISOString(),
    page: `/p${n % 50}`,
    userId: `u${(n * 7919) % 20_000}`,
    amount: (n % 1000) / 100,
    latencyMs: n % 997,
    arrivedAt: new Date(am).toISOString(),
    _tm: tm,
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
    const result = await compactAt(archive, 'compacted', start + 10 * 86_400_000, VIEW_FIELDS);
    expect(result).toMatchObject({ status: 'committed', rows: n });
  }, 240_000);

  it('compacts 30 days of archive (720 arrival hours, 2% late events) in one generation', async () => {
    const archive = path.join(root, 'archive-30-days');
    mkdirSync(archive, { recursive: true });
    const start = Date.UTC(2026, 10, 1);
    const hour = 3_600_000;
    const everyMs = 26_000; // 100,000 events over 30 days
    const byHour = new Map<number, string[]>();
    for (let n = 0; n < 100_000; n++) {
      const h = Math.floor((n * everyMs) / hour);
      const lines = byHour.get(h) ?? [];
      lines.push(line(n, start, everyMs));
      byHour.set(h, lines);
    }
    for (const [h, lines] of byHour)
      writeFileSync(path.join(archive, `h${String(h).padStart(4, '0')}.ndjson`), lines.join('\n') + '\n');
    // A partitioned COPY buffers rows per event hour until the flush threshold: at DuckDB's
    // default (524,288 rows) these 720 hours' buffers ran out of the 256 MB limit.
    const result = await compactAt(archive, 'compacted-30-days', start + 40 * 86_400_000, [
      'amount',
      'latencyMs',
      'page',
      'userId',
    ]);
    expect(result).toMatchObject({ status: 'committed', rows: 100_000 });
  }, 240_000);

  /** Writes each hour's lines as one object, as the archiver does (one object per arrival hour at least). */
  function writeByHour(
    archive: string,
    lines: readonly { readonly am: number; readonly text: string }[],
  ): void {
    mkdirSync(archive, { recursive: true });
    const byHour = new Map<number, string[]>();
    for (const l of lines) {
      const h = Math.floor(l.am / 3_600_000);
      byHour.set(h, [...(byHour.get(h) ?? []), l.text]);
    }
    for (const [h, texts] of byHour)
      writeFileSync(path.join(archive, `h${h}.ndjson`), texts.join('\n') + '\n');
  }

  it('compacts 30 days of a quiet stream (about 40 events an hour, an object an hour) in one generation', async () => {
    // Fewer rows an hour leave more hours with rows waiting in the COPY's buffers: at 20,000 rows
    // buffered (the first threshold) this generation ran out of the 256 MB limit; the engine runs
    // the COPY again with fewer.
    const start = Date.UTC(2026, 10, 1);
    const everyMs = 86_000;
    const archive = path.join(root, 'archive-quiet-30-days');
    writeByHour(
      archive,
      Array.from({ length: 30_000 }, (_, n) => ({ am: start + n * everyMs, text: line(n, start, everyMs) })),
    );
    const result = await compactAt(archive, 'compacted-quiet-30-days', start + 40 * 86_400_000, VIEW_FIELDS);
    expect(result).toMatchObject({ status: 'committed', rows: 30_000 });
  }, 240_000);

  it("compacts a wide view's generation whose every event is an hour of its own, with fewer rows buffered", async () => {
    // 24 typed fields: each hour waiting costs more buffers, and even 200 rows buffered ran out of
    // the 256 MB limit here (20 did not); the engine lowers the threshold until the COPY fits.
    const start = Date.UTC(2026, 0, 1);
    const fields = Array.from({ length: 24 }, (_, i) => `f${i}`);
    const archive = path.join(root, 'archive-wide');
    writeByHour(
      archive,
      Array.from({ length: 1_000 }, (_, n) => {
        const am = start + n * 3_600_000;
        const event: Record<string, unknown> = {
          id: `w${n}`,
          type: 'reading',
          time: new Date(am - 1000).toISOString(),
          arrivedAt: new Date(am).toISOString(),
          _tm: am - 1000,
          _am: am,
          _shard: 'shardId-000000000000',
          _seq: String(10n ** 50n + BigInt(n)),
          _pk: `w${n}`,
        };
        for (const [i, field] of fields.entries()) event[field] = (n * (i + 1)) / 100;
        return { am, text: JSON.stringify(event) };
      }),
    );
    const result = await compactAt(archive, 'compacted-wide', start + 60 * 86_400_000, fields);
    expect(result).toMatchObject({ status: 'committed', rows: 1_000 });
  }, 240_000);
});
