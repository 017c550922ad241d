import { createHash } from 'node:crypto';
import { readStreamRecord, toArchiveLine } from '../core/event';

/**
 * One line of a Firehose error object (`errors/processing-failed/...`): what Firehose keeps of a
 * record it could not transform. It keeps the record's data (`rawData`, base64) and its arrival
 * time, but NOT the Kinesis shard, sequence number or partition key
 * (https://docs.aws.amazon.com/firehose/latest/dev/data-transformation-failure-handling.html).
 */
export interface FirehoseErrorRecord {
  readonly attemptsMade?: number;
  readonly arrivalTimestamp: number;
  readonly errorCode?: string;
  readonly errorMessage?: string;
  readonly attemptEndingTimestamp?: number;
  readonly rawData: string;
  readonly lambdaArn?: string;
}

/** What re-ingesting one error object produced. */
export interface ReingestResult {
  /** Archive objects to write: key (under the archive prefix, by arrival hour) -> NDJSON text. */
  readonly objects: ReadonlyMap<string, string>;
  readonly reingested: number;
  /** Records that fail normalization again: real poison records (the speed layer refused them too). */
  readonly poison: readonly { readonly line: number; readonly error: string }[];
}

/** The shard name re-ingested records carry in the archive (`_shard`): never a real Kinesis shard id. */
export const REINGEST_SHARD = 'reingested';

/**
 * Turns the lines of one Firehose error object back into archive lines with the very code the
 * transform runs (readStreamRecord, toArchiveLine), partitioned by arrival hour like the
 * transform does. The position Firehose did not keep is made deterministic from the source object
 * and line (`_shard` = `reingested`, `_seq` = the line number), and the output key is derived
 * from the source key, so running the re-ingest twice writes the same object again (no copy).
 *
 * Ids: events put through the ingestion API carry their `id`, so batch, speed and replay agree on
 * it. An event from another producer had the id `<shard>:<sequence>` from its position, which
 * Firehose did not keep: it gets `reingested:<sha256 of source key and line>` instead.
 */
export function reingestErrorObject(sourceKey: string, text: string, archivePrefix: string): ReingestResult {
  const byPartition = new Map<string, string[]>();
  const poison: { line: number; error: string }[] = [];
  let reingested = 0;
  const tag = createHash('sha256').update(sourceKey).digest('hex').slice(0, 16);
  text.split('\n').forEach((line, index) => {
    if (line.trim() === '') return;
    try {
      const record = JSON.parse(line) as FirehoseErrorRecord;
      if (typeof record.rawData !== 'string' || typeof record.arrivalTimestamp !== 'number')
        throw new Error('not a Firehose error record (rawData, arrivalTimestamp)');
      const data = Buffer.from(record.rawData, 'base64').toString('utf8');
      const sequenceNumber = String(index + 1);
      const event = readStreamRecord(data, {
        shardId: `${REINGEST_SHARD}-${tag}`,
        sequenceNumber,
        partitionKey: `${REINGEST_SHARD}-${tag}`,
        arrivedMs: record.arrivalTimestamp,
      });
      const iso = new Date(record.arrivalTimestamp).toISOString();
      const key = `${archivePrefix}dt=${iso.slice(0, 10)}/hour=${iso.slice(11, 13)}/reingested-${tag}.ndjson`;
      const lines = byPartition.get(key) ?? [];
      lines.push(toArchiveLine(event));
      byPartition.set(key, lines);
      reingested += 1;
    } catch (error) {
      poison.push({ line: index + 1, error: (error as Error).message });
    }
  });
  const objects = new Map([...byPartition].map(([key, lines]) => [key, `${lines.join('\n')}\n`]));
  return { objects, reingested, poison };
}
