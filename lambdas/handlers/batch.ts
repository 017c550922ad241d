import type { APIGatewayProxyEvent, Context, ScheduledEvent } from 'aws-lambda';
import { AthenaQueryEngine } from '../adapters/aws/athena-query-engine';
import { DynamoDbBatchViewStore } from '../adapters/aws/dynamodb-batch-view-store';
import { DynamoDbControlStore } from '../adapters/aws/dynamodb-control-store';
import { DynamoDbSpeedRowStore } from '../adapters/aws/dynamodb-speed-row-store';
import { S3CompactedStore } from '../adapters/duckdb/compacted-archive-store';
import { DuckDbQueryEngine } from '../adapters/duckdb/duckdb-query-engine';
import { COMPACTED_PREFIX } from '../core/compaction';
import { S3CompactedObjects } from '../adapters/aws/s3-compacted-objects';
import { ENV } from '../runtime/env';
import {
  advanceCompaction,
  startCompaction,
  type CloudCompactionDeps,
  type CompactionStep,
} from '../services/cloud-compaction';
import { bodyNotUtf8Answer, jsonResponse, requestBody } from '../adapters/codecs/api-gateway';
import { parseBatchRequest } from '../adapters/codecs/batch-request';
import { systemClock } from '../ports/clock';
import type { QueryEngine } from '../ports/query-engine';
import { makeAthenaClient } from '../runtime/clients/athena';
import { makeDynamoDocumentClient } from '../runtime/clients/dynamodb';
import { makeS3Client } from '../runtime/clients/s3';
import { makeArchiveWatermark } from '../runtime/archive-watermark';
import { readBatchConfig } from '../runtime/config';
import { logger } from '../runtime/logger';
import { emitCountMetric } from '../runtime/metrics';
import { ListExecutionsCommand, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { S3ArchiveReader } from '../adapters/aws/s3-archive-reader';
import { isBatchStep, parseBatchStep, writeResult, type BatchStep } from '../adapters/codecs/batch-step';
import { readMapRunOutputs } from '../adapters/codecs/map-run-results';
import { MAP_RESULTS_FOLDER } from '../runtime/function-environment';
import { makeSfnClient } from '../runtime/clients/sfn';
import { cleanUp, startCleanup } from '../services/batch-cleanup';
import {
  abandonTasks,
  addWrites,
  batchCutoff,
  planBatch,
  publishBatch,
  runBatch,
  writeBatchRows,
  type BatchRunRequest,
  type BatchRunResult,
  type WriteResult,
} from '../services/batch-layer';

const config = readBatchConfig(process.env);
const dynamo = makeDynamoDocumentClient(config.endpoints);
const watermark = makeArchiveWatermark(
  config.watermark,
  config.endpoints,
  makeS3Client(config.endpoints),
  config.archiveBucket,
);

// The DuckDB adapter loads its native module only when it runs a query, so the Lambda bundle
// (where the engine is Athena) never needs it.
const duckdb =
  config.engine.kind === 'duckdb'
    ? new DuckDbQueryEngine(
        config.engine.archiveDir,
        config.engine.syncFromS3
          ? {
              client: makeS3Client(config.endpoints),
              bucket: config.archiveBucket,
              prefix: config.archivePrefix,
              watermark,
            }
          : undefined,
        config.engine.compaction && {
          store: new S3CompactedStore(
            makeS3Client(config.endpoints),
            config.archiveBucket,
            COMPACTED_PREFIX,
            config.engine.compaction.dir,
          ),
          periodMs: config.engine.compaction.periodMs,
        },
        config.engine.memory,
      )
    : undefined;
const s3 = makeS3Client(config.endpoints);
// The cloud's compacted archive (ADR 011): the tables both the compaction steps and the reads use.
const compacted =
  config.engine.kind === 'athena' && config.engine.compaction
    ? {
        tables: {
          database: config.engine.database,
          table: config.engine.table,
          compactedTable: config.engine.compaction.table,
          rawLocation: `s3://${config.archiveBucket}/${config.archivePrefix}`,
        },
        store: new S3CompactedObjects(s3, config.archiveBucket, COMPACTED_PREFIX),
        raw: new S3ArchiveReader(s3, config.archiveBucket, config.archivePrefix),
        periodMs: config.engine.compaction.periodMs,
      }
    : undefined;
const athena =
  config.engine.kind === 'athena'
    ? new AthenaQueryEngine(makeAthenaClient(config.endpoints), {
        workgroup: config.engine.workgroup,
        database: config.engine.database,
        table: config.engine.table,
        maxBytesScanned: config.engine.maxBytesScanned,
        ...(compacted
          ? { compacted: { manifests: compacted.store, raw: compacted.raw, tables: compacted.tables } }
          : {}),
      })
    : undefined;
const engine: QueryEngine = athena ?? duckdb!;
const cloudCompaction: CloudCompactionDeps | undefined =
  athena && compacted
    ? {
        ...compacted,
        queries: athena,
        compactedLocation: `s3://${config.archiveBucket}/${COMPACTED_PREFIX}`,
        clock: systemClock,
        // Its typed columns: core's typedFields of these views, as locally and in the Glue table (ADR 019).
        views: config.views,
        manifestCache: new Map(),
      }
    : undefined;
const deps = {
  views: config.views,
  watermark,
  batch: new DynamoDbBatchViewStore(dynamo, config.batchTable),
  control: new DynamoDbControlStore(dynamo, config.controlTable),
  speed: new DynamoDbSpeedRowStore(dynamo, config.speedTable),
  clock: systemClock,
  arrivalBucketMs: config.arrivalBucketMs,
  // Locally the run compacts in process; in the cloud the state machine's compact steps run before the plan.
  ...(config.engine.kind === 'duckdb' && config.engine.compaction ? { compactor: duckdb! } : {}),
};

/**
 * What a run request answers in the cloud: the execution of the batch state machine it started,
 * or the one already running, in which case it started none.
 */
interface RunStarted {
  readonly status: 'started' | 'running';
  readonly executionArn: string;
}

/**
 * Runs the batch layer for one request: in the cloud, starts the batch state machine (its Map of
 * writers has no 15-minute bound, ADR 010) and answers at once; locally, runs it in this process.
 * One run at a time, as the local scheduler runs them: a run can outlast the schedule (up to its
 * runTimeout), and a run started beside it would plan on the same pointer and, whichever
 * published first, have paid its Athena scans for nothing. So while an execution is RUNNING no
 * other is started (ListExecutions, then StartExecution: two requests in the same moment can
 * still both start, which the conditional publish keeps correct).
 */
async function startRun(request: BatchRunRequest): Promise<BatchRunResult | RunStarted> {
  if (config.stateMachineArn === undefined) return runBatch({ ...deps, engine }, request);
  const sfn = makeSfnClient(config.endpoints);
  const { executions } = await sfn.send(
    new ListExecutionsCommand({
      stateMachineArn: config.stateMachineArn,
      statusFilter: 'RUNNING',
      maxResults: 1,
    }),
  );
  const running = executions?.[0]?.executionArn;
  if (running) return { status: 'running', executionArn: running };
  const { executionArn } = await sfn.send(
    new StartExecutionCommand({
      stateMachineArn: config.stateMachineArn,
      input: JSON.stringify({ request }),
    }),
  );
  if (!executionArn) throw new Error('Step Functions returned no executionArn');
  return { status: 'started', executionArn };
}

/** The S3 prefix where run `version` unloads its rows (one sub-prefix per view). */
function runPrefix(version: number): string {
  return `${config.batchRunsPrefix}v${version}/`;
}

/**
 * What the Publish step keeps of its invocation after the reconciliation's deadline: the result's
 * log line, the mismatch metric and the answer to Step Functions.
 */
const PUBLISH_MARGIN_MS = 60_000;

/** One step of the cloud's batch state machine (lib/constructs/batch-layer.ts). */
async function step(input: BatchStep, context?: Pick<Context, 'getRemainingTimeInMillis'>): Promise<unknown> {
  if (!(engine instanceof AthenaQueryEngine))
    throw new Error(
      `batch step ${input.action} needs the athena engine (${config.engine.kind} runs a batch in one process)`,
    );
  switch (input.action) {
    case 'compact': {
      if (cloudCompaction === undefined)
        throw new Error(
          `batch step compact: the compacted archive is off (${ENV.athenaCompactedTable} unset); the state machine and the function's environment disagree`,
        );
      let next: CompactionStep;
      if (input.compaction === null) {
        const cutoffMs = await batchCutoff(deps);
        next =
          cutoffMs === null
            ? { phase: 'done', result: { status: 'nothing-to-do' }, queries: [] }
            : await startCompaction(cloudCompaction, cutoffMs);
      } else next = await advanceCompaction(cloudCompaction, input.compaction);
      if (next.phase === 'done') logger.info('batch compaction', { ...next.result });
      return next;
    }
    case 'plan': {
      const request = parseBatchRequest(input.request);
      if ('problems' in request) throw new Error(`invalid batch request: ${request.problems.join('; ')}`);
      const planned = await planBatch({ ...deps, engine }, request);
      if ('skipped' in planned) return { status: 'skipped', result: planned.skipped };
      const queries: string[] = [];
      for (const { view, sql } of planned.queries)
        queries.push(
          await engine.startUnload(
            sql,
            `s3://${config.archiveBucket}/${runPrefix(planned.plan.version)}${view.name}/`,
          ),
        );
      return { status: 'planned', plan: planned.plan, queries, prefix: runPrefix(planned.plan.version) };
    }
    case 'unloaded':
      return { done: await engine.allSucceeded(input.queries) };
    case 'write': {
      const name = input.key.slice(runPrefix(input.plan.version).length).split('/')[0];
      const view = deps.views.find((v) => v.name === name);
      if (!input.key.startsWith(runPrefix(input.plan.version)) || view === undefined)
        throw new Error(
          `batch step write: ${input.key} is not under ${runPrefix(input.plan.version)}<view>/ of a known view`,
        );
      const text = await new S3ArchiveReader(s3, config.archiveBucket, '').read(input.key);
      const rows = text
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      return writeBatchRows(deps.batch, input.plan.version, view, rows);
    }
    case 'publish': {
      const { written: given } = input;
      const results = {
        bucket: config.archiveBucket,
        prefix: `${config.batchRunsPrefix}${MAP_RESULTS_FOLDER}`,
      };
      const read = (key: string) => new S3ArchiveReader(s3, config.archiveBucket, '').read(key);
      const answers =
        'key' in given ? (await readMapRunOutputs(read, given, results)).map(writeResult) : given;
      const written = answers.reduce<WriteResult>(addWrites, {
        cells: 0,
        unstorableCount: 0,
        unstorable: [],
      });
      // The deletions go to the Cleanup loop: inside this invocation they outlasted 15 minutes at scale.
      const result = await publishBatch({ ...deps, engine }, input.plan, written, undefined, {
        deferCleanup: true,
        // The reconciliation runs after the pointer flip: if it outlasted the invocation, the
        // step's retry would find the version published and report no reconciliation at all.
        // A context without the method (a test's, a direct call): no deadline, as locally.
        ...(typeof context?.getRemainingTimeInMillis === 'function'
          ? { reconcileBy: Date.now() + context.getRemainingTimeInMillis() - PUBLISH_MARGIN_MS }
          : {}),
      });
      logger.info('batch run', { ...result });
      emitReconciliation(result);
      return result;
    }
    case 'abandon':
      await engine.stop(input.queries);
      // Ten minutes of deleting here; the Abandon loop goes on with the cursor if more is left.
      return cleanUp(startCleanup(await abandonTasks(deps, input.plan.version)).cursor, deps);
    case 'cleanup': {
      const progress = await cleanUp(input.cursor, deps);
      logger.info('batch cleanup', {
        done: progress.done,
        cellsDeleted: progress.cellsDeleted,
        speedRowsDeleted: progress.speedRowsDeleted,
      });
      return progress;
    }
  }
}

/** The reconciliation alarm watches this metric. */
function emitReconciliation(result: BatchRunResult): void {
  if (result.reconciliation)
    emitCountMetric(
      'ReconciliationMismatches',
      result.reconciliation.mismatchCount + (result.reconciliation.error ? 1 : 0),
    );
}

function isApiRequest(event: unknown): event is APIGatewayProxyEvent {
  return typeof event === 'object' && event !== null && 'httpMethod' in event;
}

/**
 * Batch layer, run by the schedule (EventBridge) and by POST /admin/batch. The body (or the
 * scheduled event's `detail`) may ask for a full run or a backfill (codecs/batch-request.ts);
 * otherwise the run is incremental. A failure throws (the schedule's retry and alarm see it);
 * the previous version stays served. In the cloud a request starts the batch state machine
 * (202 with its execution), whose steps are this handler's `{action}` events.
 */
export const handler = async (
  event: ScheduledEvent | APIGatewayProxyEvent | { action: string },
  context: Context,
): Promise<unknown> => {
  logger.addContext(context);
  if (isBatchStep(event)) return step(parseBatchStep(event), context);
  if (isApiRequest(event)) {
    if (event.httpMethod !== 'POST')
      return jsonResponse(405, { error: `${event.httpMethod} is not allowed on ${event.path}; use POST` });
    const refused = bodyNotUtf8Answer(event);
    if (refused) return refused;
    const request = parseBatchRequest(requestBody(event));
    if ('problems' in request)
      return jsonResponse(400, { error: 'invalid batch request', problems: request.problems });
    try {
      const result = await startRun(request);
      if (result.status === 'running')
        return jsonResponse(409, {
          error: `a batch run is in progress (${result.executionArn}); this request started none: send it again once that execution has ended`,
          executionArn: result.executionArn,
        });
      return jsonResponse(result.status === 'started' ? 202 : 200, result);
    } catch (error) {
      logger.error('batch run failed', { error: (error as Error).message });
      return jsonResponse(500, {
        error: `batch run failed; the previous version stays served: ${(error as Error).message}`,
      });
    }
  }
  const request = parseBatchRequest(event.detail);
  if ('problems' in request)
    throw new Error(`the scheduled event's detail is not a batch request: ${request.problems.join('; ')}`);
  const result = await startRun(request);
  logger.info('batch run', { ...result });
  if (!('executionArn' in result)) emitReconciliation(result);
  return result;
};
