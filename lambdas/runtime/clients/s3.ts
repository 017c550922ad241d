import { S3Client } from '@aws-sdk/client-s3';
import { overrides, S3RVER_CREDENTIALS, type AwsEndpoints } from './endpoints';
import { withFastConfig } from './fast-config';

export function makeS3Client(e: AwsEndpoints): S3Client {
  if (!e.s3) return withFastConfig(new S3Client({ region: e.region }));
  const client = new S3Client({
    ...overrides(e.s3, e),
    // Emulators serve one host name: bucket in the path, not in a virtual host.
    forcePathStyle: true,
    // With the default (WHEN_SUPPORTED) the SDK streams uploads as aws-chunked with a trailing
    // checksum, and s3rver stores the chunk framing as the object's content: silent corruption.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // s3rver checks signatures against its one fixed key pair, whatever the environment holds.
    ...(e.s3Flavor === 's3rver' ? { credentials: S3RVER_CREDENTIALS } : {}),
  });
  return withFastConfig(client);
}
