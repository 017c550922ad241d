import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HandlerHost } from '../../local/handler-host';
import { memoryBreakdown } from '../../local/pipeline-status';

const host = new HandlerHost('retaining', path.join(__dirname, '..', 'fixtures', 'retaining-handler.ts'), {});
afterAll(() => host.stop());

describe("a handler worker's memory", () => {
  it("reports the worker's own heap, not the main thread's, so the status can say which thread holds memory", async () => {
    await host.start();
    const before = await host.memoryUsage();
    const mainBefore = process.memoryUsage().heapUsed;
    // About 500,000 strings of ~55 bytes kept by the worker: 30 MB or more of its heap.
    await host.invoke({ strings: 500_000 });
    const after = await host.memoryUsage();
    expect(after.heapUsed - before.heapUsed).toBeGreaterThan(30 * 1024 * 1024);
    // The main thread allocated none of it.
    expect(process.memoryUsage().heapUsed - mainBefore).toBeLessThan(10 * 1024 * 1024);
    const breakdown = await memoryBreakdown([host]);
    expect(breakdown.workers.retaining.heapUsed).toBeGreaterThan(30);
    expect(breakdown.native).toBeGreaterThan(0);
    expect(breakdown.rss).toBeGreaterThan(breakdown.main.heapTotal + breakdown.workers.retaining.heapTotal);
  }, 60_000);

  it('leaves out a worker that has exited instead of waiting for it', async () => {
    const gone = new HandlerHost('gone', path.join(__dirname, '..', 'fixtures', 'retaining-handler.ts'), {});
    await gone.start();
    await gone.stop();
    await expect(gone.memoryUsage()).rejects.toThrow(/gone's worker has exited/);
    const breakdown = await memoryBreakdown([host, gone]);
    expect(Object.keys(breakdown.workers)).toEqual(['retaining']);
  }, 60_000);

  it("does not hold the status up while a worker is busy: it gives the busy worker's last answer", async () => {
    const known = await host.memoryUsage();
    const busy = host.invoke({ strings: 0, busyMs: 3000 });
    await new Promise((r) => setTimeout(r, 200)); // the worker is in its busy step
    const started = Date.now();
    const breakdown = await memoryBreakdown([host]);
    expect(Date.now() - started).toBeLessThan(1500);
    expect(breakdown.workers.retaining.heapUsed).toBe(Math.round(known.heapUsed / 104_857.6) / 10);
    await busy;
  }, 60_000);

  it("writes a heap snapshot of the worker's own heap, where the strings it keeps are found", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'streamfold-heaps-test-'));
    // A worker of its own: a snapshot of the 500,000 strings kept above would take minutes.
    const small = new HandlerHost(
      'small',
      path.join(__dirname, '..', 'fixtures', 'retaining-handler.ts'),
      {},
    );
    try {
      await small.invoke({ strings: 1_000 });
      const file = path.join(dir, 'small.heapsnapshot');
      await small.writeHeapSnapshot(file);
      const snapshot = JSON.parse(readFileSync(file, 'utf8')) as { strings: string[] };
      // The fixture keeps strings `kept-<n>-` + 40 x (a concatenation: the snapshot names its
      // parts); the main thread (this test) made none of them.
      const keptString = /^kept-\d+-$/;
      expect(snapshot.strings.filter((s) => keptString.test(s)).length).toBeGreaterThanOrEqual(1_000);
    } finally {
      await small.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
