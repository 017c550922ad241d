import type { APIGatewayProxyEvent, APIGatewayProxyResult, KinesisStreamBatchResponse } from 'aws-lambda';
import { jsonResponse, requestBody } from '../lambdas/adapters/codecs/api-gateway';
import { parseBatchRequest } from '../lambdas/adapters/codecs/batch-request';
import type { BatchRunResult } from '../lambdas/services/batch-layer';
import type { DeadLetterQueue } from './dead-letter-queue';
import type { HandlerHost } from './handler-host';
import type { Route } from './http-gateway';
import type { PipelineStatus } from './pipeline-status';

/** What a batch run is asked for beyond an incremental run: a full run, or a backfill of an event-time range. */
export interface BatchDetail {
  readonly full?: boolean;
  readonly from?: number | string;
  readonly to?: number | string;
}

/** A deployed handler, as the routes call it. */
type Handler = Pick<HandlerHost, 'invoke'>;

/** What the routes of the local runtime call. */
export interface PipelineRouteTargets {
  readonly ingest: Handler;
  readonly query: Handler;
  readonly speed: Handler;
  readonly deadLetters: Pick<DeadLetterQueue, 'depth' | 'list' | 'redrive'>;
  /** Counts the events a POST /events acknowledged. */
  readonly accepted: (events: number) => void;
  /** Runs the batch layer now, never beside another run: incremental without `detail`. */
  readonly runBatch: (detail?: BatchDetail) => Promise<BatchRunResult>;
  readonly status: () => Promise<PipelineStatus>;
}

/** Routes the Kappa architecture serves itself when it runs alone (it has no batch layer). */
const LAMBDA_SERVING = new Set(['/views', '/views/{view}', '/views/{view}/parts', '/health', '/admin/batch']);

/**
 * The local API: ingestion and the Lambda architecture's serving routes (the deployed handlers),
 * and the local admin routes (status, dead letters). Without the Lambda architecture, only
 * ingestion and the admin routes.
 */
export function pipelineRoutes(t: PipelineRouteTargets, servesLambda: boolean): Route[] {
  const query = (e: APIGatewayProxyEvent) => t.query.invoke<APIGatewayProxyResult>(e);
  const routes: Route[] = [
    {
      method: 'POST',
      resource: '/events',
      invoke: async (e) => {
        const result = await t.ingest.invoke<APIGatewayProxyResult>(e);
        if (result.statusCode === 202) t.accepted((JSON.parse(result.body) as { accepted: number }).accepted);
        return result;
      },
    },
    { method: 'GET', resource: '/views', invoke: query },
    { method: 'GET', resource: '/views/{view}', invoke: query },
    { method: 'GET', resource: '/views/{view}/parts', invoke: query },
    { method: 'GET', resource: '/health', invoke: query },
    { method: 'POST', resource: '/admin/batch', invoke: (e) => batch(e, t.runBatch) },
    { method: 'GET', resource: '/admin/status', invoke: async () => jsonResponse(200, await t.status()) },
    {
      method: 'GET',
      resource: '/admin/dlq',
      invoke: async () =>
        jsonResponse(200, { depth: await t.deadLetters.depth(), entries: await t.deadLetters.list() }),
    },
    {
      method: 'POST',
      resource: '/admin/dlq/redrive',
      invoke: async () =>
        jsonResponse(
          200,
          await t.deadLetters.redrive((event) => t.speed.invoke<KinesisStreamBatchResponse>(event)),
        ),
    },
  ];
  return servesLambda ? routes : routes.filter((r) => !LAMBDA_SERVING.has(r.resource));
}

/** POST /admin/batch: a run that starts after the one in progress (if any), so it covers what was ingested before the request. */
async function batch(
  event: APIGatewayProxyEvent,
  runBatch: PipelineRouteTargets['runBatch'],
): Promise<APIGatewayProxyResult> {
  const body = requestBody(event);
  const request = parseBatchRequest(body);
  if ('problems' in request)
    return jsonResponse(400, { error: 'invalid batch request', problems: request.problems });
  try {
    const detail = request.full || request.backfill ? (JSON.parse(body) as BatchDetail) : undefined;
    return jsonResponse(200, await runBatch(detail));
  } catch (error) {
    return jsonResponse(500, {
      error: `batch run failed; the previous version stays served: ${(error as Error).message}`,
    });
  }
}
