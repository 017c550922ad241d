import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { S3Client } from '@aws-sdk/client-s3';
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { DynamoDbEventClaims } from '../lambdas/adapters/aws/dynamodb-event-claims';
import { DynamoDbSpeedRowStore } from '../lambdas/adapters/aws/dynamodb-speed-row-store';
import { S3ArchiveReader } from '../lambdas/adapters/aws/s3-archive-reader';
import type { ViewDefinition } from '../lambdas/core/view';
import {
  makeDynamoDbClient,
  makeDynamoDocumentClient,
  makeKinesisClient,
  makeS3Client,
  type AwsEndpoints,
} from '../lambdas/runtime/clients';
import type { DedupeScope } from '../lambdas/runtime/config';
import { ENV } from '../lambdas/runtime/env';
import {
  batchEnvironment,
  DEFAULT_DEDUPE_WINDOW_SECONDS,
  DEFAULT_STREAM_BATCH_SIZE,
  ingestEnvironment,
  lambdaQueryEnvironment,
  speedEnvironment,
} from '../lambdas/runtime/function-environment';
import type { BatchRunResult } from '../lambdas/services/batch-layer';
import { Archiver } from './archiver';
import { dashboardRoutes } from './dashboard/routes';
import { KeyIndex } from './dashboard/key-index';
import { lockDataDir } from './data-dir-lock';
import { DeadLetterQueue } from './dead-letter-queue';
import { EMULATOR_THREADS, startEmulators, type Emulators, type EmulatorThreads } from './emulators';
import { EventSourcePoller, type EventSourcePollerOptions } from './event-source-poller';
import type { KinesisBatchHandler } from './lambda-invocation';
import { EventGenerator } from './generator';
import { stopWithin, type StopOutcome } from './graceful-stop';
import { HandlerHost } from './handler-host';
import { writeHeapSnapshots } from './heap-snapshots';
import { COMPACTED_PREFIX } from '../lambdas/core/compaction';
import { HttpGateway } from './http-gateway';
import { LocalKappa } from './kappa';
import { pipelineRoutes, type BatchDetail } from './pipeline-routes';
import { readPipelineStatus, type PipelineStatus } from './pipeline-status';
import { ensureResources, resourceNames, type ResourceNames } from './resources';
import { Scheduler } from './scheduler';
import { retryingStart } from './start-retries';
import { checkStoredSettings } from './stored-settings';
import { TtlSweeper } from './ttl-sweeper';

const HANDLERS = path.resolve(__dirname, '..', 'lambdas', 'handlers');
const sourceEntry = (name: string) => path.join(HANDLERS, `${name}.ts`);
/** LocalPipelineOptions.stopGraceMs's default. */
export const DEFAULT_STOP_GRACE_MS = 30_000;
/**
 * How often a caught-up shard is read with `enhancedFanOut`. AWS gives an enhanced fan-out
 * consumer's propagation delay as "typically an average of 70 ms"
 * (https://docs.aws.amazon.com/streams/latest/dev/enhanced-consumers.html) and documents no worst
 * case; a read every 200 ms makes a record wait 100 ms on average, up to 200 ms, so the local
 * runtime stays slower than that average (ADR 025).
 */
export const ENHANCED_FAN_OUT_READ_MS = 200;

export interface LocalPipelineOptions {
  readonly views: readonly ViewDefinition[];
  /** Folder for every emulator's data, checkpoints and the dead-letter queue; null keeps everything in memory. */
  readonly dataDir: string | null;
  /** HTTP port of the API; 0 picks a free one. */
  readonly port: number;
  readonly generator: boolean;
  /** Synthetic events per second. */
  readonly generatorRate: number;
  readonly batchEveryMs: number;
  /**
   * When the first scheduled batch runs.
   * @default batchEveryMs
   */
  readonly firstBatchAfterMs?: number;
  readonly archiveFlushMs: number;
  /** Width of arrival buckets, the alignment of the cutoff. */
  readonly arrivalBucketMs: number;
  readonly shards: number;
  readonly speedBatchSize: number;
  readonly speedBatchingWindowMs: number;
  readonly speedRetryAttempts: number;
  /**
   * The speed layer's aggregation window (tumbling window of its event source, ADR 012); 0 = off.
   * @default 0
   */
  readonly speedAggregationWindowMs?: number;
  readonly speedDedupe: boolean;
  /**
   * The speed layer (and the Kappa processor) read as an enhanced fan-out consumer would get
   * records pushed (ADR 025): a shard read to its tip is read again after
   * {@link ENHANCED_FAN_OUT_READ_MS} instead of Lambda's once a second.
   * @default false
   */
  readonly enhancedFanOut?: boolean;
  /** How far the speed layer's dedupe reaches (ADR 008). */
  readonly dedupeScope: DedupeScope;
  readonly maxBodyBytes: number;
  /**
   * An AWS-compatible endpoint (LocalStack) to use instead of the embedded emulators; DuckDB then
   * copies the archive from its S3 before each batch run.
   */
  readonly endpoint?: string;
  /**
   * What answers S3 at `endpoint`: `s3rver` needs its fixed credentials.
   * @default 'aws'
   */
  readonly endpointS3Flavor?: 'aws' | 's3rver';
  /** Prefix of the stream, table and bucket names (unique names let runs share one LocalStack). */
  readonly resourcePrefix?: string;
  /**
   * Which architecture serves: `lambda` (batch + speed), `kappa` (processor + replay), or `both`
   * on the one stream (Lambda at /views, Kappa at /kappa/views).
   * @default 'lambda'
   */
  readonly architecture?: 'lambda' | 'kappa' | 'both';
  /**
   * Kappa: start a replay at start when a view has no version built with its current definition.
   * @default true
   */
  readonly kappaAutoReplay?: boolean;
  /**
   * Kappa: how far ahead a replay sets its handoff.
   * @default 3000
   */
  readonly replayHandoffDelayMs?: number;
  /**
   * Wraps how the event source invokes the speed handler: a hook for the fault-injection suite
   * (crashes, timeouts, redeliveries around the real handler), never set by `npm start`.
   * @default - the handler is invoked as is
   */
  readonly wrapSpeedInvoke?: (invoke: KinesisBatchHandler) => KinesisBatchHandler;
  /**
   * Told of every page of records the speed layer's event source fetched, and when (epoch ms):
   * a probe for the benchmark that times each hop, never set by `npm start`.
   * @default - nobody is told
   */
  readonly onSpeedRecordsFetched?: EventSourcePollerOptions['onRecordsFetched'];
  /**
   * The module each handler is loaded from, by its file's name in lambdas/handlers (`speed`,
   * `query`, `kappa-processor`, ...): a hook for the fault suite, which restarts a SIGKILLed
   * runtime from esbuild bundles of these same modules (as deployed) because eight workers
   * loading the SDK through tsx take most of a restart; never set by `npm start`.
   * @default - lambdas/handlers/<name>.ts, loaded through tsx
   */
  readonly handlerEntry?: (name: string) => string;
  /**
   * How long `stop()` waits for the work in flight (a batch run, a replay step, a speed
   * invocation, the archive's last flush) before it abandons it and stops the workers and
   * emulators anyway (local/graceful-stop.ts says why that is safe).
   * @default 30_000
   */
  readonly stopGraceMs?: number;
  /**
   * Compaction of the archive into Parquet before batch runs (ADR 011): objects are compacted
   * once every line arrived before the start of the run cutoff's period; 0 turns compaction off.
   * Off with `endpoint` (DuckDB reads a copy of that archive, not the bucket's folder).
   * @default 86_400_000 (one UTC day)
   */
  readonly compactionPeriodMs?: number;
  /**
   * DuckDB's memory limit for batch runs (`256MB`, `2GB`): past it DuckDB spills to disk, and a
   * run whose working set cannot spill fails with DuckDB's out-of-memory error (the previous
   * version stays served). The default holds the long-running runtime's memory flat (issue 12).
   * @default '256MB'
   */
  readonly duckdbMemoryLimit?: string;
  /**
   * DuckDB's worker threads for batch runs; each takes a core from the emulators and the speed layer.
   * @default 1
   */
  readonly duckdbThreads?: number;
  /**
   * Where `kill -USR2 <pid>` writes heap snapshots of the main thread and every handler worker
   * (local/heap-snapshots.ts): a diagnostic for memory growth, read by the CLI only.
   * @default - SIGUSR2 is not handled
   */
  readonly heapSnapshotDir?: string;
  /**
   * Where the embedded emulators run: `none` on the main thread, `each` in a worker thread of its
   * own, `shared` all three in one worker (ADR 017: the threads were not faster on a loaded
   * 2-core machine, and cost CPU; an idle machine is not measured).
   * @default 'none'
   */
  readonly emulatorThreads?: EmulatorThreads;
}

export const DEFAULT_OPTIONS: Omit<LocalPipelineOptions, 'views'> = {
  dataDir: '.data',
  port: 3000,
  generator: true,
  generatorRate: 20,
  batchEveryMs: 60_000,
  archiveFlushMs: 5_000,
  arrivalBucketMs: 1_000,
  shards: 2,
  // The deployed event source mapping's defaults (lib/constructs/kinesis-source.ts): locally the
  // same batches reach the same handler. No batching window: the event source reads a shard read
  // to its tip once a second, as Lambda does (EventSourcePoller's pollIntervalMs), which batches a
  // second of records by itself (ADR 014); the batch size only bounds a backlog's batches (ADR 026).
  speedBatchSize: DEFAULT_STREAM_BATCH_SIZE,
  speedBatchingWindowMs: 0,
  speedRetryAttempts: 3,
  speedDedupe: true,
  dedupeScope: 'shard',
  maxBodyBytes: 1_048_576,
};

/**
 * The whole Lambda architecture on one machine: emulators speaking the AWS wire protocol, the
 * deployed handlers (each in its own worker with its own environment), an event-source poller
 * with Lambda's semantics, a Firehose-like archiver, a batch scheduler and the HTTP gateway.
 */
export class LocalPipeline {
  private emulators?: Emulators;
  private releaseDataDir?: () => Promise<void>;
  /** The handler workers, each with its environment (test/integ/function-environment.test.ts reads them). */
  hosts: HandlerHost[] = [];
  /** What the start found worth telling the user (a setting changed on existing data), printed by the CLI. */
  readonly startNotices: string[] = [];
  private kinesis?: KinesisClient;
  private poller?: EventSourcePoller;
  private archiver?: Archiver;
  private scheduler?: Scheduler<BatchRunResult>;
  private gateway?: HttpGateway;
  private generatorInstance?: EventGenerator;
  private dlq?: DeadLetterQueue;
  private sweeper?: TtlSweeper;
  private speedRows?: DynamoDbSpeedRowStore;
  /** With `endpoint`: the batch handler's copy of the archive (freshArchiveMirror). */
  private archiveMirror?: string;
  /** Only per-event claims (`global` dedupe) count earlier copies of kept ids. */
  private claims?: DynamoDbEventClaims;
  private ingestHost?: HandlerHost;
  private queryHost?: HandlerHost;
  private batchHost?: HandlerHost;
  private speedHost?: HandlerHost;
  /** The Kappa architecture's part, when it runs (`kappa` or `both`). */
  kappa?: LocalKappa;
  endpoints?: AwsEndpoints;
  readonly names: ResourceNames;
  url = '';
  /** Events acknowledged by POST /events since start. */
  eventsAccepted = 0;
  startedAt = 0;

  constructor(readonly options: LocalPipelineOptions) {
    this.names = resourceNames(options.resourcePrefix);
  }

  private get architecture(): 'lambda' | 'kappa' | 'both' {
    return this.options.architecture ?? 'lambda';
  }

  private dataPath(...parts: string[]): string | undefined {
    return this.options.dataDir === null ? undefined : path.join(this.options.dataDir, ...parts);
  }

  async start(): Promise<void> {
    this.startedAt = Date.now();
    if (this.options.dataDir !== null) {
      await fs.mkdir(this.options.dataDir, { recursive: true });
      this.releaseDataDir = await lockDataDir(this.options.dataDir);
    }
    const { endpoints, archiveDir, compactedDir } = await this.connect();
    this.endpoints = endpoints;
    const kinesis = (this.kinesis = makeKinesisClient(endpoints));
    const s3 = makeS3Client(endpoints);
    await this.prepareResources(endpoints, kinesis, s3);
    const common = localEnvironment(endpoints);
    await this.startHandlers(common, archiveDir, compactedDir);
    this.buildLayers(kinesis, s3);
    if (this.architecture !== 'lambda') this.kappa = this.buildKappa(endpoints, kinesis, common);
    this.buildStores(endpoints);
    await this.serve(s3);
    await this.startLoops();
  }

  /** The embedded emulators, or the AWS-compatible endpoint given; and the folder DuckDB reads the archive from. */
  private async connect(): Promise<{ endpoints: AwsEndpoints; archiveDir: string; compactedDir?: string }> {
    const o = this.options;
    if (o.endpoint)
      return {
        endpoints: {
          region: process.env.AWS_REGION ?? 'us-east-1',
          kinesis: o.endpoint,
          dynamodb: o.endpoint,
          s3: o.endpoint,
          s3Flavor: o.endpointS3Flavor ?? 'aws',
        },
        // DuckDB reads no s3:// here: the batch handler copies the archive into this folder.
        archiveDir: await this.freshArchiveMirror(),
      };
    this.emulators = await startEmulators({
      dataDir: this.dataPath('emulators'),
      workers: EMULATOR_THREADS[o.emulatorThreads ?? 'none'],
    });
    return {
      endpoints: this.emulators.endpoints,
      archiveDir: path.join(this.emulators.s3Dir, this.names.bucket, 'events'),
      compactedDir: path.join(this.emulators.s3Dir, this.names.bucket, COMPACTED_PREFIX),
    };
  }

  /**
   * The folder the batch handler copies an endpoint's archive into: `archive-mirror` in the data
   * dir (a temporary folder without one), emptied first and removed at stop. A copy left by an
   * earlier process may hold objects the endpoint no longer has (LocalStack restarted without
   * persistence), so each process copies afresh; in the data dir, a process ended by `kill -9`
   * leaves no copy behind in the temporary folder (each restart left a whole copy of the archive
   * there before).
   */
  private async freshArchiveMirror(): Promise<string> {
    const dir =
      this.dataPath('archive-mirror') ??
      (await fs.mkdtemp(path.join(os.tmpdir(), 'streamfold-archive-mirror-')));
    await fs.rm(dir, { recursive: true, force: true });
    await fs.mkdir(dir, { recursive: true });
    this.archiveMirror = dir;
    return dir;
  }

  /** The stream, tables and bucket; refuses data built with another arrival bucket. */
  private async prepareResources(
    endpoints: AwsEndpoints,
    kinesis: KinesisClient,
    s3: S3Client,
  ): Promise<void> {
    const o = this.options;
    // Each step is idempotent (creates what is missing, reads or writes the settings once).
    const { openShards } = await retryingStart(() =>
      ensureResources({ kinesis, dynamodb: makeDynamoDbClient(endpoints), s3 }, o.shards, this.names),
    );
    // Silently ignored before (a black-box probe, 2026-12-04): the stream of existing data keeps its shards.
    if (openShards !== o.shards)
      this.startNotices.push(
        `--shards ${o.shards} is not applied: the stream on this data has ${openShards} open shards, and the local runtime does not reshard. Use another --data-dir (or delete this one) to start with ${o.shards}.`,
      );
    const { notices } = await retryingStart(() =>
      checkStoredSettings(
        makeDynamoDocumentClient(endpoints),
        this.names.controlTable,
        o.arrivalBucketMs,
        o.endpoint ?? o.dataDir ?? 'memory',
        o.speedDedupe ? o.dedupeScope : 'off',
      ),
    );
    this.startNotices.push(...notices);
  }

  /** The Lambda architecture's handlers, each in its worker with its function's environment, as in lib/. */
  private async startHandlers(
    common: Record<string, string>,
    archiveDir: string,
    compactedDir: string | undefined,
  ): Promise<void> {
    const o = this.options;
    const periodMs = o.compactionPeriodMs ?? 86_400_000;
    const views = JSON.stringify(o.views);
    const arrivalBucketMs = String(o.arrivalBucketMs);
    const tables = {
      views,
      speedTable: this.names.speedTable,
      batchTable: this.names.batchTable,
      controlTable: this.names.controlTable,
      arrivalBucketMs,
    };
    const entry = o.handlerEntry ?? sourceEntry;
    this.ingestHost = new HandlerHost('ingest', entry('ingest'), {
      ...common,
      ...ingestEnvironment({ views, streamName: this.names.stream, maxBodyBytes: String(o.maxBodyBytes) }),
    });
    this.queryHost = new HandlerHost('query', entry('query'), {
      ...common,
      ...lambdaQueryEnvironment(tables),
    });
    this.speedHost = new HandlerHost('speed', entry('speed'), {
      ...common,
      ...speedEnvironment({
        views,
        speedTable: this.names.speedTable,
        arrivalBucketMs,
        dedupeTable: this.names.dedupeTable,
        dedupe: o.speedDedupe,
        dedupeScope: o.dedupeScope,
        dedupeTtlSeconds: String(DEFAULT_DEDUPE_WINDOW_SECONDS[o.dedupeScope]),
        fenceBy: 'shard',
      }),
    });
    this.batchHost = new HandlerHost('batch', entry('batch'), {
      ...common,
      ...batchEnvironment({
        ...tables,
        archive: { bucket: this.names.bucket, prefix: 'events/' },
        engine: {
          kind: 'duckdb',
          archiveDir,
          syncFromS3: Boolean(o.endpoint),
          ...(compactedDir !== undefined && periodMs > 0
            ? { compaction: { dir: compactedDir, periodMs } }
            : {}),
          memory: {
            ...(o.duckdbMemoryLimit !== undefined ? { memoryLimit: o.duckdbMemoryLimit } : {}),
            ...(o.duckdbThreads !== undefined ? { threads: o.duckdbThreads } : {}),
          },
        },
        watermark: { kind: 'checkpoint' },
      }),
    });
    this.hosts = [this.ingestHost, this.queryHost, this.speedHost, this.batchHost];
    await Promise.all(this.hosts.map((h) => h.start()));
  }

  /** The speed layer's event source, the archiver and the batch schedule; none runs yet. */
  private buildLayers(kinesis: KinesisClient, s3: S3Client): void {
    const o = this.options;
    this.dlq = new DeadLetterQueue({ file: this.dataPath('dead-letter-queue.ndjson') });
    const speedHost = this.speedHost!;
    const invokeSpeed: KinesisBatchHandler = (event: KinesisStreamEvent) =>
      speedHost.invoke<KinesisStreamBatchResponse>(event);
    this.poller = new EventSourcePoller({
      client: kinesis,
      streamName: this.names.stream,
      handler: o.wrapSpeedInvoke ? o.wrapSpeedInvoke(invokeSpeed) : invokeSpeed,
      batchSize: o.speedBatchSize,
      maximumBatchingWindowMs: o.speedBatchingWindowMs,
      bisectBatchOnFunctionError: true,
      maximumRetryAttempts: o.speedRetryAttempts,
      tumblingWindowMs: o.speedAggregationWindowMs ?? 0,
      reportBatchItemFailures: true,
      startingPosition: 'TRIM_HORIZON',
      checkpointFile: this.dataPath('speed-checkpoints.json'),
      onFailure: this.dlq,
      onRecordsFetched: o.onSpeedRecordsFetched,
      ...(o.enhancedFanOut ? { pollIntervalMs: ENHANCED_FAN_OUT_READ_MS } : {}),
    });
    this.archiver = new Archiver({
      kinesis,
      s3,
      streamName: this.names.stream,
      bucket: this.names.bucket,
      flushIntervalMs: o.archiveFlushMs,
      checkpointFile: this.dataPath('archiver-checkpoints.json'),
    });
    this.scheduler = new Scheduler(() => this.invokeBatch({}), o.batchEveryMs);
  }

  /** Invokes the batch handler as the schedule does, with `detail` as the run's request. */
  private invokeBatch(detail: BatchDetail): Promise<BatchRunResult> {
    return this.batchHost!.invoke<BatchRunResult>({
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      detail,
    });
  }

  private buildKappa(
    endpoints: AwsEndpoints,
    kinesis: KinesisClient,
    common: Record<string, string>,
  ): LocalKappa {
    const o = this.options;
    return new LocalKappa({
      views: o.views,
      names: this.names,
      endpoints,
      kinesis,
      archiver: this.archiver!,
      commonEnv: common,
      dataPath: (...parts) => this.dataPath(...parts),
      batchSize: o.speedBatchSize,
      batchingWindowMs: o.speedBatchingWindowMs,
      ...(o.enhancedFanOut ? { pollIntervalMs: ENHANCED_FAN_OUT_READ_MS } : {}),
      retryAttempts: o.speedRetryAttempts,
      dedupe: o.speedDedupe,
      handoffDelayMs: o.replayHandoffDelayMs ?? 3_000,
      autoReplay: o.kappaAutoReplay ?? true,
      prefix: this.architecture === 'both' ? '/kappa' : '',
      handlerEntry: o.handlerEntry,
    });
  }

  /** The HTTP API: the pipeline's routes, Kappa's, and the dashboard's. */
  private async serve(s3: S3Client): Promise<void> {
    const routes = pipelineRoutes(
      {
        ingest: this.ingestHost!,
        query: this.queryHost!,
        speed: this.speedHost!,
        deadLetters: this.dlq!,
        accepted: (events) => (this.eventsAccepted += events),
        runBatch: (detail) => this.runBatch(detail),
        status: () => this.status(),
      },
      this.architecture !== 'kappa',
    );
    const keys = new KeyIndex({
      archive: new S3ArchiveReader(s3, this.names.bucket, 'events/'),
      views: this.options.views,
    });
    this.gateway = new HttpGateway([
      ...routes,
      ...(this.kappa ? this.kappa.routes() : []),
      ...dashboardRoutes(keys),
    ]);
    const port = await this.gateway.listen(this.options.port);
    this.url = `http://127.0.0.1:${port}`;
  }

  /** What the status reads from the tables, and the sweeper that plays DynamoDB's TTL. */
  private buildStores(endpoints: AwsEndpoints): void {
    const o = this.options;
    const documents = makeDynamoDocumentClient(endpoints);
    this.speedRows = new DynamoDbSpeedRowStore(documents, this.names.speedTable);
    if (o.speedDedupe && o.dedupeScope === 'global')
      this.claims = new DynamoDbEventClaims(documents, this.names.dedupeTable, 0, { now: () => Date.now() });
    this.sweeper = new TtlSweeper(documents, this.names.dedupeTable);
  }

  /** Starts everything that runs by itself: the sweeper, the archiver, the speed layer and the schedule, Kappa, the generator. */
  private async startLoops(): Promise<void> {
    const o = this.options;
    this.sweeper!.start();
    this.archiver!.start();
    if (this.architecture !== 'kappa') {
      this.poller!.start();
      this.scheduler!.start(o.firstBatchAfterMs ?? o.batchEveryMs);
    }
    if (this.kappa) {
      await this.kappa.start();
      this.hosts.push(...this.kappa.hosts);
    }
    if (o.generator) {
      this.generatorInstance = new EventGenerator({ baseUrl: this.url, rate: o.generatorRate });
      this.generatorInstance.start();
    }
  }

  /** Waits until the speed layer and the archiver have caught up with the stream. */
  async idle(timeoutMs = 30_000): Promise<void> {
    await Promise.all([
      this.architecture !== 'kappa' ? this.poller!.idle(timeoutMs) : undefined,
      this.archiver!.idle(timeoutMs),
      this.kappa?.idle(timeoutMs),
    ]);
  }

  /** Hands an event straight to the speed handler, as a redelivery by the event source would. */
  async invokeSpeed(event: KinesisStreamEvent): Promise<KinesisStreamBatchResponse> {
    return this.speedHost!.invoke<KinesisStreamBatchResponse>(event);
  }

  /**
   * Runs the batch layer now, after flushing the archiver so the run covers what was just ingested
   * (as far as the watermark allows). Never two runs at once: a run asked for while one is in
   * progress starts once it has ended (as the cloud's admin route starts a new execution): one that
   * began earlier may not cover what the caller just ingested. Incremental requests made meanwhile
   * share that next run; a full run or a backfill ({full}, {from, to}) runs on its own.
   */
  async runBatch(detail?: BatchDetail): Promise<BatchRunResult> {
    await this.archiver!.flush();
    if (detail === undefined) return this.scheduler!.runFresh();
    return this.scheduler!.runInstead(() => this.invokeBatch(detail));
  }

  /** Heap snapshots of the main thread, every handler worker and every emulator worker, labeled `label`, into `dir`. */
  writeHeapSnapshots(dir: string, label: string): Promise<string[]> {
    return writeHeapSnapshots(dir, label, [...this.hosts, ...(this.emulators?.threads ?? [])]);
  }

  /**
   * Batch runs since start, how many failed and whether one is in progress, without the status's
   * table scans: the fault suite reads them several times a second.
   */
  batchRuns(): { readonly runs: number; readonly failures: number; readonly inProgress: boolean } {
    return {
      runs: this.scheduler?.runs ?? 0,
      failures: this.scheduler?.failures ?? 0,
      inProgress: this.scheduler?.busy ?? false,
    };
  }

  /**
   * Kills the execution environment of the function `name` (its worker) mid-invocation, as Lambda
   * does at a timeout or out of memory; the next invocation starts it anew (HandlerHost.kill).
   */
  killFunction(name: string, reason: string): Promise<void> {
    const host = this.hosts.find((h) => h.name === name);
    if (!host)
      throw new Error(
        `no function named ${JSON.stringify(name)} runs here (${this.hosts.map((h) => h.name).join(', ')})`,
      );
    return host.kill(reason);
  }

  /** Whether a Kappa replay's steps run in this process now, without the status's reads (the fault suite's). */
  replaying(): boolean {
    return this.kappa?.replaying ?? false;
  }

  /** Whether the start found a Kappa replay left running by the last process, and resumed it. */
  resumedReplay(): boolean {
    return this.kappa?.resumedReplay ?? false;
  }

  get deadLetterQueue(): DeadLetterQueue {
    return this.dlq!;
  }

  status(): Promise<PipelineStatus> {
    return readPipelineStatus({
      architecture: this.architecture,
      startedAt: this.startedAt,
      eventsAccepted: this.eventsAccepted,
      api: this.url,
      endpoints: this.endpoints!,
      names: this.names,
      kinesis: this.kinesis!,
      speed: this.poller!,
      archive: this.archiver!,
      batch: this.scheduler!,
      batchEveryMs: this.options.batchEveryMs,
      speedRows: this.speedRows!,
      claims: this.claims,
      deadLetters: this.dlq!,
      generator: this.generatorInstance,
      hosts: this.hosts,
      emulatorThreads: this.emulators?.threads ?? [],
      kappa: this.kappa,
    });
  }

  /**
   * Stops the runtime: first gracefully, each part finishing the work it has in flight, for at
   * most `graceMs`; then, in any case, the handler workers (an invocation still running is
   * abandoned and rejected), the emulators and the data directory's lock. A SIGTERM under load
   * once waited over 6 minutes here: every graceful step awaited its work with no bound (the batch
   * run in flight, which after a backlog took over 16 minutes; a replay chunk; the archive's
   * last flush), and an invocation whose worker was terminated never settled at all.
   */
  async stop(graceMs = this.options.stopGraceMs ?? DEFAULT_STOP_GRACE_MS): Promise<StopOutcome> {
    const outcome = await stopWithin(
      [
        { name: 'the demo generator', stop: async () => this.generatorInstance?.stop() },
        { name: 'the HTTP gateway', stop: async () => this.gateway?.close() },
        { name: 'the batch run in flight', stop: async () => this.scheduler?.stop() },
        { name: 'the TTL sweeper', stop: async () => this.sweeper?.stop() },
        { name: 'the Kappa runner (replay step, processor)', stop: async () => this.kappa?.stop() },
        { name: 'the speed layer invocations in flight', stop: async () => this.poller?.stop() },
        { name: "the archive's last flush", stop: async () => this.archiver?.stop() },
      ],
      graceMs,
    );
    await Promise.all(this.hosts.map((h) => h.stop()));
    if (this.archiveMirror) await fs.rm(this.archiveMirror, { recursive: true, force: true });
    await this.emulators?.stop();
    this.kinesis?.destroy();
    await this.releaseDataDir?.();
    return outcome;
  }
}

/**
 * What only the local runtime sets in every handler's environment (endpoints, credentials); each
 * function's own variables come from lambdas/runtime/function-environment.ts, as in lib/.
 */
function localEnvironment(endpoints: AwsEndpoints): Record<string, string> {
  return {
    [ENV.kinesisEndpoint]: endpoints.kinesis ?? '',
    [ENV.dynamodbEndpoint]: endpoints.dynamodb ?? '',
    [ENV.s3Endpoint]: endpoints.s3 ?? '',
    [ENV.s3Flavor]: endpoints.s3Flavor,
    AWS_REGION: endpoints.region,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    PATH: process.env.PATH ?? '',
  };
}
