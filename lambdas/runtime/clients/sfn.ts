import { SFNClient } from '@aws-sdk/client-sfn';
import { overrides, type AwsEndpoints } from './endpoints';
import { withFastConfig } from './fast-config';

export function makeSfnClient(e: AwsEndpoints): SFNClient {
  return withFastConfig(new SFNClient(overrides(e.sfn, e)));
}
