import { AthenaClient } from '@aws-sdk/client-athena';
import { overrides, type AwsEndpoints } from './endpoints';
import { withFastConfig } from './fast-config';

export function makeAthenaClient(e: AwsEndpoints): AthenaClient {
  return withFastConfig(new AthenaClient(overrides(e.athena, e)));
}
