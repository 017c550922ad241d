import { KinesisClient } from '@aws-sdk/client-kinesis';
import { overrides, type AwsEndpoints } from './endpoints';

export function makeKinesisClient(e: AwsEndpoints): KinesisClient {
  return new KinesisClient(overrides(e.kinesis, e));
}
