import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateViews } from '../../lambdas/core/view';
import { startEmulators, type Emulators } from '../../local/emulators';
import { DEFAULT_OPTIONS, type LocalPipeline } from '../../local/pipeline';
import { waitForArchivedBefore } from './wait';
import { testPipeline } from './test-pipeline';

/**
 * The pipeline against ONE AWS-compatible endpoint, as with LocalStack (AWS_ENDPOINT_URL): a
 * small edge router sends each request to the emulator of its service (by X-Amz-Target), and the
 * archive is not on this disk, so the batch layer must copy it from S3 before DuckDB reads it.
 */
let emulators: Emulators;
let edge: http.Server;
let pipeline: LocalPipeline;
let stopped = false;
const dataDir = mkdtempSync(path.join(tmpdir(), 'streamfold-edge-'));
const mirror = path.join(dataDir, 'archive-mirror');

/**
 * A copy left by an earlier process, holding 5 taps on "ok" that the endpoint's archive does not
 * have (as after LocalStack restarted without persistence): none may be served.
 */
function leaveStaleCopy(): void {
  const folder = path.join(mirror, 'dt=2026-02-01', 'hour=10');
  mkdirSync(folder, { recursive: true });
  const lines = Array.from({ length: 5 }, (_, i) =>
    JSON.stringify({
      id: `ghost${i}`,
      type: 'tap',
      time: '2026-02-01T10:00:00Z',
      button: 'ok',
      _tm: Date.parse('2026-02-01T10:00:00Z'),
      _am: Date.now() - 60_000,
      _shard: 'shardId-000000000000',
      _seq: String(1000 + i),
      _pk: 'ghost',
    }),
  );
  writeFileSync(path.join(folder, 'shardId-000000000000-1000-1004.ndjson'), lines.join('\n') + '\n');
}

beforeAll(async () => {
  emulators = await startEmulators();
  const target = (req: http.IncomingMessage): URL => {
    const amzTarget = String(req.headers['x-amz-target'] ?? '');
    if (amzTarget.startsWith('Kinesis_')) return new URL(emulators.endpoints.kinesis!);
    if (amzTarget.startsWith('DynamoDB_')) return new URL(emulators.endpoints.dynamodb!);
    return new URL(emulators.endpoints.s3!);
  };
  edge = http.createServer((req, res) => {
    const to = target(req);
    // Hop-by-hop headers stay on this hop; a forwarded Expect: 100-continue would stall the body.
    const { expect: _expect, connection: _connection, ...headers } = req.headers;
    const upstream = http.request(
      { host: to.hostname, port: to.port, method: req.method, path: req.url, headers, agent: false },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => edge.listen(0, '127.0.0.1', resolve));
  leaveStaleCopy();
  pipeline = testPipeline(
    validateViews([
      {
        name: 'taps',
        eventType: 'tap',
        key: ['button'],
        granularity: '1h',
        measures: { taps: { kind: 'count' } },
      },
    ]),
    {
      endpoint: `http://127.0.0.1:${(edge.address() as AddressInfo).port}`,
      endpointS3Flavor: 's3rver', // the router's S3 is s3rver; LocalStack takes any credentials
      resourcePrefix: 'edge-test',
      dataDir,
    },
  );
  await pipeline.start();
}, 60_000);

afterAll(async () => {
  if (!stopped) await pipeline?.stop();
  rmSync(dataDir, { recursive: true, force: true });
  edge?.closeAllConnections();
  await new Promise((r) => edge?.close(r));
  await emulators?.stop();
});

describe('one AWS-compatible endpoint (the LocalStack mode)', () => {
  it('ingests, serves the speed layer, and runs the batch layer over the archive copied from S3', async () => {
    const events = Array.from({ length: 30 }, (_, i) => ({
      id: `t${i}`,
      type: 'tap',
      time: '2026-02-01T10:00:00Z',
      button: i % 2 ? 'ok' : 'cancel',
    }));
    const res = await fetch(`${pipeline.url}/events`, { method: 'POST', body: JSON.stringify({ events }) });
    expect(res.status).toBe(202);
    await pipeline.idle();
    const taps = async () => {
      const body = (await (
        await fetch(`${pipeline.url}/views/taps?button=ok&from=2026-02-01T00:00:00Z&to=2026-02-02T00:00:00Z`)
      ).json()) as { cutoff: string | null; buckets: { measures: { taps: number } }[] };
      return { cutoff: body.cutoff, taps: body.buckets.reduce((n, b) => n + b.measures.taps, 0) };
    };
    expect(await taps()).toEqual({ cutoff: null, taps: 15 });
    const covered = await waitForArchivedBefore(pipeline.url!, Date.now(), DEFAULT_OPTIONS.arrivalBucketMs);
    await pipeline.idle();
    const run = (await (await fetch(`${pipeline.url}/admin/batch`, { method: 'POST' })).json()) as {
      status: string;
      cells: number;
      cutoff: string;
      cutoffMs: number;
    };
    expect(run).toMatchObject({ status: 'published', cells: 2 });
    expect(run.cutoffMs).toBeGreaterThanOrEqual(covered);
    expect(await taps()).toEqual({ cutoff: run.cutoff, taps: 15 });
  }, 120_000); // a batch run over the archive copied from S3, on a loaded machine

  it("keeps its copy in the data dir and removes it at stop, leaving none in the system's temporary folder", async () => {
    expect(existsSync(mirror)).toBe(true);
    stopped = true;
    await pipeline.stop();
    expect(existsSync(mirror)).toBe(false);
  });
});
