import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { DynamoDbEventClaims } from '../adapters/aws/dynamodb-event-claims';
import { DynamoDbShardIdLog } from '../adapters/aws/dynamodb-shard-id-log';
import { DynamoDbSpeedRowStore } from '../adapters/aws/dynamodb-speed-row-store';
import { decodeKinesisEvent } from '../adapters/codecs/kinesis-event';
import { systemClock } from '../ports/clock';
import { makeDynamoDocumentClient } from '../runtime/clients/dynamodb';
import { logger } from '../runtime/logger';
import { logStreamBatch } from '../runtime/stream-batch-log';
import { readSpeedConfig } from '../runtime/config';
import { ShardDedupe } from '../services/shard-dedupe';
import { processSpeedBatch } from '../services/speed-layer';
import { SpeedRowCache } from '../services/speed-row-cache';

const config = readSpeedConfig(process.env);
const dynamo = makeDynamoDocumentClient(config.endpoints);
// Module scope: the ids and rows an instance holds outlive one invocation (ADR 008).
const deps = {
  views: config.views,
  rows: new DynamoDbSpeedRowStore(dynamo, config.speedTable),
  rowCache: new SpeedRowCache(),
  claims:
    config.dedupeTable && config.dedupeScope === 'global'
      ? new DynamoDbEventClaims(dynamo, config.dedupeTable, config.dedupeTtlSeconds, systemClock)
      : undefined,
  shardDedupe:
    config.dedupeTable && config.dedupeScope === 'shard'
      ? new ShardDedupe(
          new DynamoDbShardIdLog(dynamo, config.dedupeTable, config.dedupeTtlSeconds),
          config.dedupeTtlSeconds * 1000,
        )
      : undefined,
  fenceBy: config.fenceBy,
  arrivalBucketMs: config.arrivalBucketMs,
};

/**
 * Speed layer: Kinesis event source -> fenced speed rows. Returns the lowest sequence number not
 * fully applied as the one batch item failure (Lambda retries from it; everything below is
 * checkpointed), so a poison record is isolated by bisection and dead-lettered without blocking
 * its shard.
 */
export const handler = async (
  event: KinesisStreamEvent,
  context: Context,
): Promise<KinesisStreamBatchResponse> => {
  logger.addContext(context);
  const result = await processSpeedBatch(decodeKinesisEvent(event), deps);
  logStreamBatch(result);
  return {
    batchItemFailures: result.failedFrom === undefined ? [] : [{ itemIdentifier: result.failedFrom }],
  };
};
