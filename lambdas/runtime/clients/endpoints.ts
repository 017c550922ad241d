import { NodeHttpHandler } from '@smithy/node-http-handler';
import { ENV } from '../env';

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
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

/** What every client gets when its endpoint is overridden; nothing but the region in the cloud. */
export function overrides(endpoint: string | undefined, e: AwsEndpoints) {
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
