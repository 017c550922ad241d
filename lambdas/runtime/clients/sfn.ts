import { SFNClient } from '@aws-sdk/client-sfn';
import { overrides, type AwsEndpoints } from './endpoints';

export function makeSfnClient(e: AwsEndpoints): SFNClient {
  return new SFNClient(overrides(e.sfn, e));
}
