import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { DynamoDbEventClaims } from '../adapters/aws/dynamodb-event-claims';
import { DynamoDbSpeedRowStore } from '../adapters/aws/dynamodb-speed-row-store';
import { decodeKinesisEvent } from '../adapters/codecs/kinesis-event';
import { systemClock } from '../ports/clock';
import { makeDynamoDocumentClient } from '../runtime/clients';
import { readSpeedConfig } from '../runtime/config';
import { processSpeedBatch } from '../services/speed-layer';

const config = readSpeedConfig(process.env);
const dynamo = makeDynamoDocumentClient(config.endpoints);
const deps = {
  views: config.views,
  rows: new DynamoDbSpeedRowStore(dynamo, config.speedTable),
  claims: config.dedupeTable
    ? new DynamoDbEventClaims(dynamo, config.dedupeTable, config.dedupeTtlSeconds, systemClock)
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
export const handler = async (event: KinesisStreamEvent): Promise<KinesisStreamBatchResponse> => {
  const result = await processSpeedBatch(decodeKinesisEvent(event), deps);
  for (const poison of result.poison) {
    console.error(
      JSON.stringify({
        level: 'ERROR',
        message: 'poison record',
        sequenceNumber: poison.sequenceNumber,
        error: poison.error,
      }),
    );
  }
  if (result.earlierCopies > 0) {
    // CloudWatch embedded metric format: copies that batch and replay keep instead of the speed
    // layer's (README "Exactness": producer retries under other partition keys).
    console.log(
      JSON.stringify({
        _aws: {
          Timestamp: Date.now(),
          CloudWatchMetrics: [
            {
              Namespace: 'Streamfold',
              Dimensions: [[]],
              Metrics: [{ Name: 'KeptCopyConflicts', Unit: 'Count' }],
            },
          ],
        },
        KeptCopyConflicts: result.earlierCopies,
      }),
    );
  }
  return {
    batchItemFailures: result.failedFrom === undefined ? [] : [{ itemIdentifier: result.failedFrom }],
  };
};
