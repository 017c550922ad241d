/**
 * What the end-to-end benchmarks share: the clickstream view they query and an embedded local
 * pipeline started without data directory, generator or scheduled batch runs.
 */
import { cpus, loadavg } from 'node:os';
import { validateViews, type ViewDefinition } from '../lambdas/core/view';
import { quietSdkNodeWarning } from '../local/handler-host';
import { EMULATOR_THREADS, type EmulatorThreads } from '../local/emulators';
import { DEFAULT_OPTIONS, LocalPipeline, type LocalPipelineOptions } from '../local/pipeline';

/**
 * `STREAMFOLD_EMULATOR_THREADS=each npx tsx bench/<script>.ts` runs a benchmark with the emulators
 * in worker threads (ADR 017), to compare placements with the same script.
 */
function emulatorThreads(): EmulatorThreads {
  const given = process.env.STREAMFOLD_EMULATOR_THREADS ?? 'none';
  if (!Object.keys(EMULATOR_THREADS).includes(given))
    throw new Error(
      `STREAMFOLD_EMULATOR_THREADS must be ${Object.keys(EMULATOR_THREADS).join(', ')} (given ${JSON.stringify(given)})`,
    );
  return given as EmulatorThreads;
}

/** Page views per page and minute: a count and a distinct count of users. */
export const PAGE_VIEWS = validateViews([
  {
    name: 'page_views',
    eventType: 'page.view',
    key: ['page'],
    granularity: '1m',
    measures: { views: { kind: 'count' }, visitors: { kind: 'distinct', field: 'userId' } },
  },
]);

/** Starts the embedded stack on a free port; batch runs happen only when the benchmark asks. */
export async function startBenchPipeline(
  options: Partial<LocalPipelineOptions> & { views?: ViewDefinition[] } = {},
): Promise<LocalPipeline> {
  quietSdkNodeWarning();
  const pipeline = new LocalPipeline({
    ...DEFAULT_OPTIONS,
    views: PAGE_VIEWS,
    dataDir: null,
    port: 0,
    generator: false,
    batchEveryMs: 3_600_000,
    emulatorThreads: emulatorThreads(),
    ...options,
  });
  await pipeline.start();
  return pipeline;
}

/** The value at percentile `p` of ascending `sorted`. */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/**
 * The machine a benchmark ran on, written beside its figures. Other work on the machine slows a
 * figure and its baseline alike: the 1-minute load average at the end says how much there was.
 */
export function benchMachine(): { cpus: number; node: string; loadAverage1m: number } {
  return {
    cpus: cpus().length,
    node: process.version,
    loadAverage1m: Math.round(loadavg()[0] * 100) / 100,
  };
}
