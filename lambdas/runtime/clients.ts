import { AthenaClient } from '@aws-sdk/client-athena';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { ENV } from './env';

/** Where each AWS service is reached: unset in the cloud; emulators or LocalStack locally. */
export interface AwsEndpoints {
  readonly region: string;
  readonly kinesis?: string;
  readonly dynamodb?: string;
  readonly s3?: string;
  readonly athena?: string;
  readonly sqs?: string;
  /** `s3rver` needs its fixed credentials; everything else takes the ambient ones. */
  readonly s3Flavor: 'aws' | 's3rver';
}

/** Reads endpoint overrides: per-service variables win over AWS_ENDPOINT_URL. */
export function readEndpoints(env: Readonly<Record<string, string | undefined>>): AwsEndpoints {
  const pick = (name: string) => env[name] || env[ENV.endpoint] || undefined;
  const flavor = env[ENV.s3Flavor] ?? 'aws';
  if (flavor !== 'aws' && flavor !== 's3rver')
    throw new Error(`${ENV.s3Flavor} must be aws or s3rver (given ${flavor})`);
  return {
    region: env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1',
    kinesis: pick(ENV.kinesisEndpoint),
    dynamodb: pick(ENV.dynamodbEndpoint),
    s3: pick(ENV.s3Endpoint),
    athena: pick(ENV.athenaEndpoint),
    sqs: pick(ENV.sqsEndpoint),
    s3Flavor: flavor,
  };
}

// Emulators accept any credentials, but the SDK refuses to sign without some.
const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

function overrides(endpoint: string | undefined, region: string) {
  if (!endpoint) return { region };
  // The SDK's default HTTP/2 for Kinesis is rejected by kinesalite: HTTP/1.1 for every override.
  return {
    region,
    endpoint,
    requestHandler: new NodeHttpHandler({ connectionTimeout: 5_000, requestTimeout: 60_000 }),
    credentials: LOCAL_CREDENTIALS,
    maxAttempts: 5,
  };
}

export function makeKinesisClient(e: AwsEndpoints): KinesisClient {
  return new KinesisClient(overrides(e.kinesis, e.region));
}

export function makeDynamoDbClient(e: AwsEndpoints): DynamoDBClient {
  return new DynamoDBClient(overrides(e.dynamodb, e.region));
}

export function makeDynamoDocumentClient(e: AwsEndpoints): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(makeDynamoDbClient(e), {
    marshallOptions: { removeUndefinedValues: true },
  });
}

export function makeS3Client(e: AwsEndpoints): S3Client {
  if (!e.s3) return new S3Client({ region: e.region });
  return new S3Client({
    ...overrides(e.s3, e.region),
    forcePathStyle: true,
    // s3rver stores aws-chunked uploads with their framing unless checksums are only sent when required.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...(e.s3Flavor === 's3rver' ? { credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } } : {}),
  });
}

export function makeAthenaClient(e: AwsEndpoints): AthenaClient {
  return new AthenaClient(overrides(e.athena, e.region));
}

export function makeSqsClient(e: AwsEndpoints): SQSClient {
  return new SQSClient(overrides(e.sqs, e.region));
}
