import type { APIGatewayProxyEvent, APIGatewayProxyResult, ScheduledEvent } from 'aws-lambda';
import { AthenaQueryEngine } from '../adapters/aws/athena-query-engine';
import { DynamoDbBatchViewStore } from '../adapters/aws/dynamodb-batch-view-store';
import { DynamoDbControlStore } from '../adapters/aws/dynamodb-control-store';
import { DynamoDbSpeedRowStore } from '../adapters/aws/dynamodb-speed-row-store';
import { ClockLagWatermark, S3CheckpointWatermark } from '../adapters/aws/s3-archive-watermark';
import { jsonResponse } from '../adapters/codecs/api-gateway';
import { systemClock } from '../ports/clock';
import type { QueryEngine } from '../ports/query-engine';
import { makeAthenaClient, makeDynamoDocumentClient, makeS3Client } from '../runtime/clients';
import { readBatchConfig } from '../runtime/config';
import { runBatch, type BatchRunResult } from '../services/batch-layer';

const config = readBatchConfig(process.env);
const dynamo = makeDynamoDocumentClient(config.endpoints);

async function makeEngine(): Promise<QueryEngine> {
  if (config.engine.kind === 'athena') return new AthenaQueryEngine(makeAthenaClient(config.endpoints), config.engine);
  // Imported only where DuckDB is the engine: the native module is not part of the Lambda bundle.
  const { DuckDbQueryEngine } = await import('../adapters/duckdb/duckdb-query-engine');
  return new DuckDbQueryEngine(config.engine.archiveDir);
}

const deps = {
  views: config.views,
  watermark:
    config.watermark.kind === 'clock'
      ? new ClockLagWatermark(systemClock, config.watermark.lagMs)
      : new S3CheckpointWatermark(makeS3Client(config.endpoints), config.archiveBucket),
  batch: new DynamoDbBatchViewStore(dynamo, config.batchTable),
  control: new DynamoDbControlStore(dynamo, config.controlTable),
  speed: new DynamoDbSpeedRowStore(dynamo, config.speedTable),
  clock: systemClock,
  arrivalBucketMs: config.arrivalBucketMs,
};
let engine: Promise<QueryEngine> | undefined;

function isApiRequest(event: unknown): event is APIGatewayProxyEvent {
  return typeof event === 'object' && event !== null && 'httpMethod' in event;
}

/**
 * Batch layer, run by the schedule (EventBridge) and by POST /admin/batch. A failure throws (the
 * schedule's retry and alarm see it); the previous version stays served.
 */
export const handler = async (event: ScheduledEvent | APIGatewayProxyEvent): Promise<BatchRunResult | APIGatewayProxyResult> => {
  engine ??= makeEngine();
  if (isApiRequest(event)) {
    if (event.httpMethod !== 'POST') return jsonResponse(405, { error: `${event.httpMethod} is not allowed on ${event.path}; use POST` });
    try {
      return jsonResponse(200, await runBatch({ ...deps, engine: await engine }));
    } catch (error) {
      console.error(JSON.stringify({ level: 'ERROR', message: 'batch run failed', error: (error as Error).message }));
      return jsonResponse(500, { error: `batch run failed; the previous version stays served: ${(error as Error).message}` });
    }
  }
  const result = await runBatch({ ...deps, engine: await engine });
  console.log(JSON.stringify({ level: 'INFO', message: 'batch run', ...result }));
  return result;
};
