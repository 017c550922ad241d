import { build } from 'esbuild';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * Each deployed function's bundle carries the SDK clients it uses and no other (cold start and
 * package size): esbuild with the settings NodejsFunction uses, reading which packages went in.
 */
const root = path.resolve(__dirname, '..', '..');
const expected: Record<string, string[]> = {
  'archive-transform': [],
  batch: ['athena', 'cloudwatch', 'dynamodb', 's3', 'sfn'], // sfn: the starter starts the batch state machine
  ingest: ['kinesis'],
  'kappa-admin': ['dynamodb', 'sfn'],
  'kappa-processor': ['dynamodb'],
  query: ['dynamodb'],
  replay: ['cloudwatch', 'dynamodb', 's3'],
  speed: ['dynamodb'],
};

async function clientsIn(handler: string): Promise<string[]> {
  const result = await build({
    entryPoints: [path.join(root, 'lambdas', 'handlers', `${handler}.ts`)],
    bundle: true,
    platform: 'node',
    target: 'node22',
    write: false,
    metafile: true,
    logLevel: 'silent',
    // As HandlerFunction bundles: the DuckDB engine is never loaded in the cloud.
    external: ['@duckdb/node-api'],
  });
  const clients = new Set<string>();
  for (const input of Object.keys(result.metafile.inputs)) {
    const match = /node_modules\/@aws-sdk\/client-([a-z0-9-]+)\//.exec(input);
    if (match && match[1] !== 'sts' && match[1] !== 'sso') clients.add(match[1]);
  }
  return [...clients].sort();
}

describe('handler bundles', () => {
  it.each(Object.keys(expected))(
    '%s carries only its own SDK clients',
    async (handler) => {
      expect(await clientsIn(handler)).toEqual(expected[handler]);
    },
    60_000,
  );
});
