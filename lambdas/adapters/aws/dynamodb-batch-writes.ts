import { BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/** One put or delete of a BatchWriteItem call. */
export type WriteRequest = NonNullable<
  NonNullable<ConstructorParameters<typeof BatchWriteCommand>[0]['RequestItems']>[string]
>[number];

/**
 * BatchWriteItem takes at most 25 put or delete requests, and returns in UnprocessedItems what
 * DynamoDB did not apply (throttling, an internal failure), to be sent again with exponential
 * backoff: https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchWriteItem.html
 */
const MAX_REQUESTS_PER_CALL = 25;
/** Attempts per call before giving up (the backoff then waits 5 s between attempts). */
const MAX_ATTEMPTS = 10;
/**
 * BatchWriteItem calls in flight at once. It bounds what one Lambda invocation holds open (8 of
 * the SDK's 50 sockets, 200 items) while keeping a table busy enough that thousands of deletes
 * take seconds rather than minutes.
 */
export const BATCH_WRITE_CONCURRENCY = 8;

export type Sleep = (ms: number) => Promise<void>;

export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Applies `requests` to `tableName` in BatchWriteItem calls of 25, at most
 * BATCH_WRITE_CONCURRENCY at once, each sending its unprocessed items again with exponential
 * backoff. Throws when a call still has unprocessed items after MAX_ATTEMPTS attempts.
 */
export async function writeInBatches(
  client: DynamoDBDocumentClient,
  tableName: string,
  requests: readonly WriteRequest[],
  sleep: Sleep = realSleep,
): Promise<void> {
  const chunks: WriteRequest[][] = [];
  for (let i = 0; i < requests.length; i += MAX_REQUESTS_PER_CALL)
    chunks.push(requests.slice(i, i + MAX_REQUESTS_PER_CALL));
  let next = 0;
  const worker = async () => {
    while (next < chunks.length) await writeChunk(client, tableName, chunks[next++], sleep);
  };
  await Promise.all(Array.from({ length: Math.min(BATCH_WRITE_CONCURRENCY, chunks.length) }, worker));
}

async function writeChunk(
  client: DynamoDBDocumentClient,
  tableName: string,
  chunk: WriteRequest[],
  sleep: Sleep,
): Promise<void> {
  let pending = chunk;
  for (let attempt = 0; pending.length > 0; attempt++) {
    if (attempt >= MAX_ATTEMPTS)
      throw new Error(
        `DynamoDB left ${pending.length} batch writes to ${tableName} unprocessed after ${MAX_ATTEMPTS} attempts: the table is throttled; raise its capacity or run again later`,
      );
    if (attempt > 0) await sleep(Math.min(5000, 50 * 2 ** attempt));
    const result = await client.send(new BatchWriteCommand({ RequestItems: { [tableName]: pending } }));
    pending = (result.UnprocessedItems?.[tableName] as WriteRequest[] | undefined) ?? [];
  }
}
