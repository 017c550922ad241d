import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { DynamoDbEventClaims } from '../adapters/aws/dynamodb-event-claims';
import { DynamoDbKappaCellStore } from '../adapters/aws/dynamodb-kappa-cell-store';
import { DynamoDbKappaControlStore } from '../adapters/aws/dynamodb-kappa-control-store';
import { decodeKinesisEvent } from '../adapters/codecs/kinesis-event';
import { systemClock } from '../ports/clock';
import { makeDynamoDbItemClient, makeDynamoDocumentClient } from '../runtime/clients/dynamodb';
import { logger } from '../runtime/logger';
import { logStreamBatch } from '../runtime/stream-batch-log';
import { readKappaProcessorConfig } from '../runtime/config';
import { processKappaBatch } from '../services/kappa-processor';

const config = readKappaProcessorConfig(process.env);
const dynamo = makeDynamoDocumentClient(config.endpoints);
const deps = {
  views: config.views,
  cells: new DynamoDbKappaCellStore(dynamo, config.kappaTable, {
    items: makeDynamoDbItemClient(config.endpoints),
  }),
  control: new DynamoDbKappaControlStore(dynamo, config.controlTable),
  claims: config.dedupeTable
    ? new DynamoDbEventClaims(dynamo, config.dedupeTable, config.dedupeTtlSeconds, systemClock)
    : undefined,
  fenceBy: config.fenceBy,
};

/**
 * Kappa stream processor: Kinesis event source -> fenced cells of every live version (active,
 * previous, building). Like the speed layer, it returns the lowest sequence number not fully
 * applied as the one batch item failure, so poison records are bisected out and dead-lettered.
 */
export const handler = async (
  event: KinesisStreamEvent,
  context: Context,
): Promise<KinesisStreamBatchResponse> => {
  logger.addContext(context);
  const result = await processKappaBatch(decodeKinesisEvent(event), deps);
  logStreamBatch(result);
  return {
    batchItemFailures: result.failedFrom === undefined ? [] : [{ itemIdentifier: result.failedFrom }],
  };
};
