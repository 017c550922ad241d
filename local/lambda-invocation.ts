import type { _Record } from '@aws-sdk/client-kinesis';
import { randomBytes, randomUUID } from 'node:crypto';
import type {
  Context,
  KinesisStreamBatchResponse,
  KinesisStreamEvent,
  KinesisStreamRecord,
  KinesisStreamStateResponse,
  KinesisStreamTumblingWindowEvent,
} from 'aws-lambda';

/** A stream record as Lambda's Kinesis event source hands it to a function. */
export function toLambdaRecord(
  record: _Record,
  source: {
    readonly shardId: string;
    readonly streamArn: string;
    readonly region: string;
    /** The role the event source mapping invokes with (`invokeIdentityArn`). */
    readonly roleArn: string;
  },
): KinesisStreamRecord {
  return {
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey: record.PartitionKey!,
      sequenceNumber: record.SequenceNumber!,
      data: Buffer.from(record.Data ?? new Uint8Array()).toString('base64'),
      // Seconds with millisecond precision, as Lambda sends it (1545084650.987).
      approximateArrivalTimestamp: (record.ApproximateArrivalTimestamp ?? new Date()).getTime() / 1000,
    },
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventID: `${source.shardId}:${record.SequenceNumber}`,
    eventName: 'aws:kinesis:record',
    invokeIdentityArn: source.roleArn,
    awsRegion: source.region,
    eventSourceARN: source.streamArn,
  };
}

/**
 * A Kinesis handler as Lambda calls it: the deployed `handler` exports have this shape. With a
 * tumbling window the event carries the window and its state, and the answer must carry `state`.
 */
export type KinesisBatchHandler = (
  event: KinesisStreamEvent | KinesisStreamTumblingWindowEvent,
  context: Context,
) => Promise<KinesisStreamBatchResponse | KinesisStreamStateResponse | void | null | undefined>;

/** A minimal Lambda context, enough for handlers that log the request id or check the time left. */
export function lambdaContext(options: {
  readonly functionName: string;
  readonly region: string;
  readonly accountId: string;
  /** @default 900000 (Lambda's largest timeout) */
  readonly timeoutMs?: number;
}): Context {
  const deadline = Date.now() + (options.timeoutMs ?? 900_000);
  const unsupported = () => {
    throw new Error(
      'context.done/fail/succeed are not supported locally: return or throw from an async handler',
    );
  };
  const day = new Date().toISOString().slice(0, 10).replace(/-/g, '/');
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: options.functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${options.region}:${options.accountId}:function:${options.functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${options.functionName}`,
    logStreamName: `${day}/[$LATEST]${randomBytes(16).toString('hex')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: unsupported,
    fail: unsupported,
    succeed: unsupported,
  };
}

/**
 * Reads a Kinesis handler's answer as Lambda does with ReportBatchItemFailures on: the index of
 * the first record to retry, or -1 when the batch succeeded. No answer, or an empty or null
 * `batchItemFailures`, is success; an empty, missing or unknown `itemIdentifier` fails the
 * whole batch (index 0); otherwise the lowest reported sequence number is where the retry starts.
 * A `batchItemFailures` that is not an array also fails the whole batch: dropping records on a
 * malformed answer would lose them.
 */
export function firstFailedIndex(
  records: readonly KinesisStreamRecord[],
  response: unknown,
): { index: number; reason: string } {
  if (response === null || typeof response !== 'object') return { index: -1, reason: '' };
  const failures = (response as { batchItemFailures?: unknown }).batchItemFailures;
  if (failures === undefined || failures === null) return { index: -1, reason: '' };
  if (!Array.isArray(failures))
    return { index: 0, reason: 'batchItemFailures is not an array: the whole batch counts as failed' };
  if (failures.length === 0) return { index: -1, reason: '' };
  let lowest = records.length;
  for (const failure of failures as unknown[]) {
    const id =
      failure !== null && typeof failure === 'object'
        ? (failure as { itemIdentifier?: unknown }).itemIdentifier
        : undefined;
    const at =
      typeof id === 'string' && id !== '' ? records.findIndex((r) => r.kinesis.sequenceNumber === id) : -1;
    if (at < 0)
      return {
        index: 0,
        reason: `batchItemFailures names ${JSON.stringify(id)}, not a sequence number of this batch: the whole batch counts as failed`,
      };
    lowest = Math.min(lowest, at);
  }
  return {
    index: lowest,
    reason: `the function reported ${failures.length} failed record(s), the lowest ${records[lowest].kinesis.sequenceNumber}`,
  };
}
