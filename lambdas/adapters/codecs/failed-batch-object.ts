import type { KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';

/**
 * The object a Kinesis event source mapping writes to its S3 on-failure destination: the
 * invocation record (requestContext, responseContext, KinesisBatchInfo, as an SQS destination
 * gets) plus `payload`, the invocation's event with the failed records. AWS documents that an S3
 * destination gets "the entire invocation record along with the metadata"
 * (https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html); the
 * payload is read here whether it is the event object or the event as a JSON string.
 */
export interface FailedBatchObject {
  readonly requestContext?: { readonly condition?: string; readonly functionArn?: string };
  readonly KinesisBatchInfo?: {
    readonly shardId?: string;
    readonly startSequenceNumber?: string;
    readonly endSequenceNumber?: string;
  };
  readonly payload?: unknown;
}

/** The failed records of an on-failure object, as the event the function is invoked with. */
export function failedBatchEvent(text: string): KinesisStreamEvent {
  const parsed = JSON.parse(text) as FailedBatchObject;
  const payload =
    typeof parsed.payload === 'string' ? (JSON.parse(parsed.payload) as unknown) : parsed.payload;
  const records = (payload as { Records?: unknown } | undefined)?.Records;
  if (!Array.isArray(records) || records.length === 0) {
    const info = parsed.KinesisBatchInfo;
    throw new Error(
      `the on-failure object holds no records (payload.Records is missing)${
        info
          ? `: shard ${info.shardId}, sequence ${info.startSequenceNumber} to ${info.endSequenceNumber}`
          : ''
      }; read them from the stream if it still retains them`,
    );
  }
  for (const record of records as KinesisStreamRecord[]) {
    if (typeof record?.kinesis?.data !== 'string' || typeof record.kinesis.sequenceNumber !== 'string')
      throw new Error(
        'a record of the on-failure object is not a Kinesis event record (kinesis.data, kinesis.sequenceNumber)',
      );
  }
  return { Records: records as KinesisStreamRecord[] };
}
