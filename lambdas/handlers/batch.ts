import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context, ScheduledEvent } from 'aws-lambda';
import { AthenaQueryEngine } from '../adapters/aws/athena-query-engine';
import { DynamoDbBatchViewStore } from '../adapters/aws/dynamodb-batch-view-store';
import { DynamoDbControlStore } from '../adapters/aws/dynamodb-control-store';
import { DynamoDbSpeedRowStore } from '../adapters/aws/dynamodb-speed-row-store';
import { DuckDbQueryEngine } from '../adapters/duckdb/duckdb-query-engine';
import { jsonResponse, requestBody } from '../adapters/codecs/api-gateway';
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
import { runBatch, type BatchRunResult } from '../services/batch-layer';

const config = readBatchConfig(process.env);
const dynamo = makeDynamoDocumentClient(config.endpoints);

// The DuckDB adapter loads its native module only when it runs a query, so the Lambda bundle
// (where the engine is Athena) never needs it.
const engine: QueryEngine =
  config.engine.kind === 'athena'
    ? new AthenaQueryEngine(makeAthenaClient(config.endpoints), config.engine)
    : new DuckDbQueryEngine(
        config.engine.archiveDir,
        config.engine.syncFromS3
          ? {
              client: makeS3Client(config.endpoints),
              bucket: config.archiveBucket,
              prefix: config.archivePrefix,
            }
          : undefined,
      );

const deps = {
  views: config.views,
  watermark: makeArchiveWatermark(
    config.watermark,
    config.endpoints,
    makeS3Client(config.endpoints),
    config.archiveBucket,
  ),
  batch: new DynamoDbBatchViewStore(dynamo, config.batchTable),
  control: new DynamoDbControlStore(dynamo, config.controlTable),
  speed: new DynamoDbSpeedRowStore(dynamo, config.speedTable),
  clock: systemClock,
  arrivalBucketMs: config.arrivalBucketMs,
};

function isApiRequest(event: unknown): event is APIGatewayProxyEvent {
  return typeof event === 'object' && event !== null && 'httpMethod' in event;
}

/**
 * Batch layer, run by the schedule (EventBridge) and by POST /admin/batch. The body (or the
 * scheduled event's `detail`) may ask for a full run or a backfill (codecs/batch-request.ts);
 * otherwise the run is incremental. A failure throws (the schedule's retry and alarm see it);
 * the previous version stays served.
 */
export const handler = async (
  event: ScheduledEvent | APIGatewayProxyEvent,
  context: Context,
): Promise<BatchRunResult | APIGatewayProxyResult> => {
  logger.addContext(context);
  if (isApiRequest(event)) {
    if (event.httpMethod !== 'POST')
      return jsonResponse(405, { error: `${event.httpMethod} is not allowed on ${event.path}; use POST` });
    const request = parseBatchRequest(requestBody(event));
    if ('problems' in request)
      return jsonResponse(400, { error: 'invalid batch request', problems: request.problems });
    try {
      return jsonResponse(200, await runBatch({ ...deps, engine }, request));
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
  const result = await runBatch({ ...deps, engine }, request);
  logger.info('batch run', { ...result });
  if (result.reconciliation) {
    // The reconciliation alarm watches this metric.
    emitCountMetric(
      'ReconciliationMismatches',
      result.reconciliation.mismatchCount + (result.reconciliation.error ? 1 : 0),
    );
  }
  return result;
};
