import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { DynamoDbBatchViewStore } from '../adapters/aws/dynamodb-batch-view-store';
import { DynamoDbControlStore } from '../adapters/aws/dynamodb-control-store';
import { DynamoDbSpeedRowStore } from '../adapters/aws/dynamodb-speed-row-store';
import { jsonResponse, pathParam, queryParams } from '../adapters/codecs/api-gateway';
import { systemClock } from '../ports/clock';
import { makeDynamoDocumentClient } from '../runtime/clients';
import { readQueryConfig } from '../runtime/config';
import { queryView } from '../services/query-view';

const config = readQueryConfig(process.env);
const dynamo = makeDynamoDocumentClient(config.endpoints);
const deps = {
  views: config.views,
  batch: new DynamoDbBatchViewStore(dynamo, config.batchTable),
  speed: new DynamoDbSpeedRowStore(dynamo, config.speedTable),
  control: new DynamoDbControlStore(dynamo, config.controlTable),
  clock: systemClock,
  arrivalBucketMs: config.arrivalBucketMs,
};

/** GET /views/{view}, GET /views, GET /health, GET /admin/status (the serving pointer; the local runtime adds its own details). */
export const handler = async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
  if (event.httpMethod !== 'GET')
    return jsonResponse(405, { error: `${event.httpMethod} is not allowed on ${event.path}; use GET` });
  if (event.path === '/health' || event.path.endsWith('/health')) {
    const pointer = await deps.control.readPointer();
    return jsonResponse(200, {
      status: 'ok',
      batchVersion: pointer?.version ?? null,
      cutoff: pointer ? new Date(pointer.cutoffMs).toISOString() : null,
    });
  }
  if (event.path.endsWith('/admin/status')) {
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
  const result = await queryView(viewName, queryParams(event), deps);
  return jsonResponse(result.status, result.body);
};
