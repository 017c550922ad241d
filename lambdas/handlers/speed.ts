import type {
  Context,
  KinesisStreamBatchResponse,
  KinesisStreamEvent,
  KinesisStreamStateResponse,
  KinesisStreamTumblingWindowEvent,
} from 'aws-lambda';
import { DynamoDbEventClaims } from '../adapters/aws/dynamodb-event-claims';
import { DynamoDbShardIdLog } from '../adapters/aws/dynamodb-shard-id-log';
import { DynamoDbSpeedRowStore } from '../adapters/aws/dynamodb-speed-row-store';
import { decodeKinesisEvent } from '../adapters/codecs/kinesis-event';
import { windowStateCodec } from '../adapters/codecs/window-state';
import { systemClock } from '../ports/clock';
import { makeDynamoDbItemClient, makeDynamoDocumentClient } from '../runtime/clients/dynamodb';
import { logger } from '../runtime/logger';
import { logStreamBatch } from '../runtime/stream-batch-log';
import { readSpeedConfig } from '../runtime/config';
import { ShardDedupe } from '../services/shard-dedupe';
import { processSpeedBatch } from '../services/speed-layer';
import { SpeedRowCache } from '../services/speed-row-cache';
import { processWindowedBatch } from '../services/windowed-speed-layer';

const config = readSpeedConfig(process.env);
const dynamo = makeDynamoDocumentClient(config.endpoints);
// Module scope: the ids and rows an instance holds outlive one invocation (ADR 008).
const deps = {
  views: config.views,
  rows: new DynamoDbSpeedRowStore(dynamo, config.speedTable, {
    items: makeDynamoDbItemClient(config.endpoints),
  }),
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
          config.dedupeMaxHeldIds,
        )
      : undefined,
  fenceBy: config.fenceBy,
  arrivalBucketMs: config.arrivalBucketMs,
  codec: windowStateCodec(config.views),
};

/** Recorded once per instance, before its first rows (SpeedRowStore.recordOrigin); tried again after a failure. */
let origin: Promise<void> | undefined;

function recordOrigin(): Promise<void> {
  origin ??= deps.rows.recordOrigin(config.views).catch((error: unknown) => {
    origin = undefined;
    throw error;
  });
  return origin;
}

/**
 * Speed layer: Kinesis event source -> fenced speed rows. Returns the lowest sequence number not
 * fully applied as the one batch item failure (Lambda retries from it; everything below is
 * checkpointed), so a poison record is isolated by bisection and dead-lettered without blocking
 * its shard.
 *
 * With a tumbling window on the event source (`aggregationWindow`, ADR 012) the event carries the
 * window's `state` and flags: records are folded into the state, which is returned (Lambda counts
 * an answer without `state` as a failure), and rows are written when the window closes.
 */
export const handler = async (
  event: KinesisStreamEvent | KinesisStreamTumblingWindowEvent,
  context: Context,
): Promise<KinesisStreamBatchResponse | KinesisStreamStateResponse> => {
  logger.addContext(context);
  // A failure here fails the invocation before any row is written: the event source retries it.
  await recordOrigin();
  if (isWindowEvent(event)) {
    const result = await processWindowedBatch(
      {
        records: decodeKinesisEvent(event),
        state: typeof event.state?.rows === 'string' ? event.state.rows : undefined,
        // An early-terminated window is not continued with this state: flush it as a final one.
        final: event.isFinalInvokeForWindow || event.isWindowTerminatedEarly,
      },
      deps,
    );
    logStreamBatch(result);
    return {
      state: { rows: result.state },
      batchItemFailures: result.failedFrom === undefined ? [] : [{ itemIdentifier: result.failedFrom }],
    };
  }
  const result = await processSpeedBatch(decodeKinesisEvent(event), deps);
  logStreamBatch(result);
  return {
    batchItemFailures: result.failedFrom === undefined ? [] : [{ itemIdentifier: result.failedFrom }],
  };
};

function isWindowEvent(
  event: KinesisStreamEvent | KinesisStreamTumblingWindowEvent,
): event is KinesisStreamTumblingWindowEvent {
  return typeof (event as Partial<KinesisStreamTumblingWindowEvent>).isFinalInvokeForWindow === 'boolean';
}
