import type { FenceBy } from '../core/fencing';
import { validateViews, type ViewDefinition } from '../core/view';
import { readEndpoints, type AwsEndpoints } from './clients/endpoints';
import { ENV } from './env';
import {
  DEFAULT_BATCH_RUNS_PREFIX,
  DEFAULT_DEDUPE_TTL_SECONDS,
  DEFAULT_DEDUPE_WINDOW_SECONDS,
  DEFAULT_REPLAY_HANDOFF_DELAY_MS,
  MIN_REPLAY_HANDOFF_DELAY_MS,
  type DedupeScope,
} from './function-environment';

export { DEFAULT_DEDUPE_WINDOW_SECONDS, type DedupeScope };

type Env = Readonly<Record<string, string | undefined>>;

/** Thrown at cold start when configuration is missing or malformed: the function must not run half-configured. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

function required(env: Env, name: string): string {
  const value = env[name];
  if (value === undefined || value === '') throw new ConfigError(`environment variable ${name} is required`);
  return value;
}

/** A DuckDB memory size (https://duckdb.org/docs/stable/configuration/overview: `memory_limit`), checked before DuckDB sees it. */
function duckdbMemoryLimit(env: Env): string {
  const value = env[ENV.duckdbMemoryLimit]!.trim();
  if (!/^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/i.test(value))
    throw new ConfigError(
      `${ENV.duckdbMemoryLimit} must be a size such as 256MB or 2GB (given ${JSON.stringify(value)})`,
    );
  return value;
}

function integer(env: Env, name: string, fallback: number, min: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min)
    throw new ConfigError(
      `environment variable ${name} must be an integer >= ${min} (given ${JSON.stringify(raw)})`,
    );
  return value;
}

function views(env: Env): ViewDefinition[] {
  const raw = required(env, ENV.views);
  try {
    return validateViews(JSON.parse(raw));
  } catch (error) {
    throw new ConfigError(
      `environment variable ${ENV.views} does not hold valid views: ${(error as Error).message}`,
    );
  }
}

const DEFAULT_ARRIVAL_BUCKET_MS = 60_000;

/** Event-id dedupe and sequence fences: the same settings for the speed layer and the Kappa processor. */
function readStreamDedupe(
  env: Env,
  /** The Kappa processor always claims per event: its live view has no batch to correct it later. */
  onlyScope?: DedupeScope,
): {
  dedupeTable: string | undefined;
  dedupeScope: DedupeScope;
  dedupeTtlSeconds: number;
  fenceBy: FenceBy;
} {
  const dedupe = (env[ENV.speedDedupe] ?? 'true') !== 'false';
  const fenceBy = env[ENV.fenceBy] ?? 'shard';
  if (fenceBy !== 'shard' && fenceBy !== 'partitionKey')
    throw new ConfigError(`${ENV.fenceBy} must be shard or partitionKey (given ${fenceBy})`);
  // With ParallelizationFactor > 1 several invocations read one shard at once: only claims are exact.
  const scope = onlyScope ?? (env[ENV.dedupeScope] || (fenceBy === 'shard' ? 'shard' : 'global'));
  if (scope !== 'shard' && scope !== 'global')
    throw new ConfigError(`${ENV.dedupeScope} must be shard or global (given ${scope})`);
  if (scope === 'shard' && fenceBy !== 'shard')
    throw new ConfigError(
      `${ENV.dedupeScope}=shard needs ${ENV.fenceBy}=shard (ParallelizationFactor 1); set ${ENV.dedupeScope}=global`,
    );
  return {
    dedupeTable: dedupe ? required(env, ENV.dedupeTable) : undefined,
    dedupeScope: scope,
    dedupeTtlSeconds: integer(env, ENV.dedupeTtlSeconds, DEFAULT_DEDUPE_WINDOW_SECONDS[scope], 60),
    fenceBy,
  };
}

/** The archive watermark the batch cutoff and the replay handoff wait for. */
function readArchiveWatermark(env: Env): ArchiveWatermarkConfig {
  const kind = env[ENV.archiveWatermark] ?? 'clock';
  if (kind === 'checkpoint') return { kind };
  if (kind !== 'clock')
    throw new ConfigError(`${ENV.archiveWatermark} must be clock or checkpoint (given ${kind})`);
  return {
    kind,
    lagMs: integer(env, ENV.archiveLagMs, 960_000, 0),
    deliveryStream: env[ENV.firehoseDeliveryStream] || undefined,
  };
}

export interface SpeedConfig {
  readonly views: ViewDefinition[];
  readonly endpoints: AwsEndpoints;
  readonly speedTable: string;
  readonly dedupeTable: string | undefined;
  readonly dedupeScope: DedupeScope;
  readonly dedupeTtlSeconds: number;
  readonly fenceBy: FenceBy;
  readonly arrivalBucketMs: number;
  /** Ids the instance's shard dedupe indexes may hold together (ShardDedupe's maxHeldIds). */
  readonly dedupeMaxHeldIds: number;
}

export function readSpeedConfig(env: Env): SpeedConfig {
  return {
    views: views(env),
    endpoints: readEndpoints(env),
    speedTable: required(env, ENV.speedTable),
    ...readStreamDedupe(env),
    arrivalBucketMs: integer(env, ENV.arrivalBucketMs, DEFAULT_ARRIVAL_BUCKET_MS, 1000),
    dedupeMaxHeldIds: dedupeMaxHeldIds(env),
  };
}

/**
 * Heap one held id takes in a shard's dedupe index (the id, its sequence number, the map entry
 * and the item's list): 154 to 185 bytes measured by bench/speed-memory.ts (ADR 015), rounded up.
 */
const HELD_ID_BYTES = 200;
/** The part of the function's memory the dedupe indexes may take; the rest is the runtime's, the rows' and the batch's. */
const HELD_IDS_MEMORY_SHARE = 0.4;

/**
 * How many ids the speed function's dedupe indexes may hold over all shards, from the memory
 * Lambda gives it (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, a reserved variable; 1,024 MB, the stack's
 * setting, where it is absent as in the local runtime): 2.1 million ids at 1,024 MB, over two
 * shards' worth at Kinesis's write limit of 1,000 records/s per shard for the 15-minute window.
 */
export function dedupeMaxHeldIds(env: Env): number {
  const memoryMb = integer(env, 'AWS_LAMBDA_FUNCTION_MEMORY_SIZE', 1024, 128);
  return Math.floor((memoryMb * 1024 * 1024 * HELD_IDS_MEMORY_SHARE) / HELD_ID_BYTES);
}

export interface QueryConfig {
  readonly views: ViewDefinition[];
  readonly endpoints: AwsEndpoints;
  readonly speedTable: string;
  readonly batchTable: string;
  readonly controlTable: string;
  readonly arrivalBucketMs: number;
}

export function readQueryConfig(env: Env): QueryConfig {
  return {
    views: views(env),
    endpoints: readEndpoints(env),
    speedTable: required(env, ENV.speedTable),
    batchTable: required(env, ENV.batchTable),
    controlTable: required(env, ENV.controlTable),
    arrivalBucketMs: integer(env, ENV.arrivalBucketMs, DEFAULT_ARRIVAL_BUCKET_MS, 1000),
  };
}

export type Architecture = 'lambda' | 'kappa';

function architecture(env: Env): Architecture {
  const value = env[ENV.architecture] || 'lambda';
  if (value !== 'lambda' && value !== 'kappa')
    throw new ConfigError(`${ENV.architecture} must be lambda or kappa (given ${JSON.stringify(value)})`);
  return value;
}

/** The query handler: the Lambda architecture's tables, or the Kappa table and the control table. */
export type ServingConfig =
  | ({ readonly architecture: 'lambda' } & QueryConfig)
  | {
      readonly architecture: 'kappa';
      readonly views: ViewDefinition[];
      readonly endpoints: AwsEndpoints;
      readonly kappaTable: string;
      readonly controlTable: string;
    };

export function readServingConfig(env: Env): ServingConfig {
  if (architecture(env) === 'lambda') return { architecture: 'lambda', ...readQueryConfig(env) };
  return {
    architecture: 'kappa',
    views: views(env),
    endpoints: readEndpoints(env),
    kappaTable: required(env, ENV.kappaTable),
    controlTable: required(env, ENV.controlTable),
  };
}

export interface KappaProcessorConfig {
  readonly views: ViewDefinition[];
  readonly endpoints: AwsEndpoints;
  readonly kappaTable: string;
  readonly controlTable: string;
  readonly dedupeTable: string | undefined;
  readonly dedupeScope: DedupeScope;
  readonly dedupeTtlSeconds: number;
  readonly fenceBy: FenceBy;
}

export function readKappaProcessorConfig(env: Env): KappaProcessorConfig {
  return {
    views: views(env),
    endpoints: readEndpoints(env),
    kappaTable: required(env, ENV.kappaTable),
    controlTable: required(env, ENV.controlTable),
    ...readStreamDedupe(env, 'global'),
  };
}

export interface ReplayConfig {
  readonly views: ViewDefinition[];
  readonly endpoints: AwsEndpoints;
  readonly kappaTable: string;
  readonly controlTable: string;
  readonly dedupeTable: string;
  readonly dedupeTtlSeconds: number;
  readonly archiveBucket: string;
  readonly archivePrefix: string;
  readonly watermark: ArchiveWatermarkConfig;
  readonly handoffDelayMs: number;
}

export function readReplayConfig(env: Env): ReplayConfig {
  return {
    views: views(env),
    endpoints: readEndpoints(env),
    kappaTable: required(env, ENV.kappaTable),
    controlTable: required(env, ENV.controlTable),
    dedupeTable: required(env, ENV.dedupeTable),
    dedupeTtlSeconds: integer(env, ENV.dedupeTtlSeconds, DEFAULT_DEDUPE_TTL_SECONDS, 60),
    archiveBucket: required(env, ENV.archiveBucket),
    archivePrefix: env[ENV.archivePrefix] || 'events/',
    watermark: readArchiveWatermark(env),
    handoffDelayMs: integer(
      env,
      ENV.replayHandoffDelayMs,
      DEFAULT_REPLAY_HANDOFF_DELAY_MS,
      MIN_REPLAY_HANDOFF_DELAY_MS,
    ),
  };
}

export interface KappaAdminConfig {
  readonly views: ViewDefinition[];
  readonly endpoints: AwsEndpoints;
  readonly kappaTable: string;
  readonly controlTable: string;
  readonly replayStateMachineArn: string;
}

export function readKappaAdminConfig(env: Env): KappaAdminConfig {
  return {
    views: views(env),
    endpoints: readEndpoints(env),
    kappaTable: required(env, ENV.kappaTable),
    controlTable: required(env, ENV.controlTable),
    replayStateMachineArn: required(env, ENV.replayStateMachineArn),
  };
}

export interface IngestConfig {
  readonly views: ViewDefinition[];
  readonly endpoints: AwsEndpoints;
  readonly streamName: string;
  readonly maxBodyBytes: number;
}

export function readIngestConfig(env: Env): IngestConfig {
  return {
    views: views(env),
    endpoints: readEndpoints(env),
    streamName: required(env, ENV.streamName),
    maxBodyBytes: integer(env, ENV.maxBodyBytes, 1_048_576, 1),
  };
}

export type BatchEngineConfig =
  | {
      readonly kind: 'athena';
      readonly workgroup: string;
      readonly database: string;
      readonly table: string;
      readonly maxBytesScanned: number;
      /** The compacted archive's Glue table and compaction period (ADR 011); absent, no compaction. */
      readonly compaction?: { readonly table: string; readonly periodMs: number };
    }
  | {
      readonly kind: 'duckdb';
      readonly archiveDir: string;
      readonly syncFromS3: boolean;
      /** Compact the archive into this local folder's Parquet before each run (ADR 011); absent, no compaction. */
      readonly compaction?: { readonly dir: string; readonly periodMs: number };
      /** DuckDB's memory limit and threads; a field absent takes openDuckDb's default. */
      readonly memory: { readonly memoryLimit?: string; readonly threads?: number };
    };

/** How far the archive provably holds (the batch cutoff and the replay handoff both wait for it). */
export type ArchiveWatermarkConfig =
  | {
      readonly kind: 'clock';
      /** The worst case by construction. */
      readonly lagMs: number;
      /** When set, the measured delays of this delivery stream can only lengthen the lag. */
      readonly deliveryStream?: string;
    }
  | { readonly kind: 'checkpoint' };

export interface BatchConfig extends QueryConfig {
  readonly engine: BatchEngineConfig;
  readonly archiveBucket: string;
  readonly archivePrefix: string;
  readonly watermark: ArchiveWatermarkConfig;
  /** Where the cloud's batch runs unload their rows (ENV.batchRunsPrefix). */
  readonly batchRunsPrefix: string;
  /** The batch state machine a run request starts (absent: the run happens in this process). */
  readonly stateMachineArn?: string;
}

export function readBatchConfig(env: Env): BatchConfig {
  const engineKind = env[ENV.queryEngine] ?? 'athena';
  let engine: BatchEngineConfig;
  if (engineKind === 'athena') {
    engine = {
      kind: 'athena',
      workgroup: required(env, ENV.athenaWorkgroup),
      database: required(env, ENV.athenaDatabase),
      table: required(env, ENV.athenaTable),
      maxBytesScanned: integer(env, ENV.athenaMaxBytesScanned, 10 * 1024 ** 3, 1),
      ...(env[ENV.athenaCompactedTable]
        ? {
            compaction: {
              table: required(env, ENV.athenaCompactedTable),
              periodMs: integer(env, ENV.athenaCompactionPeriodMs, 86_400_000, 3_600_000),
            },
          }
        : {}),
    };
  } else if (engineKind === 'duckdb') {
    engine = {
      kind: 'duckdb',
      archiveDir: required(env, ENV.duckdbArchiveDir),
      syncFromS3: env[ENV.duckdbSyncFromS3] === 'true',
      ...(env[ENV.duckdbCompactedDir]
        ? {
            compaction: {
              dir: required(env, ENV.duckdbCompactedDir),
              periodMs: integer(env, ENV.duckdbCompactionPeriodMs, 86_400_000, 1000),
            },
          }
        : {}),
      memory: {
        ...(env[ENV.duckdbMemoryLimit] !== undefined ? { memoryLimit: duckdbMemoryLimit(env) } : {}),
        ...(env[ENV.duckdbThreads] !== undefined ? { threads: integer(env, ENV.duckdbThreads, 1, 1) } : {}),
      },
    };
  } else {
    throw new ConfigError(`${ENV.queryEngine} must be athena or duckdb (given ${engineKind})`);
  }
  return {
    ...readQueryConfig(env),
    engine,
    archiveBucket: required(env, ENV.archiveBucket),
    archivePrefix: env[ENV.archivePrefix] || 'events/',
    watermark: readArchiveWatermark(env),
    batchRunsPrefix: env[ENV.batchRunsPrefix] || DEFAULT_BATCH_RUNS_PREFIX,
    ...(env[ENV.batchStateMachine] ? { stateMachineArn: env[ENV.batchStateMachine] } : {}),
  };
}
