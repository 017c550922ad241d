import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, startCli } from './cli-process';

/**
 * `npm start -- --architecture kappa` killed with SIGKILL in the middle of a replay and started
 * again on the same data dir: the replay found running is resumed (every step is idempotent:
 * cells are fenced by chunk, the archive's rewritten objects are deduplicated by event id) and
 * the flipped version holds exactly what the version before it held.
 */
const dataDir = mkdtempSync(path.join(tmpdir(), 'streamfold-kappa-restart-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

async function startKappa(port: number, dir = dataDir, views?: string): Promise<ChildProcess> {
  // A long handoff delay: the replay stays in flight long enough to be killed in the middle.
  const flags = ['--architecture', 'kappa', '--no-generator', '--port', String(port), '--data-dir', dir];
  if (views) flags.push('--views', views);
  return startCli([...flags, '--archive-flush', '300ms', '--replay-handoff', '5s'], children, 90_000);
}

interface KappaStatus {
  views: Record<string, { active: { version: number } | null; previous: { version: number } | null }>;
  replay: { replayId: string; status: string; version: number; phase: string | null } | null;
}

async function status(port: number): Promise<KappaStatus> {
  const res = await fetch(`http://127.0.0.1:${port}/admin/status`);
  return ((await res.json()) as { kappa: KappaStatus }).kappa;
}

async function buckets(port: number): Promise<{
  version: number;
  definitionChanged?: unknown;
  buckets: { start: string; measures: { readings: number } }[];
}> {
  const res = await fetch(
    `http://127.0.0.1:${port}/views/sensor_readings?deviceId=dev-1&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z`,
  );
  expect(res.status).toBe(200);
  return (await res.json()) as never;
}

const total = (answer: { buckets: { measures: { readings: number } }[] }) =>
  answer.buckets.reduce((n, b) => n + b.measures.readings, 0);

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Starts a replay and SIGKILLs the runtime once it runs; the replay's id. */
async function killMidReplay(port: number, cli: ChildProcess): Promise<string> {
  const started = await fetch(`http://127.0.0.1:${port}/admin/replay`, { method: 'POST', body: '{}' });
  expect(started.status).toBe(202);
  const { replayId } = (await started.json()) as { replayId: string };
  await waitFor(async () => (await status(port)).replay?.status === 'running', 'the replay to run');
  cli.kill('SIGKILL');
  await new Promise((r) => cli.once('exit', r));
  return replayId;
}

function readings(from: number, n: number) {
  return Array.from({ length: n }, (_, i) => ({
    id: `r-${from + i}`,
    type: 'sensor.reading',
    time: `2026-01-01T${String(10 + ((from + i) % 5)).padStart(2, '0')}:${String((from + i) % 60).padStart(2, '0')}:00Z`,
    deviceId: 'dev-1',
    temperature: 20 + ((from + i) % 7),
  }));
}

describe.skipIf(Boolean(process.env.AWS_ENDPOINT_URL))(
  'Kappa replay after kill -9 (embedded emulators)',
  () => {
    it('resumes the replay and ends with the same values', async () => {
      const port = await freePort();
      let cli = await startKappa(port);
      await waitFor(
        async () => (await status(port)).views.sensor_readings?.active?.version === 1,
        'version 1',
      );
      const acknowledged = 1500;
      for (let i = 0; i < acknowledged; i += 500) {
        const res = await fetch(`http://127.0.0.1:${port}/events`, {
          method: 'POST',
          body: JSON.stringify({ events: readings(i, 500) }),
        });
        expect(res.status).toBe(202);
      }
      await waitFor(async () => total(await buckets(port)) === acknowledged, 'the processor to catch up');
      const before = await buckets(port);
      expect(before.version).toBe(1);

      const replayId = await killMidReplay(port, cli);

      cli = await startKappa(port);
      // The same replay, resumed (not a new one), finishes and flips.
      await waitFor(
        async () => (await status(port)).replay?.status === 'finished',
        'the resumed replay',
        90_000,
      );
      const after = await status(port);
      expect(after.replay?.replayId).toBe(replayId);
      expect(after.views.sensor_readings.active?.version).toBe(2);
      expect(after.views.sensor_readings.previous?.version).toBe(1);
      const rebuilt = await buckets(port);
      expect(rebuilt.version).toBe(2);
      expect(total(rebuilt)).toBe(acknowledged);
      expect(rebuilt.buckets).toEqual(before.buckets);
      cli.kill('SIGTERM');
      await new Promise((r) => cli.once('exit', r));
    }, 240_000);

    it('replays a view whose definition changed after resuming the replay a kill -9 left running', async () => {
      // Found by a black-box probe (2026-12-04): the resumed replay builds the definitions it
      // started with, and nothing then replayed the view the new module changed, so it stayed
      // pending (served with `definitionChanged`) until someone asked for a replay.
      const dir = mkdtempSync(path.join(tmpdir(), 'streamfold-kappa-restart-changed-'));
      try {
        const port = await freePort();
        let cli = await startKappa(port, dir);
        await waitFor(
          async () => (await status(port)).views.sensor_readings?.active?.version === 1,
          'version 1',
        );
        const acknowledged = 500;
        const res = await fetch(`http://127.0.0.1:${port}/events`, {
          method: 'POST',
          body: JSON.stringify({ events: readings(0, acknowledged) }),
        });
        expect(res.status).toBe(202);
        await waitFor(async () => total(await buckets(port)) === acknowledged, 'the processor to catch up');
        const replayId = await killMidReplay(port, cli);

        cli = await startKappa(port, dir, 'test/fixtures/views-sensor-15m.ts');
        // The killed replay is resumed and finishes (version 2, the old definition); then a replay
        // of the changed view builds version 3 from the archive.
        await waitFor(
          async () => {
            const s = await status(port);
            return s.replay?.replayId !== replayId && s.replay?.status === 'finished';
          },
          'a replay after the resumed one',
          120_000,
        );
        const after = await status(port);
        expect(after.views.sensor_readings.active?.version).toBe(3);
        const rebuilt = await buckets(port);
        expect(rebuilt.version).toBe(3);
        expect(rebuilt.definitionChanged).toBeUndefined();
        expect(total(rebuilt)).toBe(acknowledged);
        // 15-minute buckets now: the readings fall in 10:00 to 14:59, at minutes 0 to 59.
        expect(rebuilt.buckets.every((b) => /:(00|15|30|45):00/.test(b.start))).toBe(true);
        cli.kill('SIGTERM');
        await new Promise((r) => cli.once('exit', r));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }, 300_000);
  },
);
