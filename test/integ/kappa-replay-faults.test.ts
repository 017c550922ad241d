import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateViews } from '../../lambdas/core/view';
import { startEmulators, type Emulators } from '../../local/emulators';
import type { LocalPipeline } from '../../local/pipeline';
import { FaultProxy } from './faults/fault-proxy';
import { Random } from './faults/seeded-random';
import { expectedBuckets, type OracleEvent } from './oracle';
import { testPipeline } from './test-pipeline';

/**
 * A Kappa replay meets the faults the archive and the emulators give while it runs, and still
 * finishes with every event once. The full fault run's last replay ended `failed` (GET
 * /admin/status: `kappa.replay.status: "failed"`, the dashboard likewise) although the archiver
 * wrote the cut upload again a moment later: the local runner failed a replay on the first error
 * of any step, a failed archive flush included. The runtime talks to the emulators through the
 * fault suite's proxy, which cuts uploads or refuses every request (an emulator restart).
 */
const VIEWS = validateViews([
  {
    name: 'sensor_readings',
    eventType: 'sensor.reading',
    key: ['deviceId'],
    granularity: '5m',
    measures: { readings: { kind: 'count' }, total: { kind: 'sum', field: 'temperature' } },
  },
]);
const BASE = Date.UTC(2026, 0, 1, 10);
const RANGE = 'from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z';

let emulators: Emulators;
let proxy: FaultProxy;
let pipeline: LocalPipeline;
const accepted: OracleEvent[] = [];

beforeAll(async () => {
  emulators = await startEmulators();
  proxy = new FaultProxy(
    emulators.endpoints,
    { dynamoThrottle: 0, dynamoResponseLost: 0, s3PutCut: 1 },
    new Random(7),
  );
  proxy.enabled = false;
  const endpoint = await proxy.listen();
  pipeline = testPipeline(VIEWS, {
    architecture: 'kappa',
    endpoint,
    endpointS3Flavor: 's3rver',
    // The archiver's timer stays out of the way: the replay's runner flushes it (every 250 ms
    // while it waits for the archive), so a failed upload fails the runner's own flush.
    archiveFlushMs: 60_000,
    replayHandoffDelayMs: 1_500,
  });
  await pipeline.start();
  await waitFor(async () => (await kappa()).views.sensor_readings?.active?.version === 1, 'version 1');
}, 120_000);

afterAll(async () => {
  await pipeline?.stop();
  await proxy?.close();
  await emulators?.stop();
});

async function kappa(): Promise<{
  views: Record<string, { active: { version: number } | null }>;
  replay: { replayId: string; status: string; version: number; error?: string } | null;
}> {
  const res = await fetch(`${pipeline.url}/admin/status`);
  return ((await res.json()) as { kappa: never }).kappa;
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

let next = 0;
async function ingest(n: number): Promise<void> {
  const events = Array.from({ length: n }, () => {
    const i = next++;
    return {
      id: `r-${i}`,
      type: 'sensor.reading',
      time: new Date(BASE + ((i * 7_919) % 3_600_000)).toISOString(),
      deviceId: `dev-${i % 3}`,
      temperature: 20 + (i % 7),
    };
  });
  // Retried until acknowledged, as a producer would: the proxy may be refusing the stream too.
  for (;;) {
    const res = await fetch(`${pipeline.url}/events`, { method: 'POST', body: JSON.stringify({ events }) });
    if (res.status === 202) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  accepted.push(...events);
}

/** Starts a replay, runs `fault` while it waits for the archive, and waits for its end. */
async function replayThrough(
  fault: () => Promise<void>,
): Promise<{ status: string; version: number; error?: string }> {
  await ingest(300);
  await pipeline.idle(60_000);
  const started = await fetch(`${pipeline.url}/admin/replay`, { method: 'POST', body: '{}' });
  expect(started.status).toBe(202);
  const { replayId } = (await started.json()) as { replayId: string };
  await fault();
  await waitFor(async () => (await kappa()).replay?.status !== 'running', `the end of ${replayId}`);
  const { replay } = await kappa();
  expect(replay?.replayId).toBe(replayId);
  return replay!;
}

async function expectEveryEventOnce(version: number): Promise<void> {
  await pipeline.idle(60_000);
  for (const device of ['dev-0', 'dev-1', 'dev-2']) {
    const res = await fetch(`${pipeline.url}/views/sensor_readings?deviceId=${device}&${RANGE}`);
    expect(res.status).toBe(200);
    const answer = (await res.json()) as {
      version: number;
      buckets: { start: string; measures: { readings: number } }[];
    };
    expect(answer.version).toBe(version);
    const oracle = expectedBuckets(accepted, {
      type: 'sensor.reading',
      keyField: 'deviceId',
      key: device,
      granularity: '5m',
      numberField: 'temperature',
    });
    expect(Object.fromEntries(answer.buckets.map((b) => [b.start, b.measures.readings]))).toEqual(
      Object.fromEntries([...oracle].map(([start, b]) => [start, b.count])),
    );
  }
}

describe.skipIf(Boolean(process.env.AWS_ENDPOINT_URL))(
  'Kappa replay under faults (embedded emulators)',
  () => {
    it('finishes when archive uploads are cut while it waits for the archive (the flush fails; the archiver writes them again)', async () => {
      const replay = await replayThrough(async () => {
        proxy.enabled = true; // every archive upload is cut mid-body, the SDK's retries included
        await ingest(200); // new records the archiver must write before the handoff is covered
        await new Promise((r) => setTimeout(r, 3_000));
        proxy.enabled = false;
      });
      expect(replay.status, replay.error ?? '').toBe('finished');
      await expectEveryEventOnce(replay.version);
    }, 180_000);

    it('finishes when the emulators are unreachable for longer than the SDK retries, mid-replay', async () => {
      const replay = await replayThrough(async () => {
        // Every request is refused for 4 s (the proxy is restarting its upstream), as when the
        // emulators restart: the replay's steps fail past the SDK's retries and are tried again.
        // Before, the runner gave up at the first failed step, and its `fail` write failed too:
        // the replay stayed `running` for good (a new one refused with 409) until a restart.
        await proxy.restartUpstream(async () => {
          await new Promise((r) => setTimeout(r, 4_000));
          return emulators.endpoints;
        });
      });
      expect(replay.status, replay.error ?? '').toBe('finished');
      await expectEveryEventOnce(replay.version);
    }, 180_000);
  },
);
