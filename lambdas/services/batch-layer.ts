import { nextCutoff } from '../core/merge';
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
  });
  if (archivedBefore === null) return skipped('the archive has no watermark yet (nothing archived)');
  const cutoffMs = nextCutoff(archivedBefore, deps.arrivalBucketMs, current?.cutoffMs ?? null);
  const source = await deps.engine.source(cutoffMs);
  const version = await deps.control.nextVersion();
  let cells = 0;
  for (const view of deps.views) {
    if (source === null) break; // an empty archive: the version has no cells, which is its true content
    const rows = await deps.engine.run(batchSql(view, deps.engine.dialect, source, cutoffMs).sql);
    const viewCells = rows.map((row) => batchRowToCell(view, row));
    await deps.batch.writeCells(version, view, viewCells);
    cells += viewCells.length;
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
  };
}
