import { SQSClient } from '@aws-sdk/client-sqs';
import { overrides, type AwsEndpoints } from './endpoints';
import { withFastConfig } from './fast-config';

export function makeSqsClient(e: AwsEndpoints): SQSClient {
  return withFastConfig(new SQSClient(overrides(e.sqs, e)));
}
