import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { DynamoDbBatchViewStore } from '../adapters/aws/dynamodb-batch-view-store';
import { DynamoDbControlStore } from '../adapters/aws/dynamodb-control-store';
import { CachedBatchViewStore } from '../adapters/cache/cached-batch-view-store';
import { DecodedSpeedRows } from '../adapters/cache/decoded-speed-rows';
import { DynamoDbSpeedRowStore } from '../adapters/aws/dynamodb-speed-row-store';
import {
  jsonResponse,
  pathParam,
  queryParams,
  queryRoute,
  repeatedQueryParamsAnswer,
} from '../adapters/codecs/api-gateway';
import { systemClock } from '../ports/clock';
import { makeDynamoDbItemClient, makeDynamoDocumentClient } from '../runtime/clients/dynamodb';
import { answerBeforeTimeout } from '../runtime/answer-deadline';
import { readServingConfig, type QueryConfig } from '../runtime/config';
import { kappaHandler } from '../runtime/kappa-serving';
import { queryView } from '../services/query-view';
import { queryViewParts } from '../services/query-view-parts';
import { ServedBucketMemo } from '../services/served-bucket-memo';

// STREAMFOLD_ARCHITECTURE=kappa: the Kappa serving path (its own tables); otherwise the Lambda one.
const serving = readServingConfig(process.env);
const kappa = serving.architecture === 'kappa' ? kappaHandler(serving) : undefined;
// In kappa mode the Lambda tables are unset and the stores below are never called (kappa answers first).
const config = serving as QueryConfig;
const dynamo = makeDynamoDocumentClient(config.endpoints);
// Every GET reads the key's speed rows and the pointer: plain item commands, middleware resolved once.
const items = makeDynamoDbItemClient(config.endpoints);
const deps = {
  views: config.views,
  // Module scope: published batch versions are immutable, so a warm instance keeps what it read.
  batch: new CachedBatchViewStore(new DynamoDbBatchViewStore(dynamo, config.batchTable)),
  // Module scope too: a warm instance decodes only the speed rows that changed since its last
  // query, and merges only the buckets whose parts changed.
  speed: new DynamoDbSpeedRowStore(dynamo, config.speedTable, { decoded: new DecodedSpeedRows(), items }),
  served: new ServedBucketMemo(),
  control: new DynamoDbControlStore(dynamo, config.controlTable, items),
  clock: systemClock,
  arrivalBucketMs: config.arrivalBucketMs,
};

/**
 * GET /views/{view}, GET /views/{view}/parts, GET /views, GET /health, GET /admin/status (the
 * serving pointer; the local runtime adds its own details). Every route answers before the
 * function's timeout (lib/constructs/api-timeouts.ts): a query still reading then gets a 503
 * that says what to do, not Lambda's bare error.
 */
export const handler = (event: APIGatewayProxyEvent, context?: Context): Promise<APIGatewayProxyResult> =>
  answerBeforeTimeout(
    context,
    () => handle(event),
    (allowedMs) =>
      jsonResponse(503, {
        error: `the request did not finish within ${(allowedMs / 1000).toFixed(1)} s, the query function's time limit: ask for a shorter range (from/to) or try again`,
      }),
  );

async function handle(event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
  if (kappa) return kappa(event);
  if (event.httpMethod !== 'GET')
    return jsonResponse(405, { error: `${event.httpMethod} is not allowed on ${event.path}; use GET` });
  const route = queryRoute(event);
  if (route === 'health') {
    const pointer = await deps.control.readPointer();
    return jsonResponse(200, {
      status: 'ok',
      batchVersion: pointer?.version ?? null,
      cutoff: pointer ? new Date(pointer.cutoffMs).toISOString() : null,
    });
  }
  if (route === 'status') {
    const pointer = await deps.control.readPointer();
    return jsonResponse(200, {
      batch: pointer
        ? {
            version: pointer.version,
            cutoff: new Date(pointer.cutoffMs).toISOString(),
            publishedAt: pointer.publishedAt,
            previous: pointer.previous,
          }
        : null,
      views: deps.views.map((v) => v.name),
      arrivalBucketMs: deps.arrivalBucketMs,
    });
  }
  const viewName = pathParam(event, 'view');
  if (viewName === undefined) {
    return jsonResponse(200, {
      views: deps.views.map((v) => ({
        name: v.name,
        eventType: v.eventType,
        key: v.key,
        granularity: v.granularity,
        measures: v.measures,
        where: v.where,
      })),
    });
  }
  const repeated = repeatedQueryParamsAnswer(event);
  if (repeated) return repeated;
  const result =
    route === 'parts'
      ? await queryViewParts(viewName, queryParams(event), deps)
      : await queryView(viewName, queryParams(event), deps);
  return jsonResponse(result.status, result.body, result.json);
}
