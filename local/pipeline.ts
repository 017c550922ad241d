import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type {
  APIGatewayProxyEvent,
  APIGatewayProxyResult,
  KinesisStreamBatchResponse,
  KinesisStreamEvent,
} from 'aws-lambda';
import { DescribeStreamSummaryCommand } from '@aws-sdk/client-kinesis';
import { DynamoDbEventClaims } from '../lambdas/adapters/aws/dynamodb-event-claims';
import { DynamoDbSpeedRowStore } from '../lambdas/adapters/aws/dynamodb-speed-row-store';
import { S3ArchiveReader } from '../lambdas/adapters/aws/s3-archive-reader';
import { requestBody } from '../lambdas/adapters/codecs/api-gateway';
import { parseBatchRequest } from '../lambdas/adapters/codecs/batch-request';
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
  ingestEnvironment,
  lambdaQueryEnvironment,
  speedEnvironment,
} from '../lambdas/runtime/function-environment';
import type { BatchRunResult } from '../lambdas/services/batch-layer';
import { Archiver } from './archiver';
import { dashboardRoutes } from './dashboard/routes';
import { KeyIndex } from './dashboard/key-index';
import { DeadLetterQueue } from './dead-letter-queue';
import { startEmulators, type Emulators } from './emulators';
import { EventSourcePoller } from './event-source-poller';
import type { KinesisBatchHandler } from './lambda-invocation';
import { EventGenerator } from './generator';
import { HandlerHost } from './handler-host';
import { HttpGateway, type Route } from './http-gateway';
import { LocalKappa } from './kappa';
import { ensureResources, resourceNames, type ResourceNames } from './resources';
import { Scheduler } from './scheduler';
import { checkStoredSettings } from './stored-settings';
import { TtlSweeper } from './ttl-sweeper';

const HANDLERS = path.resolve(__dirname, '..', 'lambdas', 'handlers');

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
  readonly speedDedupe: boolean;
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
  speedBatchSize: 100,
  speedBatchingWindowMs: 500,
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
  /** The handler workers, each with its environment (test/integ/function-environment.test.ts reads them). */
  hosts: HandlerHost[] = [];
  private poller?: EventSourcePoller;
  private archiver?: Archiver;
  private scheduler?: Scheduler<BatchRunResult>;
  private gateway?: HttpGateway;
  private generatorInstance?: EventGenerator;
  private dlq?: DeadLetterQueue;
  private sweeper?: TtlSweeper;
  private speedRows!: DynamoDbSpeedRowStore;
  private claims!: DynamoDbEventClaims;
  private ingestHost?: HandlerHost;
  private queryHost?: HandlerHost;
  private batchHost?: HandlerHost;
  /** Invokes the batch handler as the schedule does, with `detail` as the run's request. */
  private runBatchHandler?: (detail: Record<string, unknown>) => Promise<BatchRunResult>;
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

  private dataPath(...parts: string[]): string | undefined {
    return this.options.dataDir === null ? undefined : path.join(this.options.dataDir, ...parts);
  }

  async start(): Promise<void> {
    this.startedAt = Date.now();
    const o = this.options;
    if (o.dataDir !== null) await fs.mkdir(o.dataDir, { recursive: true });
    let endpoints: AwsEndpoints;
    let archiveDir: string;
    if (o.endpoint) {
      endpoints = {
        region: process.env.AWS_REGION ?? 'us-east-1',
        kinesis: o.endpoint,
        dynamodb: o.endpoint,
        s3: o.endpoint,
        s3Flavor: o.endpointS3Flavor ?? 'aws',
      };
      archiveDir = await fs.mkdtemp(path.join(os.tmpdir(), 'streamfold-archive-mirror-'));
    } else {
      this.emulators = await startEmulators({ dataDir: this.dataPath('emulators') });
      endpoints = this.emulators.endpoints;
      archiveDir = path.join(this.emulators.s3Dir, this.names.bucket, 'events');
    }
    this.endpoints = endpoints;
    const kinesis = makeKinesisClient(endpoints);
    const s3 = makeS3Client(endpoints);
    await ensureResources({ kinesis, dynamodb: makeDynamoDbClient(endpoints), s3 }, o.shards, this.names);
    await checkStoredSettings(
      makeDynamoDocumentClient(endpoints),
      this.names.controlTable,
      o.arrivalBucketMs,
      o.endpoint ?? o.dataDir ?? 'memory',
    );

    // What only the local runtime sets (endpoints, credentials); each function's own variables come
    // from lambdas/runtime/function-environment.ts, as in lib/.
    const common: Record<string, string> = {
      [ENV.kinesisEndpoint]: endpoints.kinesis ?? '',
      [ENV.dynamodbEndpoint]: endpoints.dynamodb ?? '',
      [ENV.s3Endpoint]: endpoints.s3 ?? '',
      [ENV.s3Flavor]: endpoints.s3Flavor,
      AWS_REGION: endpoints.region,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      PATH: process.env.PATH ?? '',
    };
    const views = JSON.stringify(o.views);
    const arrivalBucketMs = String(o.arrivalBucketMs);
    const tables = {
      views,
      speedTable: this.names.speedTable,
      batchTable: this.names.batchTable,
      controlTable: this.names.controlTable,
      arrivalBucketMs,
    };
    this.ingestHost = new HandlerHost('ingest', path.join(HANDLERS, 'ingest.ts'), {
      ...common,
      ...ingestEnvironment({ views, streamName: this.names.stream, maxBodyBytes: String(o.maxBodyBytes) }),
    });
    this.queryHost = new HandlerHost('query', path.join(HANDLERS, 'query.ts'), {
      ...common,
      ...lambdaQueryEnvironment(tables),
    });
    this.speedHost = new HandlerHost('speed', path.join(HANDLERS, 'speed.ts'), {
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
    this.batchHost = new HandlerHost('batch', path.join(HANDLERS, 'batch.ts'), {
      ...common,
      ...batchEnvironment({
        ...tables,
        archive: { bucket: this.names.bucket, prefix: 'events/' },
        engine: { kind: 'duckdb', archiveDir, syncFromS3: Boolean(o.endpoint) },
        watermark: { kind: 'checkpoint' },
      }),
    });
    this.hosts = [this.ingestHost, this.queryHost, this.speedHost, this.batchHost];
    await Promise.all(this.hosts.map((h) => h.start()));

    this.dlq = new DeadLetterQueue({ file: this.dataPath('dead-letter-queue.ndjson') });
    const speedHost = this.speedHost;
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
      reportBatchItemFailures: true,
      startingPosition: 'TRIM_HORIZON',
      checkpointFile: this.dataPath('speed-checkpoints.json'),
      onFailure: this.dlq,
    });
    this.archiver = new Archiver({
      kinesis,
      s3,
      streamName: this.names.stream,
      bucket: this.names.bucket,
      views: o.views,
      flushIntervalMs: o.archiveFlushMs,
      checkpointFile: this.dataPath('archiver-checkpoints.json'),
    });
    const batchHost = this.batchHost;
    this.runBatchHandler = (detail) =>
      batchHost.invoke<BatchRunResult>({ 'detail-type': 'Scheduled Event', source: 'aws.events', detail });
    this.scheduler = new Scheduler(() => this.runBatchHandler!({}), o.batchEveryMs);

    const lambdaRoutes: Route[] = [
      {
        method: 'POST',
        resource: '/events',
        invoke: async (e) => {
          const result = await this.ingestHost!.invoke<APIGatewayProxyResult>(e);
          if (result.statusCode === 202)
            this.eventsAccepted += (JSON.parse(result.body) as { accepted: number }).accepted;
          return result;
        },
      },
      { method: 'GET', resource: '/views', invoke: (e) => this.queryHost!.invoke<APIGatewayProxyResult>(e) },
      {
        method: 'GET',
        resource: '/views/{view}',
        invoke: (e) => this.queryHost!.invoke<APIGatewayProxyResult>(e),
      },
      {
        method: 'GET',
        resource: '/views/{view}/parts',
        invoke: (e) => this.queryHost!.invoke<APIGatewayProxyResult>(e),
      },
      { method: 'GET', resource: '/health', invoke: (e) => this.queryHost!.invoke<APIGatewayProxyResult>(e) },
      { method: 'POST', resource: '/admin/batch', invoke: (e) => this.batchViaScheduler(e) },
      { method: 'GET', resource: '/admin/status', invoke: async () => json(200, await this.status()) },
      {
        method: 'GET',
        resource: '/admin/dlq',
        invoke: async () => json(200, { depth: await this.dlq!.depth(), entries: await this.dlq!.list() }),
      },
      {
        method: 'POST',
        resource: '/admin/dlq/redrive',
        invoke: async () =>
          json(
            200,
            await this.dlq!.redrive((event: KinesisStreamEvent) =>
              speedHost.invoke<KinesisStreamBatchResponse>(event),
            ),
          ),
      },
    ];
    const architecture = o.architecture ?? 'lambda';
    const runsLambda = architecture !== 'kappa';
    if (architecture !== 'lambda') {
      this.kappa = new LocalKappa({
        views: o.views,
        names: this.names,
        endpoints,
        kinesis,
        archiver: this.archiver,
        commonEnv: common,
        dataPath: (...parts) => this.dataPath(...parts),
        batchSize: o.speedBatchSize,
        batchingWindowMs: o.speedBatchingWindowMs,
        retryAttempts: o.speedRetryAttempts,
        dedupe: o.speedDedupe,
        handoffDelayMs: o.replayHandoffDelayMs ?? 3_000,
        autoReplay: o.kappaAutoReplay ?? true,
        prefix: architecture === 'both' ? '/kappa' : '',
      });
    }
    // Kappa alone serves /views itself and has no batch layer to run.
    const kept = runsLambda
      ? lambdaRoutes
      : lambdaRoutes.filter(
          (r) =>
            !['/views', '/views/{view}', '/views/{view}/parts', '/health', '/admin/batch'].includes(
              r.resource,
            ),
        );
    const keys = new KeyIndex({
      archive: new S3ArchiveReader(s3, this.names.bucket, 'events/'),
      views: o.views,
    });
    this.gateway = new HttpGateway([
      ...kept,
      ...(this.kappa ? this.kappa.routes() : []),
      ...dashboardRoutes(keys),
    ]);
    const port = await this.gateway.listen(o.port);
    this.url = `http://127.0.0.1:${port}`;
    this.speedRows = new DynamoDbSpeedRowStore(makeDynamoDocumentClient(endpoints), this.names.speedTable);
    this.claims = new DynamoDbEventClaims(makeDynamoDocumentClient(endpoints), this.names.dedupeTable, 0, {
      now: () => Date.now(),
    });
    this.sweeper = new TtlSweeper(makeDynamoDocumentClient(endpoints), this.names.dedupeTable);
    this.sweeper.start();
    this.archiver.start();
    if (runsLambda) {
      this.poller.start();
      this.scheduler.start(o.firstBatchAfterMs ?? o.batchEveryMs);
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

  /**
   * POST /admin/batch joins the scheduler so two runs never overlap: an incremental run joins the
   * one in progress; a full run or a backfill waits for it and then runs.
   */
  private async batchViaScheduler(event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
    const request = parseBatchRequest(requestBody(event));
    if ('problems' in request)
      return json(400, { error: 'invalid batch request', problems: request.problems });
    try {
      // Flush first so "run the batch now" covers what was just ingested, as far as the watermark allows.
      await this.archiver!.flush();
      if (!request.full && !request.backfill) return json(200, await this.scheduler!.runNow());
      const detail = JSON.parse(requestBody(event)) as Record<string, unknown>;
      return json(200, await this.scheduler!.runInstead(() => this.runBatchHandler!(detail)));
    } catch (error) {
      return json(500, {
        error: `batch run failed; the previous version stays served: ${(error as Error).message}`,
      });
    }
  }

  /** Waits until the speed layer and the archiver have caught up with the stream. */
  async idle(timeoutMs = 30_000): Promise<void> {
    await Promise.all([
      (this.options.architecture ?? 'lambda') !== 'kappa' ? this.poller!.idle(timeoutMs) : undefined,
      this.archiver!.idle(timeoutMs),
      this.kappa?.idle(timeoutMs),
    ]);
  }

  /** Hands an event straight to the speed handler, as a redelivery by the event source would. */
  async invokeSpeed(event: KinesisStreamEvent): Promise<KinesisStreamBatchResponse> {
    return this.speedHost!.invoke<KinesisStreamBatchResponse>(event);
  }

  /** Runs the batch layer now: incremental, or full / a backfill with `detail` ({full}, {from, to}). */
  async runBatch(detail?: {
    full?: boolean;
    from?: number | string;
    to?: number | string;
  }): Promise<BatchRunResult> {
    await this.archiver!.flush();
    if (detail === undefined) return this.scheduler!.runNow();
    return this.scheduler!.runInstead(() => this.runBatchHandler!(detail));
  }

  get deadLetterQueue(): DeadLetterQueue {
    return this.dlq!;
  }

  async status(): Promise<Record<string, unknown>> {
    const kinesis = makeKinesisClient(this.endpoints!);
    const summary = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: this.names.stream }));
    return {
      architecture: this.options.architecture ?? 'lambda',
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      eventsAccepted: this.eventsAccepted,
      api: this.url,
      endpoints: {
        kinesis: this.endpoints!.kinesis,
        dynamodb: this.endpoints!.dynamodb,
        s3: this.endpoints!.s3,
        region: this.endpoints!.region,
      },
      resources: { ...this.names, shards: summary.StreamDescriptionSummary?.OpenShardCount },
      speed: this.poller!.stats(),
      archive: this.archiver!.stats(),
      batch: {
        runs: this.scheduler!.runs,
        failures: this.scheduler!.failures,
        last: this.scheduler!.lastResult ?? null,
        lastError: this.scheduler!.lastError ?? null,
        everyMs: this.options.batchEveryMs,
      },
      speedRows: await this.speedRows.count(),
      // Copies of one id that arrived before the copy the speed layer kept (README: producer retries).
      // Only per-event claims see copies on other shards (ADR 008): null when nothing counts them.
      earlierCopiesOfKeptIds:
        this.options.speedDedupe && this.options.dedupeScope === 'global'
          ? await this.claims.earlierCopiesNoted()
          : null,
      deadLetterQueue: { depth: await this.dlq!.depth() },
      generator: this.generatorInstance
        ? {
            sent: this.generatorInstance.sent,
            requests: this.generatorInstance.requests,
            failures: this.generatorInstance.failures,
            lastError: this.generatorInstance.lastError ?? null,
          }
        : null,
      handlers: Object.fromEntries(
        this.hosts.map((h) => [h.name, { invocations: h.invocations, errors: h.errors }]),
      ),
      kappa: this.kappa ? await this.kappa.status() : null,
    };
  }

  async stop(): Promise<void> {
    await this.generatorInstance?.stop();
    await this.gateway?.close();
    await this.scheduler?.stop();
    await this.sweeper?.stop();
    await this.kappa?.stop();
    await this.poller?.stop();
    await this.archiver?.stop();
    await Promise.all(this.hosts.map((h) => h.stop()));
    await this.emulators?.stop();
  }
}

function json(status: number, body: unknown): APIGatewayProxyResult {
  return {
    statusCode: status,
    headers: { 'content-type': 'application/json; charset=utf-8' },
    body: JSON.stringify(body),
  };
}
