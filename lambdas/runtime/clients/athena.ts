import { AthenaClient } from '@aws-sdk/client-athena';
import { overrides, type AwsEndpoints } from './endpoints';

export function makeAthenaClient(e: AwsEndpoints): AthenaClient {
  return new AthenaClient(overrides(e.athena, e));
}
