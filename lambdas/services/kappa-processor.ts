import type { FenceBy } from '../core/fencing';
import { applyLive, groupForVersion, liveCovers, liveTargets } from '../core/kappa';
import type { ViewDefinition } from '../core/view';
import type { KappaCellStore, KappaControlStore } from '../ports/kappa';
import type { EventClaims } from '../ports/stores';
import { decodeAndClaim, forEachLimit, lowest, type SpeedBatchResult, type SpeedRecord } from './speed-layer';

export interface KappaProcessorDeps {
  /** The views module: what records are validated against (as the ingestion API and the archive do). */
  readonly views: readonly ViewDefinition[];
  readonly cells: KappaCellStore;
  readonly control: KappaControlStore;
  /** Present when event-level dedupe is on (the same claims table as the speed layer). */
  readonly claims?: EventClaims;
  readonly fenceBy: FenceBy;
  readonly maxWriteAttempts?: number;
  readonly concurrency?: number;
}

export interface KappaBatchResult extends SpeedBatchResult {
  /** Versions written to by this batch. */
  readonly versions: readonly number[];
}

/**
 * The Kappa stream processor: the speed layer's decoding, validation and event-id claims, then,
 * for every version the pointers name (active, previous, building), the records that version
 * covers (arrival at or after its handoff) folded per complete cell with the speed layer's
 * sequence fences. The pointers are read on every batch, so a replay that just recorded its
 * handoff starts receiving live records from the handoff on.
 */
export async function processKappaBatch(
  records: readonly SpeedRecord[],
  deps: KappaProcessorDeps,
): Promise<KappaBatchResult> {
  const { kept, poison, failed, duplicates, earlierCopies, errors } = await decodeAndClaim(records, deps);
  // After the claims: a record arriving at or after a handoff is fetched after that handoff time,
  // and the pointer naming it was written before it (the handoff is set in the future).
  const pointers = await deps.control.read();
  let applied = 0;
  let rowsWritten = 0;
  const attempts = deps.maxWriteAttempts ?? 8;
  const versions = new Set<number>();
  const groups = liveTargets(pointers).flatMap((v) =>
    groupForVersion(v, kept, liveCovers).map((g) => ({ ...g, version: v.version })),
  );
  await forEachLimit(groups, deps.concurrency ?? 16, async (group) => {
    try {
      for (let attempt = 0; attempt < attempts; attempt++) {
        const current = await deps.cells.read(group.version, group.view, group.address);
        const result = applyLive(group.view, current?.cell, group.events, deps.fenceBy);
        if (result === undefined) return; // already applied by an earlier delivery
        if (
          await deps.cells.write(group.version, group.view, group.address, result.cell, current?.revision)
        ) {
          applied += result.applied;
          rowsWritten++;
          versions.add(group.version);
          return;
        }
      }
      throw new Error(
        `cell of ${group.view.name} v${group.version} kept changing under ${attempts} attempts`,
      );
    } catch (error) {
      // Retried from the lowest record; cells already written are fenced.
      failed.push(...group.events.map((e) => e.seq));
      errors.push({
        sequenceNumber: lowest(group.events.map((e) => e.seq)) as string,
        stage: 'write',
        error: `${group.view.name} v${group.version} cell: ${(error as Error).message}`,
      });
    }
  });
  return {
    failedFrom: lowest(failed),
    poison,
    errors,
    applied,
    rowsWritten,
    duplicates,
    earlierCopies,
    versions: [...versions],
  };
}
