import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { openDuckDb, removeStaleSpillFolders } from '../../lambdas/adapters/duckdb/open-duckdb';

const run = promisify(execFile);
const script = path.join(__dirname, '..', 'fixtures', 'duckdb-window-peak.ts');

/** Peak RSS of a fresh process running the batch-shaped window query under `memoryLimit`. */
async function windowPeak(memoryLimit: string): Promise<{ kept: number; bytes: number; peakMb: number }> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', script, memoryLimit], {
    cwd: path.join(__dirname, '..', '..'),
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as { kept: number; bytes: number; peakMb: number };
}

describe('the embedded DuckDB holds its memory limit', () => {
  it('opens with a 256 MB limit, one thread and a spill folder of its own that it removes on close', async () => {
    const instance = await openDuckDb();
    const connection = await instance.connect();
    const rows = (
      await connection.runAndReadAll(
        `SELECT current_setting('memory_limit') AS memory_limit, current_setting('threads') AS threads, current_setting('temp_directory') AS spill, current_setting('allocator_background_threads')::VARCHAR AS background`,
      )
    ).getRowObjectsJS();
    connection.closeSync();
    instance.closeSync();
    // DuckDB reports the limit in MiB: 256 MB is 244.1 MiB.
    expect(rows[0].memory_limit).toBe('244.1 MiB');
    expect(Number(rows[0].threads)).toBe(1);
    expect(rows[0].background).toBe('true');
    expect(String(rows[0].spill)).toMatch(/streamfold-duckdb-\d+-[0-9a-f]{8}$/);
    expect(existsSync(String(rows[0].spill))).toBe(false);
  });

  it('spills a dedupe window larger than the limit instead of holding it (peak RSS well under the unlimited run)', async () => {
    // 600,000 kept lines of about 306 bytes: about 180 MB of text, plus the window's own state.
    // Without a limit this process peaked at 430 MB; under a 64 MB limit, at 220 MB.
    const limited = await windowPeak('64MB');
    expect(limited.kept).toBe(600_000);
    expect(limited.bytes).toBe(183_488_890);
    expect(limited.peakMb).toBeLessThan(320);
  }, 180_000);

  it('gives back what a run took once it is over (jemalloc background threads), instead of holding it until the next run', async () => {
    // 3M rows through a dedupe window under the 256 MB limit. Without the background threads the
    // process stayed 280 to 430 MB above its baseline after the run; with them, it came back
    // within 100 MB in under 5 s. 20 s allows for a loaded machine.
    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', path.join(__dirname, '..', 'fixtures', 'duckdb-retained-after-run.ts'), '20000'],
      { cwd: path.join(__dirname, '..', '..') },
    );
    const r = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
      kept: number;
      baselineMb: number;
      peakAfterRunMb: number;
      settledMb: number;
    };
    expect(r.kept).toBe(3_000_000);
    expect(r.settledMb - r.baselineMb).toBeLessThanOrEqual(100);
  }, 180_000);

  it('deletes the spill folders of processes that no longer run, and only those', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'streamfold-spill-test-'));
    try {
      // A pid that ran and exited: a child process that is over.
      const { stdout } = await run(process.execPath, ['-e', 'console.log(process.pid)']);
      const dead = `streamfold-duckdb-${stdout.trim()}-0123abcd`;
      const mine = `streamfold-duckdb-${process.pid}-0123abcd`;
      const parent = `streamfold-duckdb-${process.ppid}-0123abcd`;
      const other = 'streamfold-duckdb-notes';
      for (const name of [dead, mine, parent, other]) {
        mkdirSync(path.join(dir, name));
        writeFileSync(path.join(dir, name, 'duckdb_temp_storage_S32K-0.tmp'), 'x'.repeat(1024));
      }
      expect(removeStaleSpillFolders(dir)).toEqual([dead]);
      expect(existsSync(path.join(dir, dead))).toBe(false);
      for (const name of [mine, parent, other]) expect(existsSync(path.join(dir, name))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
