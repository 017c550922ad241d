import { describe, expect, it } from 'vitest';
import { measureWindowedWrites } from '../../bench/windowed-writes';

// The lean cost figure (bench/run.ts) prices the speed layer's writes with this simulation, so it
// must count what the windowed service would do on a stream of several shards over one table.
describe('windowed writes across shards (the lean cost figure)', () => {
  it('counts every event once, whatever the shards, and bills no conflict on one shard', async () => {
    // GIVEN 3,000 events at 40 a second per shard: 75 s of one shard, a full 60 s window and part of the next
    const one = await measureWindowedWrites(3_000, 40, 60, 40, 1);
    // THEN the rows count every event once, two windows closed, nothing read or refused
    expect(one.countedEvents).toBe(3_000);
    expect(one.windows).toBe(2);
    expect(one.conflicts).toBe(0);
    expect(one.rowReads).toBe(0);
    expect(one.rowWriteUnits).toBeGreaterThanOrEqual(one.rowWrites);
  });

  it("bills a shard's write on a row another shard wrote since, then reads and writes it again", async () => {
    // WHEN the same stream rate is spread over 2 shards, each with its own instance and window state
    const two = await measureWindowedWrites(3_000, 20, 60, 20, 2);
    // THEN still every event once, each shard closing its own windows
    expect(two.countedEvents).toBe(3_000);
    expect(two.windows).toBe(4);
    // and the popular pages' rows, written by both shards when their windows close, conflict: each
    // failed write is billed, then the row is read and written on its new revision
    expect(two.conflicts).toBeGreaterThan(0);
    expect(two.rowReads).toBe(two.conflicts);
    expect(two.rowWriteUnits).toBeGreaterThanOrEqual(two.rowWrites + two.conflicts);
  });
});
