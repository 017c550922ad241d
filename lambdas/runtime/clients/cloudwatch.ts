import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import type { AwsEndpoints } from './endpoints';
import { withFastConfig } from './fast-config';

/** CloudWatch is only read in the cloud (Firehose's measured delays): no emulator override. */
export function makeCloudWatchClient(e: AwsEndpoints): CloudWatchClient {
  return withFastConfig(new CloudWatchClient({ region: e.region }));
}
