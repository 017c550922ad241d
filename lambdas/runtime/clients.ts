import { AthenaClient } from '@aws-sdk/client-athena';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { ENV } from './env';

/**
 * Where each AWS service is reached: every endpoint unset in the cloud (the SDK's own resolution);
 * the embedded emulators or LocalStack locally. Built by `readEndpoints` from a function's
 * environment, or by the local runtime from the emulators it started.
 */
export interface AwsEndpoints {
  readonly region: string;
  readonly kinesis?: string;
  readonly dynamodb?: string;
  readonly s3?: string;
  readonly athena?: string;
  readonly sqs?: string;
  readonly sfn?: string;
  /** `s3rver` needs its fixed credentials (S3RVER/S3RVER); `aws` is real S3 or anything that checks like it. */
  readonly s3Flavor: 'aws' | 's3rver';
  /**
   * True when the environment names credentials (keys, a profile, a web identity or container
   * provider): with an endpoint override they are used as they are (LocalStack may check them).
   * False or absent: an overridden client signs with dummy keys, which emulators accept.
   * @default false
   */
  readonly ambientCredentials?: boolean;
}

type Env = Readonly<Record<string, string | undefined>>;

// Any one of these lets the SDK's default chain find credentials without a network round trip to IMDS.
const CREDENTIAL_SOURCES = [
  'AWS_ACCESS_KEY_ID',
  'AWS_PROFILE',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
];

/**
 * Reads endpoint overrides from an environment (taken as a parameter: handlers pass
 * `process.env`, tests pass a literal). A per-service variable (AWS_ENDPOINT_URL_KINESIS, ...)
 * wins over AWS_ENDPOINT_URL, as in the SDKs' own service-specific endpoint configuration.
 */
export function readEndpoints(env: Env): AwsEndpoints {
  const pick = (name: string) => env[name] || env[ENV.endpoint] || undefined;
  const flavor = env[ENV.s3Flavor] || 'aws';
  if (flavor !== 'aws' && flavor !== 's3rver')
    throw new Error(
      `${ENV.s3Flavor} must be "aws" or "s3rver" (given ${JSON.stringify(flavor)}); unset it for real S3 or LocalStack`,
    );
  return {
    region: env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1',
    kinesis: pick(ENV.kinesisEndpoint),
    dynamodb: pick(ENV.dynamodbEndpoint),
    s3: pick(ENV.s3Endpoint),
    athena: pick(ENV.athenaEndpoint),
    sqs: pick(ENV.sqsEndpoint),
    sfn: pick(ENV.sfnEndpoint),
    s3Flavor: flavor,
    ambientCredentials: CREDENTIAL_SOURCES.some((name) => Boolean(env[name])),
  };
}

// Emulators accept any signature, but the SDK refuses to send an unsigned request.
const DUMMY_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };
const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

/** What every client gets when its endpoint is overridden; nothing but the region in the cloud. */
function overrides(endpoint: string | undefined, e: AwsEndpoints) {
  if (!endpoint) return { region: e.region };
  return {
    region: e.region,
    endpoint,
    // Kinesis's client defaults to HTTP/2, which kinesalite (and kinesis-local) reject: HTTP/1.1
    // for every overridden client keeps one transport to reason about. Short connect timeout: a
    // local emulator that does not answer within seconds is down, not slow.
    requestHandler: new NodeHttpHandler({ connectionTimeout: 3_000, requestTimeout: 60_000 }),
    // The SDK's default; a wrong port then fails in about a second instead of hanging on retries.
    maxAttempts: 3,
    ...(e.ambientCredentials ? {} : { credentials: DUMMY_CREDENTIALS }),
  };
}

export function makeKinesisClient(e: AwsEndpoints): KinesisClient {
  return new KinesisClient(overrides(e.kinesis, e));
}

export function makeDynamoDbClient(e: AwsEndpoints): DynamoDBClient {
  return new DynamoDBClient(overrides(e.dynamodb, e));
}

/** The document client every handler uses: undefined attributes are dropped rather than rejected. */
export function makeDynamoDocumentClient(e: AwsEndpoints): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(makeDynamoDbClient(e), {
    marshallOptions: { removeUndefinedValues: true },
  });
}

export function makeS3Client(e: AwsEndpoints): S3Client {
  if (!e.s3) return new S3Client({ region: e.region });
  return new S3Client({
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
}

export function makeAthenaClient(e: AwsEndpoints): AthenaClient {
  return new AthenaClient(overrides(e.athena, e));
}

export function makeSqsClient(e: AwsEndpoints): SQSClient {
  return new SQSClient(overrides(e.sqs, e));
}

/** CloudWatch is only read in the cloud (Firehose's measured delays): no emulator override. */
export function makeCloudWatchClient(e: AwsEndpoints): CloudWatchClient {
  return new CloudWatchClient({ region: e.region });
}

export function makeSfnClient(e: AwsEndpoints): SFNClient {
  return new SFNClient(overrides(e.sfn, e));
}
