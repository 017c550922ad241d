import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { isConditionalCheckFailed } from '../lambdas/adapters/aws/dynamodb-errors';

const SETTINGS = { pk: 'settings', sk: 'local-runtime' };

/** A start refused for a reason the user fixes with a flag: printed without a stack trace. */
export class StartRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartRefusedError';
  }
}

/**
 * Settings that the stored data depends on, kept beside the data (in the control table) the first
 * time the runtime starts on it. Speed rows are kept per arrival bucket and cutoffs are aligned
 * to it, so a different `--arrival-bucket` on the same data would make every query fail: the
 * start is refused instead, naming the flag and the stored value.
 *
 * The dedupe scope is kept too, and a change is allowed but returned as a notice: each scope
 * knows only the ids it recorded (the shard id log, or the claims), so for one dedupe window
 * after the switch a producer's retry of an id first seen before it is counted again in the
 * speed part, until the next batch run's cutoff passes it (a black-box probe, 2026-12-04: 60
 * retries served as 120 until then). Data written before the scope was kept says nothing.
 */
export async function checkStoredSettings(
  client: DynamoDBDocumentClient,
  controlTable: string,
  arrivalBucketMs: number,
  where: string,
  dedupeScope?: string,
): Promise<{ notices: string[] }> {
  try {
    await client.send(
      new PutCommand({
        TableName: controlTable,
        Item: { ...SETTINGS, arrivalBucketMs, ...(dedupeScope === undefined ? {} : { dedupeScope }) },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
    return { notices: [] };
  } catch (error) {
    if (!isConditionalCheckFailed(error)) throw error;
  }
  const { Item } = await client.send(
    new GetCommand({ TableName: controlTable, Key: SETTINGS, ConsistentRead: true }),
  );
  const stored = Number(Item?.arrivalBucketMs);
  if (stored !== arrivalBucketMs) {
    throw new StartRefusedError(
      `--arrival-bucket is ${arrivalBucketMs / 1000}s but the data in ${where} was built with ${stored / 1000}s (speed rows and cutoffs are aligned to it). Start with --arrival-bucket ${stored / 1000}s, or use another --data-dir (or delete this one) to start over.`,
    );
  }
  const storedScope = typeof Item?.dedupeScope === 'string' ? Item.dedupeScope : undefined;
  if (dedupeScope === undefined || storedScope === dedupeScope) return { notices: [] };
  await client.send(
    new PutCommand({ TableName: controlTable, Item: { ...Item, ...SETTINGS, arrivalBucketMs, dedupeScope } }),
  );
  if (storedScope === undefined) return { notices: [] };
  // With the speed dedupe off there is no window and no scope to go back to: every retry counts
  // (a black-box check found the old notice promising both, 2026-12-05).
  if (dedupeScope === 'off')
    return {
      notices: [
        `the speed layer's dedupe is off (--no-speed-dedupe; it was ${storedScope}): from now on every producer retry is counted again in the speed part until a batch run's cutoff passes it (the batch layer still keeps one copy per id: GET /views is exact again for what a batch run covers; reconciliation reports the difference). Restart without --no-speed-dedupe (with --dedupe-scope ${storedScope}) to turn it back on.`,
      ],
    };
  const restore = storedScope === 'off' ? 'without --no-speed-dedupe' : `with --dedupe-scope ${storedScope}`;
  return {
    notices: [
      `the dedupe scope changed from ${storedScope} to ${dedupeScope}: the ${dedupeScope} scope does not know the ids the ${storedScope} scope recorded, so for the next dedupe window a producer's retry of an event sent before this start is counted again in the speed part, until the next batch run's cutoff passes it (GET /views is exact again then; reconciliation reports the difference). Restart ${restore} to avoid it.`,
    ],
  };
}
