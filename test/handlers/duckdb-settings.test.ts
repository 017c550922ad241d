import { describe, expect, it } from 'vitest';
import { DuckDbQueryEngine } from '../../lambdas/adapters/duckdb/duckdb-query-engine';
import { readBatchConfig } from '../../lambdas/runtime/config';
import { ENV } from '../../lambdas/runtime/env';
import { batchEnvironment } from '../../lambdas/runtime/function-environment';
import { TEST_VIEWS } from '../fixtures/streams';

/** The batch function's environment as `npm start` builds it, with DuckDB's settings when given. */
function env(memory?: { memoryLimit?: string; threads?: number }): Record<string, string> {
  return {
    ...batchEnvironment({
      views: JSON.stringify(TEST_VIEWS),
      speedTable: 's',
      batchTable: 'b',
      controlTable: 'c',
      arrivalBucketMs: '1000',
      archive: { bucket: 'archive', prefix: 'events/' },
      engine: { kind: 'duckdb', archiveDir: '/nowhere', syncFromS3: false, ...(memory ? { memory } : {}) },
      watermark: { kind: 'checkpoint' },
    }),
  };
}

/** What the engine built from that environment's config reports to DuckDB's own settings. */
async function settingsOf(environment: Record<string, string>): Promise<{ limit: string; threads: number }> {
  const config = readBatchConfig(environment);
  if (config.engine.kind !== 'duckdb') throw new Error('expected the DuckDB engine');
  const engine = new DuckDbQueryEngine(config.engine.archiveDir, undefined, undefined, config.engine.memory);
  try {
    const [row] = await engine.run(
      `SELECT current_setting('memory_limit') AS memory_limit, current_setting('threads') AS threads`,
    );
    return { limit: String(row.memory_limit), threads: Number(row.threads) };
  } finally {
    await engine.close();
  }
}

describe("the local batch engine's DuckDB settings", () => {
  it('keep the runtime default (256 MB, one thread) when nothing is set', async () => {
    // DuckDB reports sizes in MiB: 256 MB is 244.1 MiB.
    expect(await settingsOf(env())).toEqual({ limit: '244.1 MiB', threads: 1 });
  });

  it('take the memory limit and threads from the environment the CLI sets', async () => {
    const environment = env({ memoryLimit: '1GB', threads: 2 });
    expect(environment[ENV.duckdbMemoryLimit]).toBe('1GB');
    expect(await settingsOf(environment)).toEqual({ limit: '953.6 MiB', threads: 2 });
  });

  it('fails at start on a size or thread count DuckDB would not take, naming the variable', () => {
    expect(() => readBatchConfig({ ...env(), [ENV.duckdbMemoryLimit]: 'plenty' })).toThrow(
      /STREAMFOLD_DUCKDB_MEMORY_LIMIT must be a size such as 256MB or 2GB \(given "plenty"\)/,
    );
    expect(() => readBatchConfig({ ...env(), [ENV.duckdbThreads]: '0' })).toThrow(
      /STREAMFOLD_DUCKDB_THREADS/,
    );
  });
});
