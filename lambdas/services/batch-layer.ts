import { nextCutoff } from '../core/merge';
import { reconcileWindow, type Mismatch } from '../core/reconcile';
import { keyProblem } from '../core/reducer';
import { batchRowToCell, batchSql } from '../core/sql';
import type { ViewDefinition } from '../core/view';
import type { ArchiveWatermark } from '../ports/archive';
import type { Clock } from '../ports/clock';
import type { QueryEngine } from '../ports/query-engine';
import type { BatchViewStore, ControlStore, ServingPointer, SpeedRowStore } from '../ports/stores';

export interface BatchLayerDeps {
  readonly views: readonly ViewDefinition[];
  readonly engine: QueryEngine;
  readonly watermark: ArchiveWatermark;
  readonly batch: BatchViewStore;
  readonly control: ControlStore;
  readonly speed: SpeedRowStore;
  readonly clock: Clock;
  readonly arrivalBucketMs: number;
}

export interface BatchRunResult {
  readonly status: 'published' | 'skipped';
  readonly version: number | null;
  readonly cutoff: string | null;
  readonly cutoffMs: number | null;
  readonly cells: number;
  readonly reason?: string;
  readonly durationMs: number;
  readonly speedRowsDeleted: number;
  /**
   * Cells left out because their key is too long for the tables (archived before ingestion
   * refused such keys); the speed layer and replay leave the same events out. Up to 20 listed.
   */
  readonly skippedCells?: {
    readonly count: number;
    readonly examples: readonly { view: string; key: string; problem: string }[];
  };
  /**
   * Batch vs speed over the arrival window [previous cutoff, this cutoff): cells compared and the
   * measures that differ (at most 20 listed). Null on the first run.
   */
  readonly reconciliation: {
    readonly from: string;
    readonly to: string;
    readonly cellsCompared: number;
    readonly mismatchCount: number;
    readonly mismatches: readonly Mismatch[];
    readonly error?: string;
  } | null;
}

/**
 * Recomputes every view over the archive up to the newest cutoff the archive provably covers,
 * writes the cells as a new version, and only then publishes `{version, cutoff}` in one
 * conditional write. A run that fails before the publish leaves the previous version served;
 * its partial version is never read (nothing points at it).
 */
export async function runBatch(deps: BatchLayerDeps): Promise<BatchRunResult> {
  const started = deps.clock.now();
  const current = await deps.control.readPointer();
  const archivedBefore = await deps.watermark.archivedBeforeMs();
  const skipped = (reason: string): BatchRunResult => ({
    status: 'skipped',
    version: current?.version ?? null,
    cutoffMs: current?.cutoffMs ?? null,
    cutoff: current ? new Date(current.cutoffMs).toISOString() : null,
    cells: 0,
    reason,
    durationMs: deps.clock.now() - started,
    speedRowsDeleted: 0,
    reconciliation: null,
  });
  if (archivedBefore === null) return skipped('the archive has no watermark yet (nothing archived)');
  const cutoffMs = nextCutoff(archivedBefore, deps.arrivalBucketMs, current?.cutoffMs ?? null);
  const source = await deps.engine.source(cutoffMs);
  const version = await deps.control.nextVersion();
  let cells = 0;
  let unstorableCount = 0;
  const unstorable: { view: string; key: string; problem: string }[] = [];
  for (const view of deps.views) {
    if (source === null) break; // an empty archive: the version has no cells, which is its true content
    const rows = await deps.engine.run(batchSql(view, deps.engine.dialect, source, cutoffMs).sql);
    const viewCells = rows.map((row) => batchRowToCell(view, row));
    // Ingestion refuses keys the tables cannot hold, but an archive written before that check
    // (or by another producer) may hold one: skip it, as the speed layer and replay do, and say so.
    const storable = viewCells.filter((cell) => {
      const problem = keyProblem(view, cell.key);
      if (problem !== undefined && unstorable.length < 20)
        unstorable.push({ view: view.name, key: `${cell.key.join(',').slice(0, 80)}...`, problem });
      if (problem !== undefined) unstorableCount++;
      return problem === undefined;
    });
    await deps.batch.writeCells(version, view, storable);
    cells += storable.length;
  }
  const next: ServingPointer = {
    version,
    cutoffMs,
    publishedAt: new Date(deps.clock.now()).toISOString(),
    previous: current ? { version: current.version, cutoffMs: current.cutoffMs } : null,
  };
  if (!(await deps.control.publish(next, current?.version ?? null))) {
    await deps.batch.deleteVersion(version);
    return skipped('another batch run published first');
  }
  // Keep the version just replaced (and the speed rows it needs) for queries that read the old
  // pointer a moment ago; what only older versions needed can go.
  // After the publish: a reconciliation problem is reported (and alarmed on), it does not undo the version.
  const reconciliation =
    current && current.cutoffMs < cutoffMs
      ? await reconcile(deps, current.cutoffMs, cutoffMs).catch((error: Error) => ({
          from: new Date(current.cutoffMs).toISOString(),
          to: new Date(cutoffMs).toISOString(),
          cellsCompared: 0,
          mismatchCount: 0,
          mismatches: [],
          error: error.message,
        }))
      : null;
  let speedRowsDeleted = 0;
  if (current?.previous) {
    await deps.batch.deleteVersion(current.previous.version);
  }
  if (current) speedRowsDeleted = await deps.speed.deleteArrivedBefore(current.cutoffMs);
  return {
    status: 'published',
    version,
    cutoffMs,
    cutoff: new Date(cutoffMs).toISOString(),
    cells,
    durationMs: deps.clock.now() - started,
    speedRowsDeleted,
    reconciliation,
    skippedCells: { count: unstorableCount, examples: unstorable },
  };
}

/** Reconciles each view over one arrival window (see core/reconcile.ts). */
async function reconcile(
  deps: BatchLayerDeps,
  fromMs: number,
  toMs: number,
): Promise<NonNullable<BatchRunResult['reconciliation']>> {
  const source = await deps.engine.source(toMs, fromMs);
  let cellsCompared = 0;
  const mismatches: Mismatch[] = [];
  for (const view of deps.views) {
    const rows =
      source === null
        ? []
        : await deps.engine.run(batchSql(view, deps.engine.dialect, source, toMs, fromMs).sql);
    const batchCells = rows
      .map((row) => ({ view: view.name, ...batchRowToCell(view, row) }))
      .filter((cell) => keyProblem(view, cell.key) === undefined);
    const result = reconcileWindow(view, batchCells, await deps.speed.listArrived(view, fromMs, toMs));
    cellsCompared += result.cellsCompared;
    mismatches.push(...result.mismatches);
  }
  return {
    from: new Date(fromMs).toISOString(),
    to: new Date(toMs).toISOString(),
    cellsCompared,
    mismatchCount: mismatches.length,
    mismatches: mismatches.slice(0, 20),
  };
}
