import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { DynamoDbKappaControlStore } from '../adapters/aws/dynamodb-kappa-control-store';
import { bodyNotUtf8Answer, jsonResponse, requestBody } from '../adapters/codecs/api-gateway';
import { parseReplayRequest, parseRollbackRequest } from '../adapters/codecs/replay-request';
import { makeDynamoDocumentClient } from '../runtime/clients/dynamodb';
import { makeSfnClient } from '../runtime/clients/sfn';
import { readKappaAdminConfig } from '../runtime/config';
import { NothingToRollBackError, rollback } from '../services/kappa-replay';

const config = readKappaAdminConfig(process.env);
const control = new DynamoDbKappaControlStore(
  makeDynamoDocumentClient(config.endpoints),
  config.controlTable,
);
const sfn = makeSfnClient(config.endpoints);

/**
 * POST /admin/replay starts the replay state machine (409 while a replay runs; the state machine's
 * start task refuses a race the same way); POST /admin/rollback returns views to their previous
 * version in one conditional write.
 */
export const handler = async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
  if (event.httpMethod !== 'POST')
    return jsonResponse(405, { error: `${event.httpMethod} is not allowed on ${event.path}; use POST` });
  const refused = bodyNotUtf8Answer(event);
  if (refused) return refused;
  const declared = config.views.map((v) => v.name);
  if (event.path.endsWith('/admin/rollback')) {
    const parsed = parseRollbackRequest(requestBody(event), declared);
    if ('error' in parsed) return jsonResponse(400, { error: parsed.error });
    try {
      return jsonResponse(200, await rollback({ views: parsed.views }, { control }));
    } catch (error) {
      if (error instanceof NothingToRollBackError) return jsonResponse(409, { error: error.message });
      throw error;
    }
  }
  if (!event.path.endsWith('/admin/replay'))
    return jsonResponse(404, { error: `no route for POST ${event.path}` });
  const parsed = parseReplayRequest(requestBody(event), declared, Date.now());
  if ('error' in parsed) return jsonResponse(400, { error: parsed.error });
  const running = (await control.read()).replay;
  if (running?.status === 'running') {
    return jsonResponse(409, {
      error: `replay ${running.replayId} (version ${running.version}) is still running`,
      replay: running,
    });
  }
  const { executionArn, startDate } = await sfn.send(
    new StartExecutionCommand({
      stateMachineArn: config.replayStateMachineArn,
      // Unique even for two requests in one millisecond: the same name with another input would be
      // refused (ExecutionAlreadyExists) and answered with a 5xx.
      name: `replay-${Date.now()}-${randomUUID().slice(0, 8)}`,
      input: JSON.stringify({ views: parsed.views, fromMs: parsed.fromMs, toMs: parsed.toMs }),
    }),
  );
  return jsonResponse(202, { status: 'started', executionArn, startDate });
};
