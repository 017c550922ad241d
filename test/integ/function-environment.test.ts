import { afterAll, describe, expect, it } from 'vitest';
import { ENV } from '../../lambdas/runtime/env';
import { DEFAULT_OPTIONS, type LocalPipeline } from '../../local/pipeline';
import { synthKappa } from '../infra/kappa-fixture';
import { FIXTURE_VIEWS, synth } from '../infra/stack-fixture';
import { testPipeline } from './test-pipeline';

/**
 * Which variables each function gets is built once (lambdas/runtime/function-environment.ts) for
 * lib/ and local/: the local handler workers and the synthesized functions get the same names,
 * except what differs by design, listed here with its reason.
 */
const LOCAL_ONLY = new Set<string>([
  // Endpoints and credentials of the emulators.
  ENV.kinesisEndpoint,
  ENV.dynamodbEndpoint,
  ENV.s3Endpoint,
  ENV.s3Flavor,
  'AWS_REGION',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'PATH',
  // DuckDB in place of Athena (invariant 7: the only port with two adapters).
  ENV.duckdbArchiveDir,
  ENV.duckdbSyncFromS3,
  ENV.duckdbCompactedDir,
  ENV.duckdbCompactionPeriodMs,
  ENV.duckdbMemoryLimit,
  ENV.duckdbThreads,
]);
const CLOUD_ONLY = new Set<string>([
  'NODE_OPTIONS', // source maps of the bundle
  ENV.athenaWorkgroup,
  ENV.athenaDatabase,
  ENV.athenaTable,
  ENV.athenaMaxBytesScanned,
  // The cloud's compaction runs in the state machine's steps (ADR 011); locally the batch compacts in process (ENV.duckdbCompactedDir).
  ENV.athenaCompactedTable,
  ENV.athenaCompactionPeriodMs,
  // The archive watermark from the clock (Firehose) instead of the local archiver's checkpoint.
  ENV.archiveLagMs,
  ENV.firehoseDeliveryStream,
]);

/** Local handler worker -> [stack, construct ID prefix of its HandlerFunction]. */
const DEPLOYED: Record<string, ['lambda' | 'kappa', string]> = {
  ingest: ['lambda', 'Ingest'],
  query: ['lambda', 'Query'],
  speed: ['lambda', 'SpeedLayerHandler'],
  batch: ['lambda', 'BatchLayerHandler'],
  'kappa-processor': ['kappa', 'ProcessorHandler'],
  'kappa-query': ['kappa', 'Query'],
  replay: ['kappa', 'ReplayHandler'],
  'kappa-admin': ['kappa', 'KappaAdmin'],
};

function deployedKeys(template: ReturnType<ReturnType<typeof synth>['template']>, prefix: string): string[] {
  const functions = Object.entries(template.findResources('AWS::Lambda::Function')).filter(([id]) =>
    new RegExp(`^${prefix}Function[0-9A-F]{8}$`).test(id),
  );
  expect(functions, `one deployed function ${prefix}`).toHaveLength(1);
  const variables = (
    functions[0][1] as { Properties: { Environment: { Variables: Record<string, unknown> } } }
  ).Properties.Environment.Variables;
  return Object.keys(variables)
    .filter((k) => !CLOUD_ONLY.has(k))
    .sort();
}

let pipeline: LocalPipeline | undefined;
afterAll(async () => {
  await pipeline?.stop();
});

describe('each function gets the same variables locally and deployed', () => {
  it('matches every local handler worker with its synthesized function', { timeout: 180_000 }, async () => {
    // GIVEN both architectures running locally (in memory, no generator, no replay at start)
    pipeline = testPipeline(FIXTURE_VIEWS, {
      architecture: 'both',
      kappaAutoReplay: false,
      archiveFlushMs: DEFAULT_OPTIONS.archiveFlushMs,
      speedBatchingWindowMs: DEFAULT_OPTIONS.speedBatchingWindowMs,
    });
    await pipeline.start();
    // AND both stacks synthesized
    const templates = { lambda: synth().template(), kappa: synthKappa().template() };
    // WHEN each worker's environment is compared with its function's
    const local = Object.fromEntries(
      pipeline.hosts.map((h) => [
        h.name,
        Object.keys(h.env)
          .filter((k) => !LOCAL_ONLY.has(k))
          .sort(),
      ]),
    );
    // THEN every worker has a deployed twin with the very same variable names
    expect(Object.keys(local).sort()).toEqual(Object.keys(DEPLOYED).sort());
    for (const [name, [stack, prefix]] of Object.entries(DEPLOYED)) {
      expect(local[name], name).toEqual(deployedKeys(templates[stack], prefix));
    }
  });
});
