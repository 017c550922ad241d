import { readdirSync } from 'node:fs';
import * as path from 'node:path';
import { Tokenization } from 'aws-cdk-lib';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import type { Construct } from 'constructs';
import type { ViewDefinition } from '../../lambdas/core/view';
import { ingestEnvironment } from '../../lambdas/runtime/function-environment';
import { grantStream } from '../constructs/grants';
import { API_FUNCTION_TIMEOUT } from '../constructs/api-timeouts';
import { HandlerFunction } from '../constructs/handler-function';
import { checkRange } from '../constructs/validate';

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

/**
 * The largest `ingestMaxBodyBytes` allowed: 3,000,000 bytes. A synchronous Lambda invocation
 * carries at most 6 MB of request payload (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html;
 * Lambda's own error names 6291556 bytes), and API Gateway's proxy event carries the body as a JSON
 * string, where every quote and backslash of the JSON body is escaped again: a body can double in
 * size (a string of `\"` pairs), beside the headers (at most 10 KB in API Gateway) and the request
 * context. 2 x 3,000,000 leaves about 290 KB for those; 3 MiB would not (test/handlers/ingest-body-limit.test.ts).
 * A body above what one invocation carries never reaches the function: API Gateway answers 5xx, not 413.
 */
export const MAX_INGEST_BODY_BYTES = 3_000_000;

/** The largest body POST /events accepts, checked against what one synchronous Lambda invocation carries. */
export function checkIngestMaxBodyBytes(maxBodyBytes: number): number {
  checkRange('ingestMaxBodyBytes', maxBodyBytes, 1, MAX_INGEST_BODY_BYTES, {
    why: 'a synchronous Lambda invocation carries at most 6 MB, and API Gateway escapes the body inside its JSON event (quotes and backslashes double), so larger bodies would get a 5xx from API Gateway instead of the 413',
  });
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
    timeout: API_FUNCTION_TIMEOUT,
    environment: ingestEnvironment({
      views: viewsJson,
      streamName: stream.streamName,
      maxBodyBytes: Tokenization.stringifyNumber(maxBodyBytes),
    }),
  });
  grantStream(stream, ingest.function, 'kinesis:PutRecords');
  return ingest;
}

/** The dashboard page's own files, the ones the local runtime serves (read at synth: none is forgotten). */
const DASHBOARD_DIR = path.resolve(__dirname, '..', '..', 'local', 'dashboard', 'public');

/**
 * The dashboard function (opt-in, context `dashboard=true`): serves the page at GET / and its files
 * at GET /dashboard/{file}, created in `scope` as `Dashboard`. It reads only its own bundle: no grants.
 */
export function addDashboardFunction(scope: Construct): HandlerFunction {
  return new HandlerFunction(scope, 'Dashboard', {
    handler: 'dashboard',
    timeout: API_FUNCTION_TIMEOUT,
    environment: {},
    memorySize: 256,
    bundleFiles: [
      ...readdirSync(DASHBOARD_DIR).map((name) => ({
        from: `local/dashboard/public/${name}`,
        to: `dashboard/${name}`,
      })),
      { from: 'node_modules/uplot/dist/uPlot.esm.js', to: 'dashboard/uPlot.esm.js' },
      { from: 'node_modules/uplot/dist/uPlot.min.css', to: 'dashboard/uPlot.min.css' },
    ],
  });
}
