import { randomUUID } from 'node:crypto';
import type { KinesisStreamRecord } from 'aws-lambda';

/** Why records left the stream for the on-failure destination (AWS's `requestContext.condition`). */
export type OnFailureCondition = 'RetryAttemptsExhausted' | 'RecordAgeExceeded';

/**
 * One on-failure record. The fields up to `KinesisBatchInfo` are those of the JSON document AWS
 * sends to an SQS or SNS on-failure destination for a Kinesis event source mapping; AWS sends
 * only that metadata. Here the failed records themselves and the last error come too, so nothing
 * is lost and a redrive needs no trip back to the stream (whose retention may have passed).
 */
export interface DeadLetterEntry {
  readonly version: '1.0';
  readonly timestamp: string;
  readonly requestContext: {
    readonly requestId: string;
    readonly functionArn: string;
    readonly condition: OnFailureCondition;
    /** How many times these records were handed to the function (0 when they aged out unread). */
    readonly approximateInvokeCount: number;
  };
  readonly responseContext: {
    readonly statusCode: number;
    readonly executedVersion: string;
    /** `Unhandled` when the function threw; absent when it never ran or reported failures itself. */
    readonly functionError?: string;
  };
  readonly KinesisBatchInfo: {
    readonly shardId: string;
    readonly startSequenceNumber: string;
    readonly endSequenceNumber: string;
    readonly approximateArrivalOfFirstRecord: string;
    readonly approximateArrivalOfLastRecord: string;
    readonly batchSize: number;
    readonly streamArn: string;
  };
  /** The failed records exactly as the function received them (data base64). */
  readonly records: readonly KinesisStreamRecord[];
  /** The last error the function threw, or which records it reported failed. */
  readonly lastError: string;
}

/** Where the event-source poller sends records it gives up on. */
export interface OnFailureDestination {
  add(entry: DeadLetterEntry): Promise<void>;
}

/** How the function fared with the records before they were given up. */
export interface FailedAttempt {
  /** Invocations that carried these records (0 when they aged out before any). */
  readonly invokeCount: number;
  /** The function's last error, or '' when it never ran. */
  readonly lastError: string;
  /** `Unhandled` when the last invocation threw. */
  readonly functionError?: string;
}

/** A record's arrival time in epoch ms (Lambda sends seconds with millisecond precision). */
export function arrivalMs(record: KinesisStreamRecord): number {
  return Math.round(record.kinesis.approximateArrivalTimestamp * 1000);
}

/** The on-failure entry for records of one shard, given up for `condition`. */
export function deadLetterEntry(given: {
  readonly records: readonly KinesisStreamRecord[];
  readonly condition: OnFailureCondition;
  readonly attempt: FailedAttempt;
  /** Said when the attempt holds no error (records aged out before any invocation). */
  readonly reason: string;
  readonly shardId: string;
  readonly streamArn: string;
  readonly functionArn: string;
  /** Epoch ms of the entry's timestamp. */
  readonly now: number;
}): DeadLetterEntry {
  const { records, attempt } = given;
  return {
    version: '1.0',
    timestamp: new Date(given.now).toISOString(),
    requestContext: {
      requestId: randomUUID(),
      functionArn: given.functionArn,
      condition: given.condition,
      approximateInvokeCount: attempt.invokeCount,
    },
    responseContext: {
      statusCode: attempt.invokeCount > 0 ? 200 : 0,
      executedVersion: '$LATEST',
      ...(attempt.functionError ? { functionError: attempt.functionError } : {}),
    },
    KinesisBatchInfo: {
      shardId: given.shardId,
      startSequenceNumber: records[0].kinesis.sequenceNumber,
      endSequenceNumber: records[records.length - 1].kinesis.sequenceNumber,
      approximateArrivalOfFirstRecord: new Date(arrivalMs(records[0])).toISOString(),
      approximateArrivalOfLastRecord: new Date(arrivalMs(records[records.length - 1])).toISOString(),
      batchSize: records.length,
      streamArn: given.streamArn,
    },
    records,
    lastError: attempt.lastError || given.reason,
  };
}

/** The entry without its first `from` records (they succeeded on redrive), failed for `reason`. */
export function withoutFirstRecords(entry: DeadLetterEntry, from: number, reason: string): DeadLetterEntry {
  const records = entry.records.slice(from);
  return {
    ...entry,
    timestamp: new Date().toISOString(),
    KinesisBatchInfo: {
      ...entry.KinesisBatchInfo,
      startSequenceNumber: records[0].kinesis.sequenceNumber,
      approximateArrivalOfFirstRecord: new Date(arrivalMs(records[0])).toISOString(),
      batchSize: records.length,
    },
    records,
    lastError: reason,
  };
}
