import { describe, expect, it } from 'vitest';
import { selectionOf } from '../../lambdas/core/batch-lineage';
import type { SpeedRowAddress } from '../../lambdas/core/fencing';
import type { RowState } from '../../lambdas/core/measures';
import type { BatchResultRow } from '../../lambdas/core/batch-result-row';
import { validateViews } from '../../lambdas/core/view';
import {
  abandonBatch,
  planBatch,
  publishBatch,
  readByPointer,
  runBatch,
  writeBatchRows,
  type BatchLayerDeps,
} from '../../lambdas/services/batch-layer';
import { cleanUp, type CleanupCursor, type CleanupProgress } from '../../lambdas/services/batch-cleanup';
import {
  CannedQueryEngine,
  FixedWatermark,
  InMemoryBatchViewStore,
  InMemoryControlStore,
  InMemorySpeedRowStore,
  ManualClock,
  type CallLog,
} from './in-memory-stores';

const views = validateViews([
  { name: 'a', eventType: 't', key: ['k'], granularity: '1m', measures: { n: { kind: 'count' } } },
  { name: 'b', eventType: 't', key: ['k'], granularity: '1h', measures: { n: { kind: 'count' } } },
]);
const [viewA, viewB] = views;
const ARRIVAL_BUCKET_MS = 1000;
const NOW = Date.UTC(2026, 0, 1);
const canned: Record<string, BatchResultRow[]> = {
  a: [
    { k0: 'x', bucket: 60_000, m0: 3 },
    { k0: 'y', bucket: 120_000, m0: '2' },
  ],
  b: [{ k0: 'x', bucket: 0, m0: 5 }],
};
const count = (n: number): RowState => ({ n: { kind: 'count', n } });

function setup(watermark: number | null = 125_500) {
  const log: CallLog = [];
  const engine = new CannedQueryEngine({ ...canned }, 'duckdb', log);
  const batch = new InMemoryBatchViewStore(log);
  const control = new InMemoryControlStore(log);
  const speed = new InMemorySpeedRowStore(views, log);
  const wm = new FixedWatermark(watermark);
  const clock = new ManualClock(NOW);
  const deps: BatchLayerDeps = {
    views,
    engine,
    watermark: wm,
    batch,
    control,
    speed,
    clock,
    arrivalBucketMs: ARRIVAL_BUCKET_MS,
  };
  return { log, engine, batch, control, speed, wm, clock, deps };
}

describe('runBatch: cutoff and publish', () => {
  it('skips, publishing nothing and querying nothing, while the archive has no watermark', async () => {
    const { deps, control, engine, log } = setup(null);
    const result = await runBatch(deps);
    expect(result).toMatchObject({ status: 'skipped', version: null, cutoffMs: null, cells: 0 });
    expect(result.reason).toMatch(/no watermark/);
    expect(control.pointer).toBeNull();
    expect(engine.sql).toEqual([]);
    expect(log).toEqual([]);
  });

  it('publishes a version whose cutoff is the watermark aligned down to the arrival bucket', async () => {
    const { deps, control, batch, engine } = setup(125_500);
    const result = await runBatch(deps);
    expect(result).toMatchObject({
      status: 'published',
      version: 1,
      cutoffMs: 125_000,
      cutoff: '1970-01-01T00:02:05.000Z',
      cells: 3,
      speedRowsDeleted: 0,
      reconciliation: null,
    });
    expect(control.pointer).toEqual({
      version: 1,
      cutoffMs: 125_000,
      publishedAt: new Date(NOW).toISOString(),
      // Both views start their lineage at this run: every later state builds on segment 1.
      lineage: {
        views: {
          a: { base: 1, definition: expect.stringMatching(/^[0-9a-f]{16}$/) },
          b: { base: 1, definition: expect.stringMatching(/^[0-9a-f]{16}$/) },
        },
        skip: [],
      },
      previous: null,
    });
    expect(engine.sources).toEqual([{ cutoffMs: 125_000 }]);
    expect(engine.sql.every((sql) => sql.includes('arrived before 1970-01-01T00:02:05.000Z'))).toBe(true);
    expect(await batch.query(1, viewA, ['y'], 0, 1e9)).toEqual([{ bucketMs: 120_000, state: count(2) }]);
    expect(await batch.query(1, viewB, ['x'], 0, 1e9)).toEqual([{ bucketMs: 0, state: count(5) }]);
  });

  it('never moves the cutoff behind the previous one', async () => {
    const { deps, control, wm } = setup(125_500);
    await runBatch(deps);
    wm.value = 90_000; // a watermark that went back (another archiver checkpoint, a clock skew)
    const result = await runBatch(deps);
    expect(result).toMatchObject({ status: 'published', version: 2, cutoffMs: 125_000 });
    expect(control.pointer).toMatchObject({
      version: 2,
      cutoffMs: 125_000,
      previous: { version: 1, cutoffMs: 125_000 },
    });
  });

  it('writes every view’s cells before it publishes the version', async () => {
    const { deps, log } = setup();
    await runBatch(deps);
    // Then the speed rows its cutoff covers go (ADR 028).
    expect(log).toEqual(['run a', 'cells v1 a', 'run b', 'cells v1 b', 'publish v1', 'speed delete <125000']);
  });

  it('publishes an empty version when the archive holds no events yet', async () => {
    const { deps, engine, batch, control } = setup();
    engine.sourceSql = null;
    const result = await runBatch(deps);
    expect(result).toMatchObject({ status: 'published', version: 1, cells: 0 });
    expect(engine.sql).toEqual([]);
    expect(batch.versions()).toEqual([]);
    expect(control.pointer?.cutoffMs).toBe(125_000);
  });
});

describe('runBatch: accepted means served', () => {
  it('skips and reports a cell whose key the table cannot hold (an archive from before the door checked), and still publishes', async () => {
    const { deps, batch, control } = setup();
    const long = 'x'.repeat(3000);
    const engine = new CannedQueryEngine(
      {
        a: [
          { k0: long, bucket: 60_000, m0: 1 },
          { k0: 'x', bucket: 60_000, m0: 3 },
        ],
        b: [],
      },
      'duckdb',
      [],
    );
    const result = await runBatch({ ...deps, engine });
    expect(result.status).toBe('published');
    expect(result.skippedCells?.count).toBe(1);
    expect(result.skippedCells?.examples[0]).toMatchObject({ view: 'a' });
    expect(result.skippedCells?.examples[0].problem).toMatch(/3004 bytes long as stored.*limit is 1024/);
    expect(control.pointer?.version).toBe(result.version);
    expect(await batch.query(result.version!, viewA, ['x'], 0, 120_000)).toHaveLength(1);
  });
});

describe('runBatch: the compaction before a run', () => {
  it('publishes over the raw archive when the compaction fails, and reports why', async () => {
    const { deps, control } = setup();
    const compactor = {
      calls: 0,
      compact(): Promise<never> {
        this.calls++;
        return Promise.reject(new Error('Out of Memory Error: could not allocate block of size 256 KiB'));
      },
    };
    const result = await runBatch({ ...deps, compactor });
    expect(compactor.calls).toBe(1);
    expect(result).toMatchObject({
      status: 'published',
      version: 1,
      compaction: { status: 'failed', reason: expect.stringMatching(/Out of Memory/) },
    });
    expect(control.pointer?.version).toBe(1);
  });
});

describe('runBatch: failures leave the previous version served', () => {
  it('keeps the pointer when the engine fails, and throws', async () => {
    const { deps, control, engine, batch, wm, log } = setup(10_500);
    await runBatch(deps);
    const before = control.pointer;
    wm.value = 20_500;
    engine.failure = new Error('Athena query q-1 FAILED: HIVE_CURSOR_ERROR');
    await expect(runBatch(deps)).rejects.toThrow('HIVE_CURSOR_ERROR');
    expect(control.pointer).toEqual(before);
    expect(log.filter((l) => l.startsWith('publish'))).toEqual(['publish v1']);
    expect(await batch.query(1, viewA, ['x'], 0, 1e9)).toEqual([{ bucketMs: 60_000, state: count(3) }]);
  });

  it('keeps the pointer when writing a view’s cells fails after another view was written, and throws', async () => {
    const { deps, control, batch, wm, speed, log } = setup(10_500);
    await runBatch(deps);
    const before = control.pointer;
    const deletedBefore = [...speed.deletedBefore];
    wm.value = 20_500;
    batch.failWritesWhere((version, view) => version === 2 && view === 'b');
    await expect(runBatch(deps)).rejects.toThrow('batch table write of b failed');
    expect(control.pointer).toEqual(before);
    // The plan queries the buckets new arrivals touch in every view; then each view's recomputation and its cells.
    expect(log.slice(-6)).toEqual(['run a', 'run b', 'run a', 'cells v2 a', 'run b', 'cells v2 b failed']);
    expect(speed.deletedBefore).toEqual(deletedBefore); // only what version 1's publish covered
    expect(batch.deletedVersions).toEqual([]);
    // What is served is still version 1.
    expect(await batch.query(control.pointer?.version ?? -1, viewB, ['x'], 0, 1e9)).toEqual([
      { bucketMs: 0, state: count(5) },
    ]);
  });

  it('deletes its own version and reports skipped when another run published first', async () => {
    const { deps, control, batch, speed } = setup();
    const rival = { version: 7, cutoffMs: 124_000, publishedAt: '2026-01-01T00:00:00.000Z', previous: null };
    control.rivalPublishesFirst(rival);
    const result = await runBatch(deps);
    expect(result.status).toBe('skipped');
    expect(result.reason).toMatch(/another batch run published first/);
    expect(batch.deletedVersions).toEqual([1]);
    expect(batch.versions()).toEqual([]);
    expect(control.pointer).toEqual(rival);
    expect(speed.deletedBefore).toEqual([]);
  });
});

describe('a pointer write whose answer was lost (the SDK retried it)', () => {
  it('keeps the version it published instead of deleting it as a lost race', async () => {
    const { deps, control, batch, speed } = setup();
    await runBatch(deps);
    control.loseNextPublishAnswer();
    // A full run: its version holds every cell, which a deletion would take from the served answer.
    const result = await runBatch(deps, { full: true });
    expect(result.status).toBe('published');
    expect(result.cells).toBeGreaterThan(0);
    expect(control.pointer?.version).toBe(result.version);
    expect(batch.deletedVersions).toEqual([]);
    expect(batch.versions()).toContain(result.version);
    // It finishes as a publish does: the speed rows its cutoff covers go (after the first run's).
    expect(speed.deletedBefore).toEqual([125_000, 125_000]);
  });
});

describe('the cloud: Publish leaves its deletions to the Cleanup loop', () => {
  const address = (arrivalBucketMs: number): SpeedRowAddress => ({
    view: 'a',
    key: ['x'],
    bucketMs: 60_000,
    arrivalBucketMs,
  });

  /** Two full versions published and a third planned and written, as the state machine's steps leave them. */
  async function thirdRunWritten() {
    const fixture = setup(10_500);
    const { deps, batch, speed, wm } = fixture;
    await runBatch(deps, { full: true });
    wm.value = 20_500;
    await runBatch(deps, { full: true });
    for (const arrival of [11_000, 12_000, 13_000, 14_000, 15_000, 25_000, 35_000])
      speed.seed(address(arrival), count(1));
    wm.value = 30_500;
    const planned = await planBatch(deps, { full: true });
    if ('skipped' in planned) throw new Error('expected a plan');
    let cells = 0;
    for (const { view } of planned.queries)
      cells += (await writeBatchRows(batch, planned.plan.version, view, canned[view.name])).cells;
    return { ...fixture, plan: planned.plan, written: { cells, unstorableCount: 0, unstorable: [] } };
  }

  it('deletes page by page over as many invocations as the budget needs, and a cursor run again deletes nothing more', async () => {
    const { deps, batch, speed, clock, control, plan, written } = await thirdRunWritten();
    // WHEN Publish runs as the cloud step does
    const published = await publishBatch(deps, plan, written, undefined, { deferCleanup: true });
    // THEN it flipped the pointer and deleted nothing, listing what is left
    expect(control.pointer?.version).toBe(3);
    expect(published.cleanup).toEqual({
      done: false,
      cursor: {
        tasks: [
          { kind: 'segments', segments: { before: 2 } },
          { kind: 'speedRows', arrivedBeforeMs: 30_000 },
        ],
        index: 0,
        page: null,
      },
      cellsDeleted: 0,
      speedRowsDeleted: 0,
    });
    expect(batch.versions()).toEqual([1, 2, 3]);
    expect(speed.all()).toHaveLength(7);

    // WHEN the Cleanup step runs, one item a Scan page and a minute a page, with a 2-minute budget
    batch.deletePageSize = 1;
    speed.deletePageSize = 1;
    const paging = {
      clock,
      batch: {
        deleteSegmentsPage: (...args: Parameters<typeof batch.deleteSegmentsPage>) => {
          clock.advance(60_000);
          return batch.deleteSegmentsPage(...args);
        },
      },
      speed: {
        deleteArrivedBeforePage: (...args: Parameters<typeof speed.deleteArrivedBeforePage>) => {
          clock.advance(60_000);
          return speed.deleteArrivedBeforePage(...args);
        },
      },
    };
    let progress = published.cleanup!;
    const calls: CleanupProgress[] = [];
    while (!progress.done) {
      progress = await cleanUp(JSON.parse(JSON.stringify(progress.cursor)) as CleanupCursor, paging, 120_000);
      calls.push(progress);
    }
    // THEN each invocation handed its cursor on, and together they deleted v1's 3 cells and the
    // 6 speed rows v3's own cutoff covers (ADR 028), nothing else
    expect(calls.length).toBe(5); // 9 pages (3 cells, 6 rows), 2 a call
    expect(calls.slice(0, -1).every((c) => !c.done)).toBe(true);
    expect(calls.reduce((n, c) => n + c.cellsDeleted, 0)).toBe(3);
    expect(calls.reduce((n, c) => n + c.speedRowsDeleted, 0)).toBe(6);
    expect(batch.versions()).toEqual([2, 3]);
    expect(speed.all().map((r) => r.address.arrivalBucketMs)).toEqual([35_000]);
    expect(await batch.query(3, viewB, ['x'], 0, 1e9)).toEqual([{ bucketMs: 0, state: count(5) }]);

    // AND a retried step (the first cursor again) deletes nothing more
    const again = await cleanUp(published.cleanup!.cursor, deps);
    expect(again).toMatchObject({ done: true, cellsDeleted: 0, speedRowsDeleted: 0 });
  });

  it('a Publish run again after its flip (its first invocation failed in the cleanup) lists the cleanup anew from the pointer', async () => {
    const { deps, batch, speed, plan, written } = await thirdRunWritten();
    await publishBatch(deps, plan, written, undefined, { deferCleanup: true });
    // The step's answer was lost; Step Functions runs it again with the same input.
    const again = await publishBatch(deps, plan, written, undefined, { deferCleanup: true });
    expect(again.status).toBe('published');
    expect(again.cleanup?.cursor.tasks).toEqual([
      { kind: 'segments', segments: { before: 2 } },
      { kind: 'speedRows', arrivedBeforeMs: 30_000 },
    ]);
    expect(await cleanUp(again.cleanup!.cursor, deps)).toMatchObject({
      done: true,
      cellsDeleted: 3,
      speedRowsDeleted: 6,
    });
    expect(batch.versions()).toEqual([2, 3]);
    expect(speed.all().map((r) => r.address.arrivalBucketMs)).toEqual([35_000]);
  });

  it('a run that lost the race lists its own segment for the loop, and deletes nothing itself', async () => {
    const { deps, batch, plan, written } = await thirdRunWritten();
    // Another full run planned on the same pointer publishes first.
    const other = await planBatch(deps, { full: true });
    if ('skipped' in other) throw new Error('expected a plan');
    for (const { view } of other.queries)
      await writeBatchRows(batch, other.plan.version, view, canned[view.name]);
    expect((await publishBatch(deps, other.plan, written)).status).toBe('published');
    const lost = await publishBatch(deps, plan, written, undefined, { deferCleanup: true });
    expect(lost.status).toBe('skipped');
    expect(lost.cleanup?.cursor.tasks).toEqual([{ kind: 'segments', segments: { version: plan.version } }]);
    expect(batch.versions()).toContain(plan.version);
    await cleanUp(lost.cleanup!.cursor, deps);
    expect(batch.versions()).not.toContain(plan.version);
  });

  it('the first publish deletes only the speed rows its cutoff covers', async () => {
    const { deps } = setup();
    const planned = await planBatch(deps, {});
    if ('skipped' in planned) throw new Error('expected a plan');
    const result = await publishBatch(
      deps,
      planned.plan,
      { cells: 0, unstorableCount: 0, unstorable: [] },
      undefined,
      {
        deferCleanup: true,
      },
    );
    expect(result.cleanup).toMatchObject({
      done: false,
      cursor: { tasks: [{ kind: 'speedRows', arrivedBeforeMs: 125_000 }] },
    });
  });
});

describe('the cloud steps: a retried Publish (Step Functions retries Lambda service errors)', () => {
  it('keeps the version it already published when the same plan is published again', async () => {
    const { deps, control, batch } = setup();
    const planned = await planBatch(deps, {});
    if ('skipped' in planned) throw new Error('expected a plan');
    let written = {
      cells: 0,
      unstorableCount: 0,
      unstorable: [] as { view: string; key: string; problem: string }[],
    };
    for (const { view } of planned.queries) {
      const result = await writeBatchRows(batch, planned.plan.version, view, canned[view.name]);
      written = { ...written, cells: written.cells + result.cells };
    }
    const first = await publishBatch(deps, planned.plan, written);
    expect(first.status).toBe('published');
    // The first answer was lost: the step runs again with the same input.
    const again = await publishBatch(deps, planned.plan, written);
    expect(again.status).toBe('published');
    expect(again.version).toBe(planned.plan.version);
    expect(batch.deletedVersions).toEqual([]);
    expect(control.pointer?.version).toBe(planned.plan.version);
    expect(await batch.query(planned.plan.version, viewB, ['x'], 0, 1e9)).toEqual([
      { bucketMs: 0, state: count(5) },
    ]);
    // And an Abandon after it (the catch of a failed retry) leaves the served version too.
    expect(await abandonBatch(deps, planned.plan.version)).toBe(0);
    expect(batch.versions()).toEqual([planned.plan.version]);
  });
});

describe('overlapping runs in the cloud (a run outlasting the schedule starts beside the next)', () => {
  /** Plans a run on the current pointer and writes its cells, as the state machine's steps do. */
  async function planAndWrite(deps: BatchLayerDeps, batch: InMemoryBatchViewStore) {
    const planned = await planBatch(deps, {});
    if ('skipped' in planned) throw new Error(`expected a plan: ${JSON.stringify(planned.skipped)}`);
    let cells = 0;
    for (const { view } of planned.queries)
      cells += (await writeBatchRows(batch, planned.plan.version, view, canned[view.name])).cells;
    return { plan: planned.plan, written: { cells, unstorableCount: 0, unstorable: [] } };
  }

  it('a Publish retried after a later run published on top keeps its version, which that lineage reads', async () => {
    const { deps, control, batch, wm } = setup();
    await runBatch(deps);
    wm.value = wm.value! + 10_000;
    const a = await planAndWrite(deps, batch);
    expect((await publishBatch(deps, a.plan, a.written)).status).toBe('published');
    // A's Publish fails in its housekeeping after the pointer write; before its retry, run B
    // plans on A's version and publishes an incremental version that carries A's cells forward.
    wm.value = wm.value! + 10_000;
    const b = await planAndWrite(deps, batch);
    expect(b.plan.expectedVersion).toBe(a.plan.version);
    expect((await publishBatch(deps, b.plan, b.written)).status).toBe('published');
    const lineage = control.pointer!.lineage!;
    for (const view of views)
      expect(selectionOf(lineage, view.name)!.base).toBeLessThanOrEqual(a.plan.version);

    const retried = await publishBatch(deps, a.plan, a.written);
    expect(retried.status).toBe('published');
    expect(retried.version).toBe(a.plan.version);
    expect(batch.deletedVersions).not.toContain(a.plan.version);
    expect(batch.versions()).toContain(a.plan.version);
    expect(control.pointer!.version).toBe(b.plan.version);
    // Nor does an Abandon of A (the catch of a retry that failed again) delete it.
    expect(await abandonBatch(deps, a.plan.version)).toBe(0);
    expect(batch.versions()).toContain(a.plan.version);
  });

  it('a run that lost the race to publish still deletes its own segment, which no lineage reads', async () => {
    const { deps, control, batch, wm } = setup();
    await runBatch(deps);
    wm.value = wm.value! + 10_000;
    const c = await planAndWrite(deps, batch);
    const d = await planAndWrite(deps, batch);
    expect(c.plan.expectedVersion).toBe(d.plan.expectedVersion);
    expect((await publishBatch(deps, d.plan, d.written)).status).toBe('published');
    expect(readByPointer(control.pointer, c.plan.version)).toBe(false);
    const lost = await publishBatch(deps, c.plan, c.written);
    expect(lost.status).toBe('skipped');
    expect(batch.deletedVersions).toContain(c.plan.version);
    expect(control.pointer!.version).toBe(d.plan.version);
  });
});

describe('readByPointer', () => {
  const lineage = (base: number, skip: [number, number][]) => ({
    views: { a: { base, definition: 'x' } },
    skip,
  });
  it('reads the served version, the previous one, and the segments the lineages carry, not the skipped ones', () => {
    const pointer = {
      version: 7,
      cutoffMs: 0,
      publishedAt: '',
      lineage: lineage(3, [[5, 6]]),
      previous: { version: 4, cutoffMs: 0, lineage: lineage(3, []) },
    };
    expect([1, 2, 3, 4, 5, 6, 7, 8].filter((v) => readByPointer(pointer, v))).toEqual([3, 4, 6, 7]);
    expect(readByPointer(null, 1)).toBe(false);
    // A pointer written before lineages: its version and the previous one only.
    expect(
      [1, 2, 3].filter((v) =>
        readByPointer(
          { ...pointer, version: 2, lineage: undefined, previous: { version: 1, cutoffMs: 0 } },
          v,
        ),
      ),
    ).toEqual([1, 2]);
  });
});

describe('runBatch: segments one version late, speed rows at once', () => {
  const address = (arrivalBucketMs: number): SpeedRowAddress => ({
    view: 'a',
    key: ['x'],
    bucketMs: 60_000,
    arrivalBucketMs,
  });

  it('deletes the version before the previous one, and the speed rows its own cutoff covers (full runs)', async () => {
    const { deps, batch, speed, wm, log } = setup(10_500);
    for (const arrival of [5_000, 15_000, 25_000, 35_000]) speed.seed(address(arrival), count(1));

    expect(await runBatch(deps, { full: true })).toMatchObject({
      version: 1,
      cutoffMs: 10_000,
      speedRowsDeleted: 1,
    });
    // The first version's cutoff covers a row already: queries read rows before the pointer (ADR 028).
    expect(speed.deletedBefore).toEqual([10_000]);

    wm.value = 20_500;
    expect(await runBatch(deps, { full: true })).toMatchObject({
      version: 2,
      cutoffMs: 20_000,
      speedRowsDeleted: 1,
    });
    expect(batch.deletedVersions).toEqual([]); // v1 stays for queries that read the old pointer
    expect(speed.deletedBefore).toEqual([10_000, 20_000]); // the new cutoff
    expect(speed.all().map((r) => r.address.arrivalBucketMs)).toEqual([25_000, 35_000]);

    wm.value = 30_500;
    expect(await runBatch(deps, { full: true })).toMatchObject({
      version: 3,
      cutoffMs: 30_000,
      speedRowsDeleted: 1,
    });
    expect(batch.deletedVersions).toEqual([1]);
    expect(batch.versions()).toEqual([2, 3]);
    expect(speed.deletedBefore).toEqual([10_000, 20_000, 30_000]);
    expect(speed.all().map((r) => r.address.arrivalBucketMs)).toEqual([35_000]);
    // Cleanup happens only after the publish.
    const publish = log.indexOf('publish v3');
    expect(publish).toBeGreaterThan(-1);
    expect(log.indexOf('delete v1')).toBeGreaterThan(publish);
    expect(log.indexOf('speed delete <30000')).toBeGreaterThan(publish);
  });

  it('reconciles batch against speed over the arrival window between the two cutoffs', async () => {
    const { deps, engine, speed, wm } = setup(10_500);
    await runBatch(deps);
    speed.seed(address(12_000), count(2));
    speed.seed(address(19_000), count(1)); // together the 3 the batch finds for a/x
    speed.seed({ view: 'b', key: ['x'], bucketMs: 0, arrivalBucketMs: 15_000 }, count(5));
    speed.seed({ view: 'a', key: ['y'], bucketMs: 120_000, arrivalBucketMs: 21_000 }, count(9)); // after the window
    wm.value = 20_500;
    const result = await runBatch(deps);
    expect(engine.sources.at(-1)).toEqual({ cutoffMs: 20_000, arrivedFromMs: 10_000 });
    expect(result.reconciliation).toEqual({
      from: '1970-01-01T00:00:10.000Z',
      to: '1970-01-01T00:00:20.000Z',
      cellsCompared: 3,
      mismatchCount: 1, // a/y: the batch says 2, the speed layer holds none of it in the window
      mismatches: [{ view: 'a', key: ['y'], bucketMs: 120_000, measure: 'n', batch: 2, speed: 0 }],
    });
  });

  it('does not compare the views new or changed since the previous version (their speed rows predate them)', async () => {
    const { deps, speed, wm } = setup(10_500);
    await runBatch(deps);
    speed.seed(address(12_000), count(2));
    speed.seed(address(19_000), count(1));
    // Written under b's old definition (hourly): against the new daily cells it would mismatch.
    speed.seed({ view: 'b', key: ['x'], bucketMs: 0, arrivalBucketMs: 15_000 }, count(1));
    wm.value = 20_500;
    const changed = validateViews([
      { name: 'a', eventType: 't', key: ['k'], granularity: '1m', measures: { n: { kind: 'count' } } },
      { name: 'b', eventType: 't', key: ['k'], granularity: '1d', measures: { n: { kind: 'count' } } },
    ]);
    const result = await runBatch({ ...deps, views: changed });
    expect(result.fullViews).toEqual(['b']);
    expect(result.reconciliation).toMatchObject({
      cellsCompared: 2,
      mismatchCount: 1, // a/y only, as above
      mismatches: [{ view: 'a', key: ['y'], bucketMs: 120_000, measure: 'n' }],
      viewsNotCompared: ['b'],
    });
    // The next run compares b again.
    wm.value = 30_500;
    expect((await runBatch({ ...deps, views: changed })).reconciliation?.viewsNotCompared).toBeUndefined();
  });

  it('reports a failed reconciliation without undoing the publish', async () => {
    const { deps, engine, control, wm } = setup(10_500);
    await runBatch(deps);
    const run = engine.run.bind(engine);
    engine.run = async (sql) => {
      if (sql.includes('and at or after')) throw new Error('reconcile query failed');
      return run(sql);
    };
    wm.value = 20_500;
    const result = await runBatch(deps);
    expect(result.status).toBe('published');
    expect(result.reconciliation).toMatchObject({ error: 'reconcile query failed', mismatchCount: 0 });
    expect(control.pointer?.version).toBe(2);
  });
});

describe('runBatch: incremental runs (ADR 007)', () => {
  it('recomputes only the buckets new arrivals touch, carries the rest forward, and keeps the previous state for rollback', async () => {
    const { deps, engine, batch, control, wm } = setup(10_500);
    expect(await runBatch(deps)).toMatchObject({ mode: 'full', version: 1, cells: 3 });
    // New arrivals touch bucket 60_000 of view a only (the canned answer to its touched-buckets query).
    engine.rows.a = [{ bucket: 60_000, k0: 'x', m0: 4 }];
    engine.rows.b = [];
    wm.value = 20_500;
    const result = await runBatch(deps);
    expect(result).toMatchObject({
      status: 'published',
      mode: 'incremental',
      fullViews: [],
      version: 2,
      cells: 1,
    });
    const recompute = engine.sql.filter((sql) => sql.includes('bucket range(s)'));
    expect(recompute).toHaveLength(1); // view b: no touched bucket, no query
    expect(recompute[0]).toMatch(/JOIN \(VALUES \(60000, 120000\)\) AS wanted/);
    // The whole archive, the arrival window, then the objects of the touched buckets (view a only).
    expect(engine.sources.slice(-4, -1)).toEqual([
      { cutoffMs: 20_000 },
      { cutoffMs: 20_000, arrivedFromMs: 10_000 },
      { cutoffMs: 20_000 },
    ]);
    const pointer = control.pointer!;
    expect(pointer.lineage?.views.a.base).toBe(1);
    const read = (version: number, lineage = pointer.lineage) =>
      batch.query(version, viewA, ['x'], 0, 1e9, selectionOf(lineage, 'a'));
    expect(await read(2)).toEqual([{ bucketMs: 60_000, state: count(4) }]);
    expect(await batch.query(2, viewA, ['y'], 0, 1e9, selectionOf(pointer.lineage, 'a'))).toEqual([
      { bucketMs: 120_000, state: count(2) }, // carried forward from segment 1, not rewritten
    ]);
    expect(batch.cellCount(2)).toBe(1);
    // The previous version still reads as it was published.
    expect(await read(1, pointer.previous!.lineage)).toEqual([{ bucketMs: 60_000, state: count(3) }]);
  });

  it('recomputes in full only the view whose definition changed', async () => {
    const { deps, wm } = setup(10_500);
    await runBatch(deps);
    const changed = validateViews([
      { name: 'a', eventType: 't', key: ['k'], granularity: '1m', measures: { n: { kind: 'count' } } },
      { name: 'b', eventType: 't', key: ['k'], granularity: '1d', measures: { n: { kind: 'count' } } },
    ]);
    wm.value = 20_500;
    const result = await runBatch({ ...deps, views: changed });
    expect(result).toMatchObject({ mode: 'incremental', fullViews: ['b'] });
    wm.value = 30_500;
    expect(await runBatch({ ...deps, views: changed })).toMatchObject({ mode: 'incremental', fullViews: [] });
  });

  it('skips the numbers of runs that never published, so their leftover cells are never read', async () => {
    const { deps, control, batch, wm } = setup(10_500);
    await runBatch(deps);
    await batch.writeCells(await control.nextVersion(), viewA, [
      { key: ['x'], bucketMs: 60_000, state: count(99) },
    ]); // a crashed run (v2)
    wm.value = 20_500;
    await runBatch(deps); // v3
    expect(control.pointer?.lineage?.skip).toEqual([[2, 3]]);
    expect(await batch.query(3, viewA, ['x'], 0, 1e9, selectionOf(control.pointer?.lineage, 'a'))).toEqual([
      { bucketMs: 60_000, state: count(3) },
    ]);
  });
});
