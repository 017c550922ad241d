/**
 * bench/results.json and the per-benchmark reports under bench/results/: their shape, where they
 * are, and the workload constants both the benchmarks and the summary (bench/RESULTS.md) name.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';

export interface Metric {
  readonly name: string;
  readonly value: number | null;
  readonly unit: string;
  readonly params: Record<string, unknown>;
  /** Why there is no value (not measured yet), when value is null. */
  readonly note?: string;
}

/** The batching window of the tuned cost figure, in seconds. */
export const TUNED_WINDOW_S = 10;
/**
 * The lean configuration's aggregation window, in seconds (`-c speedAggregationWindowSeconds`,
 * ADR 012): the speed layer writes its rows once a window instead of once an invocation.
 */
export const LEAN_AGGREGATION_WINDOW_S = 60;

/** The full bench's size of the write figures: 100 s of one shard, so a 60 s window fills once. */
export const FULL_WRITE_EVENTS = 100_000;

/** One benchmark's last report under bench/results/ (it throws when the benchmark never ran). */
export function readResult<T>(file: string): T {
  return JSON.parse(readFileSync(path.join(__dirname, 'results', file), 'utf8')) as T;
}

/** bench/results.json: every metric, and the series some benchmarks add (the soak's RSS). */
export interface ResultsFile {
  readonly metrics: Metric[];
  readonly soak?: unknown;
  readonly [field: string]: unknown;
}

export const RESULTS_FILE = path.join(__dirname, 'results.json');

/** bench/results.json, or undefined before the first `npm run bench`. */
export function readResults(): ResultsFile | undefined {
  try {
    return JSON.parse(readFileSync(RESULTS_FILE, 'utf8')) as ResultsFile;
  } catch {
    return undefined;
  }
}
