import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import type { Construct } from 'constructs';
import type { ViewDefinition } from '../../lambdas/core/view';
import { ENV } from '../../lambdas/runtime/env';
import { HandlerFunction } from '../constructs/handler-function';

/** Lambda's environment is limited to 4 KB in all; the views must leave room for the rest. */
export const MAX_VIEWS_JSON_BYTES = 3000;

/** The views as the JSON every function receives, refused when they cannot fit in a Lambda environment. */
export function viewsToJson(views: readonly ViewDefinition[]): string {
  const viewsJson = JSON.stringify(views);
  if (Buffer.byteLength(viewsJson) > MAX_VIEWS_JSON_BYTES) {
    throw new Error(
      `the views serialize to ${Buffer.byteLength(viewsJson)} bytes; Lambda environments hold 4 KB in all, so at most ${MAX_VIEWS_JSON_BYTES} bytes of views fit. Shorten names or split the views over two deployments.`,
    );
  }
  return viewsJson;
}

/** The largest body POST /events accepts, checked against API Gateway's 10 MB payload limit. */
export function checkIngestMaxBodyBytes(maxBodyBytes: number): number {
  if (!Number.isInteger(maxBodyBytes) || maxBodyBytes < 1 || maxBodyBytes > 10_485_760) {
    throw new Error(
      `ingestMaxBodyBytes must be between 1 and 10485760, API Gateway's payload limit (given ${maxBodyBytes})`,
    );
  }
  return maxBodyBytes;
}

/**
 * The ingest function (POST /events -> PutRecords on the stream), the same in both architectures:
 * created in `scope` as `Ingest`, allowed kinesis:PutRecords on this stream only.
 */
export function addIngestFunction(
  scope: Construct,
  stream: kinesis.IStream,
  viewsJson: string,
  maxBodyBytes: number,
): HandlerFunction {
  const ingest = new HandlerFunction(scope, 'Ingest', {
    handler: 'ingest',
    environment: {
      [ENV.views]: viewsJson,
      [ENV.streamName]: stream.streamName,
      [ENV.maxBodyBytes]: String(maxBodyBytes),
    },
  });
  ingest.role.addToPolicy(
    new iam.PolicyStatement({ actions: ['kinesis:PutRecords'], resources: [stream.streamArn] }),
  );
  return ingest;
}
