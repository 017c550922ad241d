import { ENV } from './env';

/*
 * Which variables each function gets, written once: `lib/` builds the deployed functions'
 * environments with these, `local/` the environments of the same handlers in their workers. Values
 * are text because `lib/` passes CDK tokens (table names, numbers from CfnParameters) that only
 * CloudFormation resolves. Pure: no process.env, no SDK, so `lib/` may import it.
 */

/** A function's environment variables by name (names from ENV). */
export type FunctionEnvironment = Record<string, string>;

/** Where the events' archive is, read by the batch layer and the replay. */
export interface ArchiveLocation {
  /** The archive bucket's name. */
  readonly bucket: string;
  /** Key prefix of accepted events, e.g. `events/`. */
  readonly prefix: string;
}

/**
 * How a function knows what arrival time the archive holds: in the cloud the clock less the
 * archive's worst-case lag (and the delivery stream's measured delays), locally the archiver's
 * own checkpoint.
 */
export type ArchiveWatermarkSource =
  | { readonly kind: 'clock'; readonly lagMs: string; readonly firehoseDeliveryStream: string }
  | { readonly kind: 'checkpoint' };

/** The batch query engine: Athena in the cloud, DuckDB over local files. */
export type BatchQueryEngine =
  | {
      readonly kind: 'athena';
      readonly workgroup: string;
      readonly database: string;
      readonly table: string;
      readonly maxBytesScanned: string;
      /** The compacted archive's Glue table and the compaction period in ms (ADR 011); absent, no compaction. */
      readonly compaction?: { readonly table: string; readonly periodMs: string };
    }
  | {
      readonly kind: 'duckdb';
      readonly archiveDir: string;
      readonly syncFromS3: boolean;
      /** The S3 emulator's folder of the `compacted/` prefix and the compaction period (ADR 011); absent, no compaction. */
      readonly compaction?: { readonly dir: string; readonly periodMs: number };
      /** DuckDB's memory limit (`256MB`, `1GB`) and threads; absent, openDuckDb's defaults. */
      readonly memory?: { readonly memoryLimit?: string; readonly threads?: number };
    };

/** How far the speed layer's event-id dedupe reaches (ADR 008). */
export type DedupeScope = 'shard' | 'global';

/** Default dedupe windows: a shard scope holds its window in memory, claims live in DynamoDB. */
export const DEFAULT_DEDUPE_WINDOW_SECONDS: Readonly<Record<DedupeScope, number>> = {
  shard: 15 * 60,
  global: 7 * 24 * 3600,
};

/** Event-id dedupe and sequence fences of a stream consumer (the speed layer, the Kappa processor). */
export interface StreamDedupe {
  readonly dedupeTable: string;
  /** Drop repeated event ids (always on in the Kappa processor). */
  readonly dedupe: boolean;
  /** The speed layer's dedupe scope; the Kappa processor always claims per event (`global`). */
  readonly dedupeScope?: DedupeScope;
  /** Seconds an event-id claim is kept. */
  readonly dedupeTtlSeconds: string;
  /** What a row's sequence fence is kept per. */
  readonly fenceBy: 'shard' | 'partitionKey';
}

/**
 * Most records a stream consumer (the speed layer, the Kappa processor) takes per invocation:
 * Lambda's largest BatchSize for Kinesis, so a backlog is worked off in as few invocations and row
 * writes as the 6 MB payload allows, while a caught-up shard's batch stays what one read brings
 * (ADR 026). Shared by the stacks (lib/constructs/kinesis-source.ts) and the local runtime.
 */
export const DEFAULT_STREAM_BATCH_SIZE = 10_000;

/** Seconds an event-id claim is kept unless configured (7 days; `dedupeWindow` in lib/). */
export const DEFAULT_DEDUPE_TTL_SECONDS = DEFAULT_DEDUPE_WINDOW_SECONDS.global;

/** How long ahead of now a replay sets its handoff in the cloud (clock skew plus the processor's pointer reads). */
export const DEFAULT_REPLAY_HANDOFF_DELAY_MS = 10_000;
/**
 * The least handoff delay accepted: the replay's control table write must land before its handoff,
 * or the replay fails (HandoffTooLateError); at 0 every replay did.
 */
export const MIN_REPLAY_HANDOFF_DELAY_MS = 100;

function watermarkEnvironment(watermark: ArchiveWatermarkSource): FunctionEnvironment {
  return watermark.kind === 'clock'
    ? {
        [ENV.archiveWatermark]: 'clock',
        [ENV.archiveLagMs]: watermark.lagMs,
        [ENV.firehoseDeliveryStream]: watermark.firehoseDeliveryStream,
      }
    : { [ENV.archiveWatermark]: 'checkpoint' };
}

function dedupeEnvironment(d: StreamDedupe): FunctionEnvironment {
  return {
    [ENV.dedupeTable]: d.dedupeTable,
    [ENV.speedDedupe]: String(d.dedupe),
    ...(d.dedupeScope === undefined ? {} : { [ENV.dedupeScope]: d.dedupeScope }),
    [ENV.dedupeTtlSeconds]: d.dedupeTtlSeconds,
    [ENV.fenceBy]: d.fenceBy,
  };
}

/** POST /events: validates and puts the events on the stream. */
export function ingestEnvironment(o: {
  readonly views: string;
  readonly streamName: string;
  readonly maxBodyBytes: string;
}): FunctionEnvironment {
  return { [ENV.views]: o.views, [ENV.streamName]: o.streamName, [ENV.maxBodyBytes]: o.maxBodyBytes };
}

/** The speed layer: fenced, deduplicated speed rows per arrival bucket. */
export function speedEnvironment(
  o: { readonly views: string; readonly speedTable: string; readonly arrivalBucketMs: string } & StreamDedupe,
): FunctionEnvironment {
  return {
    [ENV.views]: o.views,
    [ENV.speedTable]: o.speedTable,
    [ENV.arrivalBucketMs]: o.arrivalBucketMs,
    ...dedupeEnvironment(o),
  };
}

/** The Lambda architecture's serving tables, read by the query and written by the batch layer. */
interface LambdaServing {
  readonly views: string;
  readonly speedTable: string;
  readonly batchTable: string;
  readonly controlTable: string;
  readonly arrivalBucketMs: string;
}

/** GET /views in the Lambda architecture: batch ⊕ speed at the cutoff. */
export function lambdaQueryEnvironment(o: LambdaServing): FunctionEnvironment {
  return {
    [ENV.views]: o.views,
    [ENV.speedTable]: o.speedTable,
    [ENV.batchTable]: o.batchTable,
    [ENV.controlTable]: o.controlTable,
    [ENV.arrivalBucketMs]: o.arrivalBucketMs,
  };
}

/** Where a cloud batch run's queries unload their rows for the writers, in the archive bucket. */
export const DEFAULT_BATCH_RUNS_PREFIX = 'batch-runs/';
/**
 * Under the batch runs prefix: where the WriteCells Distributed Map exports its writers' answers
 * (its ResultWriter), which the Publish step reads. Not under a run's `v<version>/`, which the
 * writers' ItemReader lists.
 */
export const MAP_RESULTS_FOLDER = 'map-results/';

/** The batch layer: recomputes the views over the archive and publishes a version with its cutoff. */
export function batchEnvironment(
  o: LambdaServing & {
    readonly archive: ArchiveLocation;
    readonly engine: BatchQueryEngine;
    readonly watermark: ArchiveWatermarkSource;
    /**
     * Where the cloud's runs unload their rows in the archive bucket (ENV.batchRunsPrefix). Set
     * locally too, though a local run writes in process, so both sides name the same variables.
     * @default DEFAULT_BATCH_RUNS_PREFIX
     */
    readonly batchRunsPrefix?: string;
    /** The state machine a run request starts (the cloud's entry function only). */
    readonly stateMachineArn?: string;
  },
): FunctionEnvironment {
  const engine: FunctionEnvironment =
    o.engine.kind === 'athena'
      ? {
          [ENV.queryEngine]: 'athena',
          [ENV.athenaWorkgroup]: o.engine.workgroup,
          [ENV.athenaDatabase]: o.engine.database,
          [ENV.athenaTable]: o.engine.table,
          [ENV.athenaMaxBytesScanned]: o.engine.maxBytesScanned,
          ...(o.engine.compaction
            ? {
                [ENV.athenaCompactedTable]: o.engine.compaction.table,
                [ENV.athenaCompactionPeriodMs]: o.engine.compaction.periodMs,
              }
            : {}),
        }
      : {
          [ENV.queryEngine]: 'duckdb',
          [ENV.duckdbArchiveDir]: o.engine.archiveDir,
          [ENV.duckdbSyncFromS3]: String(o.engine.syncFromS3),
          ...(o.engine.compaction
            ? {
                [ENV.duckdbCompactedDir]: o.engine.compaction.dir,
                [ENV.duckdbCompactionPeriodMs]: String(o.engine.compaction.periodMs),
              }
            : {}),
          ...(o.engine.memory?.memoryLimit !== undefined
            ? { [ENV.duckdbMemoryLimit]: o.engine.memory.memoryLimit }
            : {}),
          ...(o.engine.memory?.threads !== undefined
            ? { [ENV.duckdbThreads]: String(o.engine.memory.threads) }
            : {}),
        };
  return {
    ...lambdaQueryEnvironment(o),
    [ENV.archiveBucket]: o.archive.bucket,
    [ENV.archivePrefix]: o.archive.prefix,
    ...engine,
    ...watermarkEnvironment(o.watermark),
    [ENV.batchRunsPrefix]: o.batchRunsPrefix ?? DEFAULT_BATCH_RUNS_PREFIX,
    ...(o.stateMachineArn === undefined ? {} : { [ENV.batchStateMachine]: o.stateMachineArn }),
  };
}

/** The Kappa tables every Kappa function reads. */
interface KappaTables {
  readonly views: string;
  readonly kappaTable: string;
  readonly controlTable: string;
}

function kappaTablesEnvironment(o: KappaTables): FunctionEnvironment {
  return { [ENV.views]: o.views, [ENV.kappaTable]: o.kappaTable, [ENV.controlTable]: o.controlTable };
}

/** GET /views in the Kappa architecture: the active version of each view. */
export function kappaQueryEnvironment(o: KappaTables): FunctionEnvironment {
  return { ...kappaTablesEnvironment(o), [ENV.architecture]: 'kappa' };
}

/** The Kappa stream processor: writes the versions the control table names. */
export function kappaProcessorEnvironment(o: KappaTables & StreamDedupe): FunctionEnvironment {
  return { ...kappaTablesEnvironment(o), ...dedupeEnvironment(o) };
}

/** POST /admin/replay and rollback. */
export function kappaAdminEnvironment(
  o: KappaTables & { readonly replayStateMachineArn: string },
): FunctionEnvironment {
  return { ...kappaTablesEnvironment(o), [ENV.replayStateMachineArn]: o.replayStateMachineArn };
}

/** The Kappa replay: rebuilds a version from the archive and hands over to the live stream. */
export function replayEnvironment(
  o: KappaTables & {
    readonly dedupeTable: string;
    readonly archive: ArchiveLocation;
    readonly watermark: ArchiveWatermarkSource;
    readonly handoffDelayMs: string;
    /** The Kappa processor's dedupe window (claims' TTL, and the range replay's copy window); absent: the default. */
    readonly dedupeTtlSeconds?: string;
  },
): FunctionEnvironment {
  return {
    ...kappaTablesEnvironment(o),
    [ENV.dedupeTable]: o.dedupeTable,
    ...(o.dedupeTtlSeconds === undefined ? {} : { [ENV.dedupeTtlSeconds]: o.dedupeTtlSeconds }),
    [ENV.archiveBucket]: o.archive.bucket,
    [ENV.archivePrefix]: o.archive.prefix,
    [ENV.replayHandoffDelayMs]: o.handoffDelayMs,
    ...watermarkEnvironment(o.watermark),
  };
}
