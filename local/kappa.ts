import * as path from 'node:path';
import type {
  APIGatewayProxyEvent,
  APIGatewayProxyResult,
  KinesisStreamBatchResponse,
  KinesisStreamEvent,
} from 'aws-lambda';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { jsonResponse } from '../lambdas/adapters/codecs/api-gateway';
import { parseReplayRequest } from '../lambdas/adapters/codecs/replay-request';
import { DynamoDbKappaControlStore } from '../lambdas/adapters/aws/dynamodb-kappa-control-store';
import type { ViewDefinition } from '../lambdas/core/view';
import { makeDynamoDocumentClient, type AwsEndpoints } from '../lambdas/runtime/clients';
import {
  DEFAULT_DEDUPE_TTL_SECONDS,
  kappaAdminEnvironment,
  kappaProcessorEnvironment,
  kappaQueryEnvironment,
  replayEnvironment,
} from '../lambdas/runtime/function-environment';
import type { KappaStatus } from '../lambdas/services/kappa-query';
import { pendingViews, type DropProgress } from '../lambdas/services/kappa-replay';
import type { Archiver } from './archiver';
import { DeadLetterQueue } from './dead-letter-queue';
import { EventSourcePoller, type EventSourcePollerStats } from './event-source-poller';
import { HandlerHost } from './handler-host';
import type { Route } from './http-gateway';
import type { ResourceNames } from './resources';
import { Naps } from './naps';
import { retryingStart } from './start-retries';

const HANDLERS = path.resolve(__dirname, '..', 'lambdas', 'handlers');
const sourceEntry = (name: string) => path.join(HANDLERS, `${name}.ts`);

export interface LocalKappaOptions {
  readonly views: readonly ViewDefinition[];
  readonly names: ResourceNames;
  readonly endpoints: AwsEndpoints;
  readonly kinesis: KinesisClient;
  readonly archiver: Archiver;
  /** Environment every handler gets (views, endpoints, region, credentials). */
  readonly commonEnv: Readonly<Record<string, string>>;
  readonly dataPath: (...parts: string[]) => string | undefined;
  readonly batchSize: number;
  readonly batchingWindowMs: number;
  /**
   * How often the processor's event source reads a caught-up shard (EventSourcePollerOptions.pollIntervalMs).
   * @default 1000 (Lambda's once a second per shard)
   */
  readonly pollIntervalMs?: number;
  readonly retryAttempts: number;
  readonly dedupe: boolean;
  readonly handoffDelayMs: number;
  /** Start a replay at start when a view of the module has no version built with its definition. */
  readonly autoReplay: boolean;
  /** Route prefix: '' when Kappa serves /views, '/kappa' when both architectures run. */
  readonly prefix: string;
  /**
   * The module each handler is loaded from, by its file's name in lambdas/handlers (LocalPipelineOptions).
   * @default - lambdas/handlers/<name>.ts
   */
  readonly handlerEntry?: (name: string) => string;
}

/** The Kappa part of the local GET /admin/status: the query handler's, plus the local processor. */
export interface LocalKappaStatus extends KappaStatus {
  readonly architecture: 'kappa';
  readonly processor: EventSourcePollerStats;
  readonly deadLetterQueue: { readonly depth: number };
  /** The last replay run's error, if it failed. */
  readonly replayRunnerError: string | null;
}

/** Tries of one replay step (LocalKappa.step), and the pause before the second (doubled after each). */
const STEP_ATTEMPTS = 5;
const STEP_RETRY_MS = 1_000;

interface StartAnswer {
  readonly replayId: string;
  readonly version: number;
  readonly handoffMs: number;
}

/**
 * The Kappa architecture on the local stack: the deployed kappa-processor handler behind its own
 * event-source poller (own checkpoints and dead-letter file), the query handler in kappa mode, the
 * replay handler driven by a runner that calls its actions in the order the cloud state machine
 * does (start, ready until the archive holds the handoff, the archive's objects, finish; fail on
 * error), and the admin handler for rollback. A replay found running at start (the runtime was
 * killed mid-replay) is resumed: every step is idempotent.
 */
export class LocalKappa {
  private processorHost!: HandlerHost;
  private queryHost!: HandlerHost;
  private replayHost!: HandlerHost;
  private adminHost!: HandlerHost;
  poller!: EventSourcePoller;
  private dlq!: DeadLetterQueue;
  private readonly naps = new Naps();
  private stopping = false;
  private running?: Promise<void>;
  private replaysRunning = 0;
  /** Whether start() found a replay left running (the last process was killed mid-replay) and resumed it. */
  resumedReplay = false;
  /** The last replay run's error, if it failed. */
  lastError: string | null = null;

  constructor(private readonly o: LocalKappaOptions) {}

  /** Whether this process is running a replay's steps now (no read of the control table). */
  get replaying(): boolean {
    return this.replaysRunning > 0;
  }

  get hosts(): HandlerHost[] {
    return [this.processorHost, this.queryHost, this.replayHost, this.adminHost];
  }

  async start(): Promise<void> {
    const o = this.o;
    const tables = {
      views: JSON.stringify(o.views),
      kappaTable: o.names.kappaTable,
      controlTable: o.names.controlTable,
    };
    const entry = o.handlerEntry ?? sourceEntry;
    this.processorHost = new HandlerHost('kappa-processor', entry('kappa-processor'), {
      ...o.commonEnv,
      ...kappaProcessorEnvironment({
        ...tables,
        dedupeTable: o.names.dedupeTable,
        dedupe: o.dedupe,
        dedupeTtlSeconds: String(DEFAULT_DEDUPE_TTL_SECONDS),
        fenceBy: 'shard',
      }),
    });
    this.queryHost = new HandlerHost('kappa-query', entry('query'), {
      ...o.commonEnv,
      ...kappaQueryEnvironment(tables),
    });
    this.replayHost = new HandlerHost('replay', entry('replay'), {
      ...o.commonEnv,
      ...replayEnvironment({
        ...tables,
        dedupeTable: o.names.dedupeTable,
        archive: { bucket: o.names.bucket, prefix: 'events/' },
        watermark: { kind: 'checkpoint' },
        handoffDelayMs: String(o.handoffDelayMs),
        // The processor's window above: a range replay leaves out the retries it drops.
        dedupeTtlSeconds: String(DEFAULT_DEDUPE_TTL_SECONDS),
      }),
    });
    this.adminHost = new HandlerHost('kappa-admin', entry('kappa-admin'), {
      ...o.commonEnv,
      // No Step Functions locally: POST /admin/replay is the runner's; the admin handler serves rollback.
      ...kappaAdminEnvironment({
        ...tables,
        replayStateMachineArn: 'arn:aws:states:local:000000000000:stateMachine:streamfold-local-replay',
      }),
    });
    await Promise.all(this.hosts.map((h) => h.start()));
    this.dlq = new DeadLetterQueue({ file: o.dataPath('kappa-dead-letter-queue.ndjson') });
    const processorHost = this.processorHost;
    this.poller = new EventSourcePoller({
      client: o.kinesis,
      streamName: o.names.stream,
      handler: (event: KinesisStreamEvent) => processorHost.invoke<KinesisStreamBatchResponse>(event),
      batchSize: o.batchSize,
      maximumBatchingWindowMs: o.batchingWindowMs,
      pollIntervalMs: o.pollIntervalMs,
      bisectBatchOnFunctionError: true,
      maximumRetryAttempts: o.retryAttempts,
      reportBatchItemFailures: true,
      startingPosition: 'TRIM_HORIZON',
      checkpointFile: o.dataPath('kappa-checkpoints.json'),
      onFailure: this.dlq,
      functionName: 'streamfold-local-kappa-processor',
    });
    this.poller.start();
    // Resume a replay the last run left running (kill -9 mid-replay), then build what is missing:
    // the resumed replay builds the definitions it started with, so a restart with a changed
    // views module needs another one after it (found by a black-box probe, 2026-12-04: the
    // changed view stayed pending, served with `definitionChanged`, until a manual replay).
    const pointers = await retryingStart(() => this.control().read());
    const last = pointers.replay;
    if (last?.status === 'running') {
      this.resumedReplay = true;
      this.running = this.run(last.replayId).then(() => this.replayPending());
    } else {
      // Killed between a flip and the end of its drop: the versions it dropped are deleted now.
      if (last?.dropped?.length) {
        const drops = last.dropped;
        await this.drop(last.replayId, {
          done: false,
          cursor: { drops, index: 0, page: null },
          deleted: 0,
        }).catch((error: Error) => {
          this.lastError = `dropping the cells of ${last.replayId}'s old versions: ${error.message}`;
        });
      }
      await this.replayPending();
    }
  }

  /** Starts a replay of the views with no active version or one built from another definition (autoReplay). */
  private async replayPending(): Promise<void> {
    if (!this.o.autoReplay || this.stopping) return;
    try {
      const pending = pendingViews(this.o.views, await retryingStart(() => this.control().read()));
      if (pending.length === 0) return;
      const answer = await this.startReplay({ views: pending.map((p) => p.view) });
      if (answer.statusCode >= 300) this.lastError = `auto replay: ${answer.body}`;
    } catch (error) {
      this.lastError = `auto replay: ${(error as Error).message}`;
    }
  }

  private control(): DynamoDbKappaControlStore {
    return new DynamoDbKappaControlStore(
      makeDynamoDocumentClient(this.o.endpoints),
      this.o.names.controlTable,
    );
  }

  /** POST /admin/replay: starts a replay (409 while one runs) and runs it in the background. */
  async startReplay(request: {
    views?: string[];
    fromMs?: number;
    toMs?: number;
  }): Promise<APIGatewayProxyResult> {
    let answer: StartAnswer;
    try {
      answer = await this.replayHost.invoke<StartAnswer>({ action: 'start', ...request });
    } catch (error) {
      const e = error as Error;
      if (e.name === 'ReplayInProgress') return jsonResponse(409, { error: e.message });
      if (e.name === 'ReplayRequestError') return jsonResponse(400, { error: e.message });
      if (e.name === 'HandoffTooLate') return jsonResponse(503, { error: e.message });
      throw error;
    }
    this.lastError = null;
    this.running = this.run(answer.replayId);
    return jsonResponse(202, {
      status: 'started',
      replayId: answer.replayId,
      version: answer.version,
      handoff: new Date(answer.handoffMs).toISOString(),
    });
  }

  /** The replay's steps, each idempotent, so a run resumed after a crash ends with the same tables. */
  private async run(replayId: string): Promise<void> {
    this.replaysRunning++;
    try {
      for (;;) {
        if (this.stopping) return;
        // Flushing makes the archive catch up with the handoff sooner than its timer would, and
        // only that: a failed flush (an upload cut, S3 restarting) is written again by the
        // archiver's own timer, and the readiness check decides. Failing the replay on it left
        // the fault run's last replay `failed` over an upload the archiver wrote a moment later.
        await this.o.archiver.flush().catch(() => undefined);
        const { ready } = await this.step<{ ready: boolean }>({ action: 'ready', replayId });
        if (ready) break;
        await this.naps.sleep(250);
      }
      if (this.stopping) return;
      const { keys } = await this.step<{ keys: string[] }>({ action: 'list', replayId });
      // One chunk holding every object: one copy per id is decided in memory, no cross-chunk claims.
      await this.step({
        action: 'chunk',
        replayId,
        keys,
        chunkId: `${replayId}-local`,
        sole: true,
      });
      if (this.stopping) return;
      const { drop } = await this.step<{ drop: DropProgress }>({ action: 'finish', replayId });
      await this.drop(replayId, drop);
    } catch (error) {
      if (this.stopping) return;
      this.lastError = (error as Error).message;
      const failed = await this.replayHost
        .invoke<{ drop: DropProgress }>({ action: 'fail', replayId, error: this.lastError })
        .catch(() => undefined);
      if (failed) await this.drop(replayId, failed.drop).catch(() => undefined);
    } finally {
      this.replaysRunning--;
    }
  }

  /** The drop step after finish or fail, as the state machine loops on it: the dropped versions' cells deleted. */
  private async drop(replayId: string, progress: DropProgress): Promise<void> {
    while (!progress.done && !this.stopping)
      progress = await this.step<DropProgress>({ action: 'drop', replayId, cursor: progress.cursor });
  }

  /**
   * One action of the replay handler, tried again after a failure, up to STEP_ATTEMPTS times
   * with a doubling pause: every action is idempotent (cells fenced by chunk, the flip a
   * conditional write), and an error that outlasts the SDK's own retries (the emulators
   * restarting, DynamoDB throttling) must not end a replay that the next attempt completes. The
   * cloud's state machine retries each archive object's task the same way
   * (lib/constructs/step-functions.ts, retryIdempotentChild: a Retry with an interval doubled by
   * its BackoffRate, https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html);
   * an error that persists still fails the replay, after about 15 s of pauses.
   */
  private async step<T>(task: Record<string, unknown>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.replayHost.invoke<T>(task);
      } catch (error) {
        if (this.stopping || attempt >= STEP_ATTEMPTS) throw error;
        await this.naps.sleep(STEP_RETRY_MS * 2 ** (attempt - 1));
      }
    }
  }

  /** Resolves when no replay is running in this process (a replay started after a resumed one too). */
  async replayDone(): Promise<void> {
    for (let running = this.running; running; running = this.running) {
      await running;
      if (this.running === running) return;
    }
  }

  routes(): Route[] {
    const p = this.o.prefix;
    const query = (e: APIGatewayProxyEvent) => this.queryHost.invoke<APIGatewayProxyResult>(e);
    return [
      { method: 'GET', resource: `${p}/views`, invoke: query },
      { method: 'GET', resource: `${p}/views/{view}`, invoke: query },
      { method: 'GET', resource: `${p}/health`, invoke: query },
      {
        method: 'POST',
        resource: '/admin/replay',
        invoke: async (e) => {
          const parsed = parseReplayRequest(
            e.body ?? '',
            this.o.views.map((v) => v.name),
            Date.now(),
          );
          if ('error' in parsed) return jsonResponse(400, { error: parsed.error });
          return this.startReplay(parsed);
        },
      },
      {
        method: 'POST',
        resource: '/admin/rollback',
        invoke: (e) => this.adminHost.invoke<APIGatewayProxyResult>(e),
      },
      {
        method: 'GET',
        resource: '/admin/kappa/dlq',
        invoke: async () =>
          jsonResponse(200, { depth: await this.dlq.depth(), entries: await this.dlq.list() }),
      },
    ];
  }

  /** The Kappa part of GET /admin/status (versions, replay progress) from the query handler, plus the processor. */
  async status(): Promise<LocalKappaStatus> {
    const result = await this.queryHost.invoke<APIGatewayProxyResult>({
      httpMethod: 'GET',
      path: '/admin/status',
      resource: '/admin/status',
      headers: {},
      queryStringParameters: null,
      pathParameters: null,
      body: null,
    });
    // The query handler's answer: lambdas/runtime/kappa-serving.ts writes it from kappaStatus().
    const body = JSON.parse(result.body) as KappaStatus & { architecture: 'kappa' };
    return {
      ...body,
      processor: this.poller.stats(),
      deadLetterQueue: { depth: await this.dlq.depth() },
      replayRunnerError: this.lastError,
    };
  }

  async idle(timeoutMs = 30_000): Promise<void> {
    await this.poller.idle(timeoutMs);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.naps.wakeAll();
    await this.poller?.stop();
    await Promise.all(this.hosts.filter(Boolean).map((h) => h.stop()));
    await this.running?.catch(() => undefined);
  }
}
