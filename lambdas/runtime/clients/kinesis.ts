import { KinesisClient } from '@aws-sdk/client-kinesis';
import { overrides, type AwsEndpoints } from './endpoints';
import { signWithOneSigner } from './one-signer';
import { withFastConfig } from './fast-config';

export function makeKinesisClient(e: AwsEndpoints): KinesisClient {
  const client = new KinesisClient(overrides(e.kinesis, e));
  signWithOneSigner(client);
  return withFastConfig(client);
}
