import { DescribeStreamSummaryCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import type { DynamoDbEventClaims } from '../lambdas/adapters/aws/dynamodb-event-claims';
import type { DynamoDbSpeedRowStore } from '../lambdas/adapters/aws/dynamodb-speed-row-store';
import type { AwsEndpoints } from '../lambdas/runtime/clients';
import type { BatchRunResult } from '../lambdas/services/batch-layer';
import type { Archiver, ArchiverStats } from './archiver';
import type { DeadLetterQueue } from './dead-letter-queue';
import type { EventSourcePoller, EventSourcePollerStats } from './event-source-poller';
import type { EventGenerator } from './generator';
import type { HandlerHost, HeapUsage, WorkerThread } from './handler-host';
import type { LocalKappa, LocalKappaStatus } from './kappa';
import type { ResourceNames } from './resources';
import type { Scheduler } from './scheduler';

/** GET /admin/status of the local runtime, and what the progress line shows. */
export interface PipelineStatus {
  readonly architecture: 'lambda' | 'kappa' | 'both';
  readonly uptimeSeconds: number;
  /** Events acknowledged by POST /events since start. */
  readonly eventsAccepted: number;
  readonly api: string;
  readonly endpoints: Pick<AwsEndpoints, 'kinesis' | 'dynamodb' | 's3' | 'region'>;
  readonly resources: ResourceNames & { readonly shards: number | undefined };
  /** The speed layer's poller; null with `--architecture kappa`, which runs no speed layer. */
  readonly speed: EventSourcePollerStats | null;
  readonly archive: ArchiverStats;
  /** The batch schedule; null with `--architecture kappa`, which runs no batch layer. */
  readonly batch: {
    readonly runs: number;
    readonly failures: number;
    readonly last: BatchRunResult | null;
    readonly lastError: string | null;
    readonly everyMs: number;
  } | null;
  /** Rows in the speed table; null with `--architecture kappa`. */
  readonly speedRows: number | null;
  /**
   * Copies of one id that arrived before the copy the speed layer kept (README: producer retries).
   * Only per-event claims see copies on other shards (ADR 008): null when nothing counts them
   * (shard dedupe, or Kappa only).
   */
  readonly earlierCopiesOfKeptIds: number | null;
  readonly deadLetterQueue: { readonly depth: number };
  readonly generator: {
    readonly sent: number;
    readonly requests: number;
    readonly failures: number;
    readonly lastError: string | null;
  } | null;
  readonly handlers: Readonly<Record<string, { readonly invocations: number; readonly errors: number }>>;
  readonly kappa: LocalKappaStatus | null;
  /**
   * Where the process's memory is, in MB: its resident set, the main thread's V8 heap and each
   * worker's, handlers' and emulators' (separate isolates), and what is left (native: emulators'
   * LevelDB, DuckDB, malloc arenas, code).
   */
  readonly memoryMb: MemoryBreakdown;
}

export interface MemoryBreakdown {
  readonly rss: number;
  readonly main: HeapUsage;
  /**
   * Each worker's heap, by name (handlers; kinesalite, dynalite, s3rver when they run in workers):
   * its answer, or its last one when busy; one that never answered is left out.
   */
  readonly workers: Readonly<Record<string, HeapUsage>>;
  /** RSS minus every isolate's heap and array buffers (those that answered). */
  readonly native: number;
}

const toMb = (bytes: number) => Math.round(bytes / 104_857.6) / 10;

function inMb(u: HeapUsage): HeapUsage {
  return {
    heapUsed: toMb(u.heapUsed),
    heapTotal: toMb(u.heapTotal),
    external: toMb(u.external),
    arrayBuffers: toMb(u.arrayBuffers),
  };
}

/** The memory of this process and of the given worker threads. */
export async function memoryBreakdown(
  hosts: readonly WorkerThread[],
  waitMs = 200,
): Promise<MemoryBreakdown> {
  // A worker busy in a long synchronous step answers late: the status (polled by the progress
  // line, the soak, tests waiting on a replay) must not wait for it, so such a worker is given
  // with its last answer, and one that never answered (or exited) is left out.
  const answers = await Promise.all(
    hosts.map(async (h) => [h.name, await h.memoryUsage(waitMs).catch(() => h.lastMemory)] as const),
  );
  const workers = answers.flatMap(([name, usage]) => (usage ? [[name, usage] as const] : []));
  const main = process.memoryUsage();
  const isolates = [main, ...workers.map(([, u]) => u)];
  const held = isolates.reduce((sum, u) => sum + u.heapTotal + u.arrayBuffers, 0);
  return {
    rss: toMb(main.rss),
    main: inMb(main),
    workers: Object.fromEntries(workers.map(([name, u]) => [name, inMb(u)])),
    native: toMb(main.rss - held),
  };
}

/** The parts of a running pipeline the status reads. */
export interface StatusSources {
  readonly architecture: PipelineStatus['architecture'];
  readonly startedAt: number;
  readonly eventsAccepted: number;
  readonly api: string;
  readonly endpoints: AwsEndpoints;
  readonly names: ResourceNames;
  /** The client made at start: the status is read every 2 s by the progress line. */
  readonly kinesis: KinesisClient;
  readonly speed: EventSourcePoller;
  readonly archive: Archiver;
  readonly batch: Scheduler<BatchRunResult>;
  readonly batchEveryMs: number;
  readonly speedRows: DynamoDbSpeedRowStore;
  /** Present when the speed layer claims each event (`global` dedupe), the only one to count earlier copies. */
  readonly claims: DynamoDbEventClaims | undefined;
  readonly deadLetters: DeadLetterQueue;
  readonly generator: EventGenerator | undefined;
  readonly hosts: readonly HandlerHost[];
  /** The emulators' worker threads, reported beside the handlers' in `memoryMb`. */
  readonly emulatorThreads: readonly WorkerThread[];
  readonly kappa: LocalKappa | undefined;
}

export async function readPipelineStatus(s: StatusSources): Promise<PipelineStatus> {
  const summary = await s.kinesis.send(new DescribeStreamSummaryCommand({ StreamName: s.names.stream }));
  const generator = s.generator;
  // Kappa alone runs no speed or batch layer: zeros there would read as a stalled layer.
  const lambda = s.architecture !== 'kappa';
  return {
    architecture: s.architecture,
    uptimeSeconds: Math.round((Date.now() - s.startedAt) / 1000),
    eventsAccepted: s.eventsAccepted,
    api: s.api,
    endpoints: {
      kinesis: s.endpoints.kinesis,
      dynamodb: s.endpoints.dynamodb,
      s3: s.endpoints.s3,
      region: s.endpoints.region,
    },
    resources: { ...s.names, shards: summary.StreamDescriptionSummary?.OpenShardCount },
    speed: lambda ? s.speed.stats() : null,
    archive: s.archive.stats(),
    batch: lambda
      ? {
          runs: s.batch.runs,
          failures: s.batch.failures,
          last: s.batch.lastResult ?? null,
          lastError: s.batch.lastError ?? null,
          everyMs: s.batchEveryMs,
        }
      : null,
    speedRows: lambda ? await s.speedRows.count() : null,
    earlierCopiesOfKeptIds: lambda && s.claims ? await s.claims.earlierCopiesNoted() : null,
    deadLetterQueue: { depth: await s.deadLetters.depth() },
    generator: generator
      ? {
          sent: generator.sent,
          requests: generator.requests,
          failures: generator.failures,
          lastError: generator.lastError ?? null,
        }
      : null,
    handlers: Object.fromEntries(
      s.hosts.map((h) => [h.name, { invocations: h.invocations, errors: h.errors }]),
    ),
    kappa: s.kappa ? await s.kappa.status() : null,
    memoryMb: await memoryBreakdown([...s.hosts, ...s.emulatorThreads]),
  };
}
