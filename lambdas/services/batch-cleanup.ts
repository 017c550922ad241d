import type { PublishedLineage } from '../core/batch-lineage';
import type { Clock } from '../ports/clock';
import type { BatchViewStore, SegmentMatch, ServingPointer, SpeedRowStore } from '../ports/stores';

/**
 * What a publish leaves to delete: the batch segments no served or kept version reads any more,
 * and the speed rows its cutoff covers. Both are table Scans, of millions of items at
 * scale: inside the publish's invocation they outlasted Lambda's 15 minutes after the pointer flip
 * had succeeded, and the run ended failed. So the publish only lists them, and the cleanup step
 * deletes them page by page, handing its cursor from one invocation to the next (the batch state
 * machine's Cleanup loop; locally, one call runs it to the end).
 */
export type CleanupTask =
  | { readonly kind: 'segments'; readonly segments: SegmentMatch }
  | { readonly kind: 'speedRows'; readonly arrivedBeforeMs: number };

/** Where the cleanup is: its tasks, the one under way and the next page of it. */
export interface CleanupCursor {
  readonly tasks: readonly CleanupTask[];
  readonly index: number;
  readonly page: string | null;
}

/** What a cleanup call did and where it stopped; done when nothing is left. */
export interface CleanupProgress {
  readonly done: boolean;
  readonly cursor: CleanupCursor;
  /** Batch cells deleted by this call. */
  readonly cellsDeleted: number;
  /** Speed rows deleted by this call. */
  readonly speedRowsDeleted: number;
}

export interface CleanupDeps {
  readonly batch: Pick<BatchViewStore, 'deleteSegmentsPage'>;
  readonly speed: Pick<SpeedRowStore, 'deleteArrivedBeforePage'>;
  readonly clock: Clock;
}

/** How long one cleanup invocation deletes before it hands its cursor back (the function may run 15 minutes). */
export const CLEANUP_BUDGET_MS = 10 * 60_000;

const lowest = (l: PublishedLineage) => Math.min(...Object.values(l.views).map((v) => v.base));

/**
 * The tasks of a publish of `published` over `replaced`: what only the version `replaced` had kept
 * as its own previous reads (no served or kept lineage reads a segment below both lowest bases),
 * and the speed rows the new cutoff covers. Those go at once: a query reads the speed rows before
 * the pointer (query-view.ts readServing, ADR 028), so a row it misses was deleted after a pointer
 * covering it was published, and the pointer it reads next is that one or newer. Segments stay one
 * version late: a query reads its version's cells after the pointer.
 */
export function cleanupAfterPublish(
  replaced: ServingPointer | null,
  published: Pick<ServingPointer, 'cutoffMs' | 'lineage'>,
): CleanupTask[] {
  const tasks: CleanupTask[] = [];
  const retired = replaced?.previous;
  if (retired && !retired.lineage) tasks.push({ kind: 'segments', segments: { version: retired.version } });
  else if (retired?.lineage) {
    const live = [published.lineage, replaced?.lineage].filter((l): l is PublishedLineage => l !== undefined);
    const floor = Math.min(...live.map(lowest));
    // Below the lowest base of the retired lineage nothing is left to delete: the scan is skipped.
    if (live.length > 0 && floor > lowest(retired.lineage))
      tasks.push({ kind: 'segments', segments: { before: floor } });
  }
  tasks.push({ kind: 'speedRows', arrivedBeforeMs: published.cutoffMs });
  return tasks;
}

/**
 * The tasks of a publish found already done when its step ran again (its first invocation flipped
 * the pointer, then failed or timed out before handing on its cleanup): derived from the pointer
 * it wrote, which still holds this version. The retired lineage is not kept there, so the segments
 * below both live lineages are deleted whether or not any are left (a Scan that may find none).
 */
export function cleanupOfPublished(pointer: ServingPointer): CleanupTask[] {
  const replaced = pointer.previous;
  const tasks: CleanupTask[] = [];
  if (pointer.lineage && replaced?.lineage)
    tasks.push({
      kind: 'segments',
      segments: { before: Math.min(lowest(pointer.lineage), lowest(replaced.lineage)) },
    });
  tasks.push({ kind: 'speedRows', arrivedBeforeMs: pointer.cutoffMs });
  return tasks;
}

export function startCleanup(tasks: readonly CleanupTask[]): CleanupProgress {
  return {
    done: tasks.length === 0,
    cursor: { tasks, index: 0, page: null },
    cellsDeleted: 0,
    speedRowsDeleted: 0,
  };
}

/**
 * Deletes page by page from `cursor` until every task is done or `budgetMs` has passed, and
 * returns where it stopped (call again with that cursor until done). Idempotent: a page deleted
 * twice deletes nothing the second time, so a retried call is safe.
 */
export async function cleanUp(
  cursor: CleanupCursor,
  deps: CleanupDeps,
  budgetMs = CLEANUP_BUDGET_MS,
): Promise<CleanupProgress> {
  const started = deps.clock.now();
  let { index, page } = cursor;
  let cellsDeleted = 0;
  let speedRowsDeleted = 0;
  while (index < cursor.tasks.length) {
    const task = cursor.tasks[index];
    const from = page ?? undefined;
    const result =
      task.kind === 'segments'
        ? await deps.batch.deleteSegmentsPage(task.segments, from)
        : await deps.speed.deleteArrivedBeforePage(task.arrivedBeforeMs, from);
    if (task.kind === 'segments') cellsDeleted += result.deleted;
    else speedRowsDeleted += result.deleted;
    if (result.cursor === undefined) {
      index++;
      page = null;
    } else page = result.cursor;
    if (index < cursor.tasks.length && deps.clock.now() - started >= budgetMs)
      return { done: false, cursor: { tasks: cursor.tasks, index, page }, cellsDeleted, speedRowsDeleted };
  }
  return { done: true, cursor: { tasks: cursor.tasks, index, page: null }, cellsDeleted, speedRowsDeleted };
}
