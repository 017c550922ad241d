import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { overrides, type AwsEndpoints } from './endpoints';

export function makeDynamoDbClient(e: AwsEndpoints): DynamoDBClient {
  return new DynamoDBClient(overrides(e.dynamodb, e));
}

/** The document client every handler uses: undefined attributes are dropped rather than rejected. */
export function makeDynamoDocumentClient(e: AwsEndpoints): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(makeDynamoDbClient(e), {
    marshallOptions: { removeUndefinedValues: true },
  });
}
