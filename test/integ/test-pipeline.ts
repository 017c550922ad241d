import type { ViewDefinition } from '../../lambdas/core/view';
import { DEFAULT_OPTIONS, LocalPipeline, type LocalPipelineOptions } from '../../local/pipeline';

/**
 * What every integration suite starts from: the whole runtime in memory on an ephemeral port,
 * no generator (the suite sends exactly what its oracle counts), batch runs only when the suite
 * asks, and short archive flushes and speed batching windows so waits stay short. `overrides`
 * set what the suite is about.
 */
export function testPipeline(
  views: readonly ViewDefinition[],
  overrides: Partial<Omit<LocalPipelineOptions, 'views'>> = {},
): LocalPipeline {
  return new LocalPipeline({
    ...DEFAULT_OPTIONS,
    views,
    dataDir: null,
    port: 0,
    generator: false,
    batchEveryMs: 3_600_000,
    archiveFlushMs: 100,
    speedBatchingWindowMs: 20,
    ...overrides,
  });
}
