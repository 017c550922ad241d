import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { overrides, type AwsEndpoints } from './endpoints';
import { withFastConfig } from './fast-config';
import { signWithOneSigner } from './one-signer';

/**
 * @param cacheMiddleware resolve each command type's middleware once (makeDynamoDbItemClient); the
 *   document client refuses a client made with it.
 */
export function makeDynamoDbClient(e: AwsEndpoints, cacheMiddleware = false): DynamoDBClient {
  const client = new DynamoDBClient({ ...overrides(e.dynamodb, e), cacheMiddleware });
  signWithOneSigner(client);
  return withFastConfig(client);
}

/**
 * A plain client for the speed rows' reads and writes, one of each per row of every batch: it
 * resolves each command type's middleware once (`cacheMiddleware`), which saves about a third of
 * the SDK's CPU per request (bench/sdk-request-cpu.ts) and which the document client refuses.
 * Safe here because no command sent through it adds middleware of its own.
 */
export function makeDynamoDbItemClient(e: AwsEndpoints): DynamoDBClient {
  return makeDynamoDbClient(e, true);
}

/** The document client every handler uses: undefined attributes are dropped rather than rejected. */
export function makeDynamoDocumentClient(e: AwsEndpoints): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(makeDynamoDbClient(e), {
    marshallOptions: { removeUndefinedValues: true },
  });
}
