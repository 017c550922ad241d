import { describe, expect, it } from 'vitest';
import { validateViews } from '../../lambdas/core/view';
import { runBatch } from '../../lambdas/services/batch-layer';
import { CannedEngine, MemoryBatch, MemoryControl, MemorySpeedRows } from './fakes';

const views = validateViews([
  { name: 'a', eventType: 't', key: ['k'], granularity: '1m', measures: { n: { kind: 'count' } } },
  { name: 'b', eventType: 't', key: ['k'], granularity: '1h', measures: { n: { kind: 'count' } } },
]);

function setup(watermark: number | null = 125_500) {
  const deps = {
    views,
    engine: new CannedEngine({ a: [{ k0: 'x', bucket: 60_000, m0: 3 }], b: [{ k0: 'x', bucket: 0, m0: 3 }] }),
    watermark: { archivedBeforeMs: async () => watermark },
    batch: new MemoryBatch(),
    control: new MemoryControl(),
    speed: new MemorySpeedRows(),
    clock: { now: () => 200_000 },
    arrivalBucketMs: 1000,
  };
  return deps;
}

describe('runBatch', () => {
  it('skips while nothing is archived', async () => {
    const deps = setup(null);
    expect((await runBatch(deps)).status).toBe('skipped');
    expect(deps.control.pointer).toBeNull();
  });

  it('writes every view before it publishes, with the cutoff aligned down to the arrival bucket', async () => {
    const deps = setup();
    const result = await runBatch(deps);
    expect(result).toMatchObject({ status: 'published', version: 1, cutoffMs: 125_000, cells: 2 });
    expect([...deps.batch.log, ...deps.control.log]).toEqual(['write v1 a', 'write v1 b', 'publish v1']);
  });

  it('never moves the cutoff back', async () => {
    const deps = setup(125_500);
    await runBatch(deps);
    deps.watermark = { archivedBeforeMs: async () => 90_000 };
    expect((await runBatch(deps)).cutoffMs).toBe(125_000);
  });

  it('leaves the previous version served when the engine or a write fails', async () => {
    const deps = setup();
    await runBatch(deps);
    const before = deps.control.pointer;
    deps.engine.fail = true;
    await expect(runBatch(deps)).rejects.toThrow('engine down');
    deps.engine.fail = false;
    deps.batch.failWrites = true;
    await expect(runBatch(deps)).rejects.toThrow('write failed');
    expect(deps.control.pointer).toEqual(before);
  });

  it('deletes its own version when another run published first', async () => {
    const deps = setup();
    const publish = deps.control.publish.bind(deps.control);
    deps.control.publish = async (next) => publish(next, -1); // someone else moved the pointer
    const result = await runBatch(deps);
    expect(result.status).toBe('skipped');
    expect(deps.batch.log).toContain('delete v1');
  });

  it('cleans up one version late: the version before the previous one, and speed rows the previous cutoff covers', async () => {
    const deps = setup(10_500);
    await runBatch(deps); // v1, cutoff 10 000
    deps.watermark = { archivedBeforeMs: async () => 20_500 };
    await runBatch(deps); // v2, cutoff 20 000
    expect(deps.speed.deletedBefore).toEqual([10_000]);
    expect(deps.batch.log).not.toContain('delete v1');
    deps.watermark = { archivedBeforeMs: async () => 30_500 };
    await runBatch(deps); // v3
    expect(deps.batch.log).toContain('delete v1');
    expect(deps.speed.deletedBefore).toEqual([10_000, 20_000]);
  });
});
