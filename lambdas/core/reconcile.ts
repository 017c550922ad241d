import { finalize, identityRow, mergeRows, sameState, type MeasureValue, type RowState } from './measures';
import { cellId, type CellAddress } from './reducer';
import type { ViewDefinition } from './view';

export interface Mismatch {
  readonly view: string;
  readonly key: readonly string[];
  readonly bucketMs: number;
  readonly measure: string;
  /**
   * The measure's value in each layer, as GET /views would serve it alone (a cell one layer lacks:
   * its empty value). A speed value below the batch's is what a speed layer still behind makes.
   */
  readonly batch: MeasureValue;
  readonly speed: MeasureValue;
}

export interface Reconciliation {
  readonly cellsCompared: number;
  readonly mismatches: readonly Mismatch[];
}

/**
 * Compares, for one arrival window, the batch layer's cells (from the archive) with the speed
 * layer's rows (from the stream). They hold the same events when the archive is complete up
 * to the cutoff and the speed layer has caught up: a difference means the cutoff passed
 * arrival time the archive did not hold yet (or the speed layer lags), and must be looked at.
 * Distinct is compared on its registers (the batch side's exact count has no speed twin).
 */
export function reconcileWindow(
  view: ViewDefinition,
  batchCells: readonly (CellAddress & { readonly state: RowState })[],
  speedRows: readonly (CellAddress & { readonly state: RowState })[],
): Reconciliation {
  const speed = new Map<string, CellAddress & { state: RowState }>();
  for (const row of speedRows) {
    const id = cellId(row);
    speed.set(id, { ...row, state: mergeRows(view, speed.get(id)?.state ?? identityRow(view), row.state) });
  }
  const batch = new Map(batchCells.map((c) => [cellId(c), c]));
  const mismatches: Mismatch[] = [];
  for (const id of new Set([...batch.keys(), ...speed.keys()])) {
    const address = (batch.get(id) ?? speed.get(id)) as CellAddress;
    const b = batch.get(id)?.state ?? identityRow(view);
    const s = speed.get(id)?.state ?? identityRow(view);
    for (const measure of Object.keys(view.measures)) {
      const x = b[measure];
      const y = s[measure];
      const same =
        x.kind === 'distinct' && y.kind === 'distinct' ? x.sketch.equals(y.sketch) : sameState(x, y);
      if (!same)
        mismatches.push({
          view: view.name,
          key: address.key,
          bucketMs: address.bucketMs,
          measure,
          batch: finalize(x),
          speed: finalize(y),
        });
    }
  }
  return { cellsCompared: batch.size, mismatches };
}
