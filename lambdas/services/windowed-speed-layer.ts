import { groupForSpeed } from '../core/fencing';
import { compareSequence } from '../core/sequence';
import { applyPending, foldIntoWindow, type WindowRows } from '../core/window-state';
import {
  decodeAndClaim,
  lowest,
  writeFencedRows,
  type SpeedBatchResult,
  type SpeedLayerDeps,
  type SpeedRecord,
  type StoreFailure,
} from './speed-layer';

/** How a window's rows travel in the event source's `state` (compressed; adapters/codecs). */
export interface WindowStateCodec {
  encode(rows: WindowRows): string;
  decode(text: string): WindowRows;
}

/**
 * Lambda keeps at most 1 MB of state per shard and ends the window early beyond it
 * (https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-windows.html). A state past
 * `flushAtBytes` is flushed at the next invocation instead (leaving room for one batch), and no
 * state past MAX_STATE_BYTES is ever returned.
 */
export const DEFAULT_FLUSH_AT_BYTES = 600_000;
export const MAX_STATE_BYTES = 1_000_000;

export interface WindowedSpeedDeps extends SpeedLayerDeps {
  readonly codec: WindowStateCodec;
  /** Encoded size of an incoming state past which it is written out mid-window. @default 600000 */
  readonly flushAtBytes?: number;
}

/** One invocation of a tumbling window, as the event source makes it. */
export interface WindowInvocation {
  readonly records: readonly SpeedRecord[];
  /** The state the previous successful invocation of this window returned (undefined: a fresh window). */
  readonly state: string | undefined;
  /** `isFinalInvokeForWindow` or `isWindowTerminatedEarly`: the state is dropped after this invocation. */
  readonly final: boolean;
}

export interface WindowedBatchResult extends SpeedBatchResult {
  /** The state to return to the event source (an empty window after a flush). */
  readonly state: string;
  /** Rows the window holds after this invocation. */
  readonly pendingRows: number;
  /** Whether the incoming state was written out (final invoke or too big). */
  readonly flushed: boolean;
}

/** A window's rows could not all be written: the invocation fails and is retried with the same state. */
export class WindowFlushError extends Error {
  constructor(readonly failures: readonly StoreFailure[]) {
    super(
      `aggregation window flush failed for ${failures.length} row(s), first: ${failures[0]?.error}; the invocation is retried with the same state (rows already written are fenced)`,
    );
    this.name = 'WindowFlushError';
  }
}

/**
 * The speed layer with an aggregation window (ADR 012): each invocation decodes, deduplicates and
 * folds its records into the window's state instead of writing rows; rows are written only when a
 * whole state is flushed: the incoming state on the final invoke of the window (with the final
 * invoke's own records, if the event source sends any) or, mid-window, an incoming state larger
 * than `flushAtBytes`, before the batch is folded into a fresh one. Every retry of an invocation gets the same incoming state, so a flush writes the
 * same deltas each time and the row fences (applied iff the fence is below the delta) make a
 * retried, crashed or partly written flush exact.
 *
 * Only the records before the first failure (poison, a failed claim) are folded; the failure is
 * reported and the event source retries from it, so a record is never both folded and retried.
 */
export async function processWindowedBatch(
  invocation: WindowInvocation,
  deps: WindowedSpeedDeps,
): Promise<WindowedBatchResult> {
  if (deps.fenceBy !== 'shard')
    throw new Error(
      "aggregation windows need fenceBy 'shard' (parallelizationFactor 1): a window's state is per shard",
    );
  const claimed = await decodeAndClaim(invocation.records, deps);
  const { poison, failed, duplicates, earlierCopies, errors } = claimed;
  let cut = lowest(failed);
  const below = (seq: string) => cut === undefined || compareSequence(seq, cut) < 0;
  let kept = claimed.kept.filter((e) => below(e.seq));
  const decodeIncoming = (): WindowRows =>
    invocation.state === undefined || invocation.state === ''
      ? new Map()
      : deps.codec.decode(invocation.state);
  const fold = (rows: WindowRows) =>
    foldIntoWindow(deps.views, rows, groupForSpeed(deps.views, kept, deps.arrivalBucketMs), deps.fenceBy);
  const result = (
    rows: WindowRows,
    state: string,
    applied: number,
    rowsWritten: number,
    flushed: boolean,
  ) => ({
    state,
    pendingRows: rows.size,
    flushed,
    failedFrom: cut,
    poison,
    errors,
    applied,
    rowsWritten,
    duplicates,
    earlierCopies,
  });

  let rows = decodeIncoming();
  if (invocation.final) {
    const applied = fold(rows);
    const rowsWritten = await flush(rows, deps, errors);
    const empty: WindowRows = new Map();
    return result(empty, deps.codec.encode(empty), applied, rowsWritten, true);
  }
  // Decided on the incoming state alone, so every retry of this invocation (the same batch, a
  // bisected half, a longer one) decides the same: a state is flushed whole or not at all.
  let rowsWritten = 0;
  const flushed = (invocation.state ?? '').length > (deps.flushAtBytes ?? DEFAULT_FLUSH_AT_BYTES);
  if (flushed) {
    rowsWritten = await flush(rows, deps, errors);
    rows = new Map();
  }
  let applied = fold(rows);
  let state = deps.codec.encode(rows);
  while (state.length > MAX_STATE_BYTES && kept.length > 1) {
    // This batch would take the state past the limit: fold its first half, and the event source
    // retries from the rest (checkpointed below it, with this state).
    cut = kept[Math.floor(kept.length / 2)].seq;
    kept = kept.filter((e) => below(e.seq));
    rows = flushed ? new Map() : decodeIncoming();
    applied = fold(rows);
    state = deps.codec.encode(rows);
  }
  if (state.length > MAX_STATE_BYTES)
    throw new Error(
      `one record makes an aggregation window state of ${state.length} bytes (limit ${MAX_STATE_BYTES}): too many rows per window for Lambda's 1 MB of state; lower flushAtBytes or turn the window off`,
    );
  return result(rows, state, applied, rowsWritten, flushed);
}

/** Writes every pending row with its fence; throws WindowFlushError unless all are written or already applied. */
async function flush(rows: WindowRows, deps: WindowedSpeedDeps, errors: StoreFailure[]): Promise<number> {
  if (rows.size === 0) return 0;
  const overlaps: StoreFailure[] = [];
  const written = await writeFencedRows(
    deps,
    [...rows].map(([id, pending]) => ({
      id,
      address: pending.address,
      seqs: () => Object.values(pending.lo),
      apply: (view, current) => {
        const outcome = applyPending(view, current, pending);
        if (outcome.kind === 'apply') return { row: outcome.row, applied: 1 };
        if (outcome.kind === 'overlap')
          overlaps.push({
            sequenceNumber: pending.lo[outcome.fenceKey],
            stage: 'write',
            error: `${pending.address.view} row: its fence ${outcome.fence} lies inside the window's delta (${pending.lo[outcome.fenceKey]}..${pending.hi[outcome.fenceKey]}) of ${outcome.fenceKey}; the delta is not applied (the batch layer's cutoff will correct the row; reconciliation reports it)`,
          });
        return undefined;
      },
    })),
  );
  errors.push(...overlaps);
  if (written.errors.length > 0) throw new WindowFlushError(written.errors);
  return written.rowsWritten;
}
