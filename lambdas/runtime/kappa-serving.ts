import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { DynamoDbKappaCellStore } from '../adapters/aws/dynamodb-kappa-cell-store';
import { DynamoDbKappaControlStore } from '../adapters/aws/dynamodb-kappa-control-store';
import { viewPointer } from '../core/kappa';
import {
  jsonResponse,
  pathParam,
  queryParams,
  queryRoute,
  repeatedQueryParamsAnswer,
} from '../adapters/codecs/api-gateway';
import { systemClock } from '../ports/clock';
import { kappaStatus, queryKappaView } from '../services/kappa-query';
import { makeDynamoDocumentClient } from './clients/dynamodb';
import type { ServingConfig } from './config';

/**
 * The query handler's Kappa routes (STREAMFOLD_ARCHITECTURE=kappa), composed here so the handler
 * stays one line of dispatch: GET /views/{view} from the active version, GET /views,
 * GET /health (each view's active version) and GET /admin/status (versions and the replay).
 */
export function kappaHandler(
  config: Extract<ServingConfig, { architecture: 'kappa' }>,
): (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult> {
  const dynamo = makeDynamoDocumentClient(config.endpoints);
  const deps = {
    views: config.views,
    cells: new DynamoDbKappaCellStore(dynamo, config.kappaTable),
    control: new DynamoDbKappaControlStore(dynamo, config.controlTable),
    clock: systemClock,
  };
  return async (event) => {
    if (event.httpMethod !== 'GET')
      return jsonResponse(405, { error: `${event.httpMethod} is not allowed on ${event.path}; use GET` });
    const route = queryRoute(event);
    if (route === 'health') {
      const pointers = await deps.control.read();
      return jsonResponse(200, {
        status: 'ok',
        architecture: 'kappa',
        versions: Object.fromEntries(
          Object.entries(pointers.views).map(([name, p]) => [name, p.active?.version ?? null]),
        ),
        replay: pointers.replay
          ? { replayId: pointers.replay.replayId, status: pointers.replay.status }
          : null,
      });
    }
    if (route === 'status') return jsonResponse(200, { architecture: 'kappa', ...(await kappaStatus(deps)) });
    const viewName = pathParam(event, 'view');
    if (viewName === undefined) {
      const pointers = await deps.control.read();
      return jsonResponse(200, {
        views: deps.views.map((v) => ({
          name: v.name,
          eventType: v.eventType,
          key: v.key,
          granularity: v.granularity,
          measures: v.measures,
          where: v.where,
          activeVersion: viewPointer(pointers.views, v.name)?.active?.version ?? null,
        })),
      });
    }
    const repeated = repeatedQueryParamsAnswer(event);
    if (repeated) return repeated;
    const result = await queryKappaView(viewName, queryParams(event), deps);
    return jsonResponse(result.status, result.body, result.json);
  };
}
