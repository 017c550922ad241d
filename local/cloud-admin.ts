/**
 * Operator commands for a deployed stack (they work against emulators too: endpoints come from
 * the usual AWS_ENDPOINT_URL* variables):
 *
 *   npm run reingest -- --bucket <archive bucket> [--prefix errors/processing-failed/] [--delete]
 *     Re-ingests the records Firehose wrote under its error prefix into the archive, normalized by
 *     the transform's own code. Needs STREAMFOLD_VIEWS (the transform function's environment).
 *
 *   npm run redrive -- --bucket <on-failure bucket> --key <object key> [--handler speed|kappa-processor]
 *     Re-applies the records of one failed batch (the S3 on-failure object of the speed layer or
 *     the Kappa processor) through the deployed handler's own code, in this process. Needs that
 *     function's environment (aws lambda get-function-configuration --query Environment.Variables).
 *
 * See docs/deploy.md ("When records fail") for what each keeps exact and its limits.
 */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { parseArgs } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { failedBatchEvent } from '../lambdas/adapters/codecs/failed-batch-object';
import { makeS3Client, readEndpoints } from '../lambdas/runtime/clients';
import { reingestErrorObject } from '../lambdas/services/reingest-failed';

/** The few object operations the commands need (S3, or an in-memory map in tests). */
export interface ObjectStore {
  list(bucket: string, prefix: string): Promise<string[]>;
  get(bucket: string, key: string): Promise<Buffer>;
  put(bucket: string, key: string, body: string): Promise<void>;
  delete(bucket: string, key: string): Promise<void>;
}

export function s3ObjectStore(client: S3Client): ObjectStore {
  return {
    async list(bucket, prefix) {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const page = await client.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
        );
        for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key);
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      return keys;
    },
    async get(bucket, key) {
      const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return Buffer.from(await out.Body!.transformToByteArray());
    },
    async put(bucket, key, body) {
      await client.send(
        new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'application/x-ndjson' }),
      );
    },
    async delete(bucket, key) {
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    },
  };
}

/** Object text, gunzipped when it starts with the GZIP magic bytes (Firehose compresses what it writes). */
function text(bytes: Buffer): string {
  return (bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes).toString('utf8');
}

export interface ReingestSummary {
  readonly sourceObjects: number;
  readonly reingested: number;
  readonly written: readonly string[];
  readonly poison: readonly { readonly key: string; readonly line: number; readonly error: string }[];
}

/**
 * Reads every error object under `prefix`, writes the archive objects its records normalize to,
 * and (with `deleteSources`) deletes each source object once its archive objects are written.
 * Idempotent: a source object always yields the same archive keys and lines.
 */
export async function reingestFirehoseErrors(
  store: ObjectStore,
  options: {
    readonly bucket: string;
    readonly prefix?: string;
    readonly archivePrefix?: string;
    readonly deleteSources?: boolean;
  },
): Promise<ReingestSummary> {
  const prefix = options.prefix ?? 'errors/processing-failed/';
  const keys = await store.list(options.bucket, prefix);
  const written: string[] = [];
  const poison: { key: string; line: number; error: string }[] = [];
  let reingested = 0;
  for (const key of keys) {
    const result = reingestErrorObject(
      key,
      text(await store.get(options.bucket, key)),
      options.archivePrefix ?? 'events/',
    );
    for (const [archiveKey, body] of result.objects) {
      await store.put(options.bucket, archiveKey, body);
      written.push(archiveKey);
    }
    reingested += result.reingested;
    poison.push(...result.poison.map((p) => ({ key, ...p })));
    if (options.deleteSources) await store.delete(options.bucket, key);
  }
  return { sourceObjects: keys.length, reingested, written, poison };
}

/** A Kinesis handler as Lambda calls it (the deployed `handler` exports). */
export type KinesisHandler = (
  event: KinesisStreamEvent,
  context: Context,
) => Promise<KinesisStreamBatchResponse>;

/**
 * Re-applies the records of one failed batch object through `handler`. Returns the handler's
 * answer: the records from `batchItemFailures[0]` on were not applied (run the redrive again once
 * the cause is fixed; what was applied is fenced, so a repeat changes nothing).
 */
export async function redriveFailedBatch(
  store: ObjectStore,
  bucket: string,
  key: string,
  handler: KinesisHandler,
): Promise<{ readonly records: number; readonly failedFrom?: string }> {
  const event = failedBatchEvent(text(await store.get(bucket, key)));
  const response = await handler(event, {
    functionName: 'redrive',
    awsRequestId: `redrive-${key}`,
  } as Context);
  return { records: event.Records.length, failedFrom: response?.batchItemFailures?.[0]?.itemIdentifier };
}

const USAGE = `usage:
  npm run reingest -- --bucket <archive bucket> [--prefix errors/] [--delete]
      Firehose's processing-failed records back into the archive
  npm run redrive -- --bucket <on-failure bucket> --key <failed batch object> [--handler speed|kappa-processor]
      a failed batch's records through the handler again (with the function's environment set)
docs/deploy.md explains both (what Firehose keeps, the fences a redrive meets).`;

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: {
      bucket: { type: 'string' },
      key: { type: 'string' },
      prefix: { type: 'string' },
      handler: { type: 'string', default: 'speed' },
      delete: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (!values.bucket) throw new Error(`--bucket is required\n${USAGE}`);
  const store = s3ObjectStore(makeS3Client(readEndpoints(process.env)));
  if (command === 'reingest') {
    const summary = await reingestFirehoseErrors(store, {
      bucket: values.bucket,
      prefix: values.prefix,
      deleteSources: values.delete,
    });
    console.log(JSON.stringify(summary, null, 2));
    if (summary.poison.length > 0) process.exitCode = 2;
  } else if (command === 'redrive') {
    if (!values.key) throw new Error('--key is required (the failed batch object)');
    if (values.handler !== 'speed' && values.handler !== 'kappa-processor')
      throw new Error(`--handler must be speed or kappa-processor (given ${values.handler})`);
    // Imported only now: the handler reads its environment at import, as in Lambda.
    const mod = (await import(`../lambdas/handlers/${values.handler}`)) as { handler: KinesisHandler };
    const result = await redriveFailedBatch(store, values.bucket, values.key, mod.handler);
    console.log(JSON.stringify(result, null, 2));
    if (result.failedFrom !== undefined) process.exitCode = 2;
  } else {
    throw new Error(USAGE);
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    console.error((error as Error).message);
    process.exitCode = 1;
  });
}
