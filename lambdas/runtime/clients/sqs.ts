import { SQSClient } from '@aws-sdk/client-sqs';
import { overrides, type AwsEndpoints } from './endpoints';

export function makeSqsClient(e: AwsEndpoints): SQSClient {
  return new SQSClient(overrides(e.sqs, e));
}
