import { describe, expect, it } from 'vitest';
import type { BatchResultRow } from '../../lambdas/core/batch-result-row';
import { validateViews } from '../../lambdas/core/view';
import {
  abandonBatch,
  abandonTasks,
  addWrites,
  planBatch,
  publishBatch,
  runBatch,
  writeBatchRows,
  type BatchLayerDeps,
  type WriteResult,
} from '../../lambdas/services/batch-layer';
import { cleanUp, startCleanup } from '../../lambdas/services/batch-cleanup';
import {
  CannedQueryEngine,
  FixedWatermark,
  InMemoryBatchViewStore,
  InMemoryControlStore,
  InMemorySpeedRowStore,
  ManualClock,
  type CallLog,
} from './in-memory-stores';

/**
 * The cloud runs a batch as separate steps (plan, one writer per unloaded object, publish: ADR 010);
 * locally runBatch chains the same functions in one process. These tests run the steps the way the
 * state machine does (rows split across writers in any order) and hold them to runBatch.
 */
const views = validateViews([
  { name: 'a', eventType: 't', key: ['k'], granularity: '1m', measures: { n: { kind: 'count' } } },
  { name: 'b', eventType: 't', key: ['k'], granularity: '1h', measures: { n: { kind: 'count' } } },
]);
const rowsOf: Record<string, BatchResultRow[]> = {
  a: Array.from({ length: 60 }, (_, i) => ({ k0: `p${i % 7}`, bucket: 60_000 * (i + 1), m0: i + 1 })),
  b: [
    { k0: 'x', bucket: 0, m0: 5 },
    { k0: 'x'.repeat(2000), bucket: 0, m0: 1 }, // a key too long for the tables: left out, reported
  ],
};

function setup() {
  const log: CallLog = [];
  const deps: BatchLayerDeps = {
    views,
    engine: new CannedQueryEngine({ ...rowsOf }, 'duckdb', log),
    watermark: new FixedWatermark(125_500),
    batch: new InMemoryBatchViewStore(log),
    control: new InMemoryControlStore(log),
    speed: new InMemorySpeedRowStore(views, log),
    clock: new ManualClock(Date.UTC(2026, 0, 1)),
    arrivalBucketMs: 1000,
  };
  return deps;
}

/** Runs the steps as the state machine does: the rows of each query in `slices` writers, last slice first. */
async function runAsSteps(deps: BatchLayerDeps, slices: number) {
  const planned = await planBatch(deps);
  if ('skipped' in planned) throw new Error('expected a plan');
  const written: WriteResult[] = [];
  for (const { view, sql } of planned.queries) {
    const rows = await deps.engine.run(sql);
    const size = Math.ceil(rows.length / slices);
    const parts = Array.from({ length: slices }, (_, i) => rows.slice(i * size, (i + 1) * size)).reverse();
    for (const part of parts)
      written.push(await writeBatchRows(deps.batch, planned.plan.version, view, part));
  }
  return { plan: planned.plan, result: await publishBatch(deps, planned.plan, written.reduce(addWrites)) };
}

describe('a batch run as the cloud state machine runs it', () => {
  it('writes the same cells and publishes the same pointer as the in-process run, however the rows are sliced', async () => {
    const local = setup();
    const expected = await runBatch(local);
    for (const slices of [1, 3, 8]) {
      const cloud = setup();
      const { result } = await runAsSteps(cloud, slices);
      expect(result).toEqual(expected);
      expect(await cloud.control.readPointer()).toEqual(await local.control.readPointer());
      const batch = cloud.batch as InMemoryBatchViewStore;
      expect(batch.versions()).toEqual((local.batch as InMemoryBatchViewStore).versions());
      for (const view of views)
        for (const key of ['p0', 'p3', 'x'])
          expect(
            await batch.query(1, view, [key], 0, 1e9),
            `${view.name}/${key} with ${slices} slices`,
          ).toEqual(await local.batch.query(1, view, [key], 0, 1e9));
    }
    expect(expected).toMatchObject({ status: 'published', cells: 61, skippedCells: { count: 1 } });
  });

  it('publishes nothing until the publish step: the writers only add an unread segment', async () => {
    const deps = setup();
    const planned = await planBatch(deps);
    if ('skipped' in planned) throw new Error('expected a plan');
    for (const { view, sql } of planned.queries)
      await writeBatchRows(deps.batch, planned.plan.version, view, await deps.engine.run(sql));
    expect(await deps.control.readPointer()).toBeNull();
  });

  it('abandons a failed run by deleting its segment, but never the version the pointer already holds', async () => {
    const deps = setup();
    const planned = await planBatch(deps);
    if ('skipped' in planned) throw new Error('expected a plan');
    const { view, sql } = planned.queries[0];
    await writeBatchRows(deps.batch, planned.plan.version, view, await deps.engine.run(sql));
    // a failure before the publish: the segment goes
    expect(await abandonBatch(deps, planned.plan.version)).toBe(60);
    expect((deps.batch as InMemoryBatchViewStore).versions()).toEqual([]);
    // a failure after the publish (its housekeeping): what is served stays
    const served = setup();
    const { plan } = await runAsSteps(served, 2);
    expect(await abandonBatch(served, plan.version)).toBe(0);
    expect((await served.control.readPointer())?.version).toBe(plan.version);
    expect((served.batch as InMemoryBatchViewStore).versions()).toEqual([plan.version]);
  });

  it('the cloud Abandon lists the same deletion for its cleanup loop: the segment, or nothing once served', async () => {
    const deps = setup();
    const planned = await planBatch(deps);
    if ('skipped' in planned) throw new Error('expected a plan');
    const { view, sql } = planned.queries[0];
    await writeBatchRows(deps.batch, planned.plan.version, view, await deps.engine.run(sql));
    const tasks = await abandonTasks(deps, planned.plan.version);
    expect(tasks).toEqual([{ kind: 'segments', segments: { version: planned.plan.version } }]);
    expect(await cleanUp(startCleanup(tasks).cursor, deps)).toMatchObject({ done: true, cellsDeleted: 60 });
    expect((deps.batch as InMemoryBatchViewStore).versions()).toEqual([]);
    const served = setup();
    const { plan } = await runAsSteps(served, 2);
    expect(await abandonTasks(served, plan.version)).toEqual([]);
  });

  it('reports a reconciliation that outlasts its deadline as unfinished, and still publishes (the cloud Publish step)', async () => {
    const deps = setup();
    await runAsSteps(deps, 1); // version 1: nothing to reconcile against yet
    (deps.watermark as FixedWatermark).value = 185_500;
    const engine = deps.engine as CannedQueryEngine;
    const run = engine.run.bind(engine);
    // The reconciliation's queries (arrivals since the previous cutoff) never answer.
    engine.run = (sql) => (sql.includes('and at or after') ? new Promise(() => {}) : run(sql));
    const planned = await planBatch(deps);
    if ('skipped' in planned) throw new Error('expected a plan');
    const written = await Promise.all(
      planned.queries.map(async ({ view, sql }) =>
        writeBatchRows(deps.batch, planned.plan.version, view, await deps.engine.run(sql)),
      ),
    );
    const result = await publishBatch(deps, planned.plan, written.reduce(addWrites), undefined, {
      deferCleanup: true,
      reconcileBy: deps.clock.now() + 50,
    });
    expect(result).toMatchObject({ status: 'published', version: 2 });
    expect(result.reconciliation?.error).toMatch(/^the reconciliation did not finish within 0 s/);
    expect((await deps.control.readPointer())?.version).toBe(2);
  });

  it('loses a race without publishing: the pointer moved since the plan, so its segment is deleted', async () => {
    const deps = setup();
    const planned = await planBatch(deps);
    if ('skipped' in planned) throw new Error('expected a plan');
    await runBatch(deps); // another run publishes version 2 meanwhile
    const result = await publishBatch(deps, planned.plan, { cells: 0, unstorableCount: 0, unstorable: [] });
    expect(result).toMatchObject({ status: 'skipped', reason: 'another batch run published first' });
    expect((await deps.control.readPointer())?.version).toBe(2);
  });
});
