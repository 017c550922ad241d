import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, startCli } from './cli-process';
import { waitFor, waitForArchivedBefore } from './wait';

/**
 * `npm start` killed with SIGKILL mid-stream and started again on the same data dir: nothing
 * acknowledged is lost and nothing is counted twice (emulators persist to disk, the poller and
 * the archiver resume from their checkpoints, redelivered records are fenced).
 */
// The CLI's default --arrival-bucket.
const ARRIVAL_BUCKET_MS = 1000;
const dataDir = mkdtempSync(path.join(tmpdir(), 'streamfold-restart-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

async function startLambda(port: number): Promise<ChildProcess> {
  const flags = ['--no-generator', '--port', String(port), '--data-dir', dataDir];
  return startCli([...flags, '--archive-flush', '300ms', '--batch-every', '1h'], children);
}

async function total(port: number): Promise<number> {
  const res = await fetch(
    `http://127.0.0.1:${port}/views/sensor_readings?deviceId=dev-1&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z`,
  );
  const body = (await res.json()) as { buckets: { measures: { readings: number } }[] };
  return body.buckets.reduce((n, b) => n + b.measures.readings, 0);
}

function readings(from: number, n: number) {
  return Array.from({ length: n }, (_, i) => ({
    id: `r-${from + i}`,
    type: 'sensor.reading',
    time: `2026-01-01T10:${String((from + i) % 60).padStart(2, '0')}:00Z`,
    deviceId: 'dev-1',
    temperature: 20 + ((from + i) % 7),
  }));
}

// The embedded emulators' persistence is what this checks: it has no meaning against LocalStack.
describe.skipIf(Boolean(process.env.AWS_ENDPOINT_URL))('restart after kill -9 (embedded emulators)', () => {
  it('loses nothing acknowledged and counts nothing twice', async () => {
    const port = await freePort();
    let cli = await startLambda(port);
    let acknowledged = 0;
    for (let i = 0; i < 6; i++) {
      const res = await fetch(`http://127.0.0.1:${port}/events`, {
        method: 'POST',
        body: JSON.stringify({ events: readings(i * 50, 50) }),
      });
      expect(res.status).toBe(202);
      acknowledged += 50;
    }
    // Killed while the speed layer and the archiver are still working through the stream.
    cli.kill('SIGKILL');
    await new Promise((r) => cli.once('exit', r));
    cli = await startLambda(port);
    // The producer retries its last request after the crash: same ids, so no double count.
    expect(
      (
        await fetch(`http://127.0.0.1:${port}/events`, {
          method: 'POST',
          body: JSON.stringify({ events: readings(250, 50) }),
        })
      ).status,
    ).toBe(202);
    const lastAcknowledgedMs = Date.now();
    await waitFor(async () => (await total(port)) >= acknowledged, `${acknowledged} readings served`, 30_000);
    expect(await total(port)).toBe(acknowledged);
    // A batch run over the archive written across the crash (all of it): still exactly once.
    const api = `http://127.0.0.1:${port}`;
    const covered = await waitForArchivedBefore(api, lastAcknowledgedMs, ARRIVAL_BUCKET_MS);
    const run = (await (await fetch(`${api}/admin/batch`, { method: 'POST' })).json()) as {
      status: string;
      cutoffMs: number;
    };
    expect(run.status).toBe('published');
    expect(run.cutoffMs).toBeGreaterThanOrEqual(covered);
    expect(await total(port)).toBe(acknowledged);
    cli.kill('SIGTERM');
    await new Promise((r) => cli.once('exit', r));
  }, 120_000);
});
