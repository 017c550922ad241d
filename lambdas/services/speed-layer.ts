import {
  readStreamRecord,
  PoisonRecordError,
  type NormalizedEvent,
  type StreamPosition,
} from '../core/event';
import { isEarlierCopy } from '../core/dedupe';
import {
  applyToRow,
  groupForSpeed,
  type FenceBy,
  type SpeedRow,
  type SpeedRowAddress,
} from '../core/fencing';
import { compareSequence } from '../core/sequence';
import type { ViewDefinition } from '../core/view';
import type { EventClaims, SpeedRowStore } from '../ports/stores';
import type { ShardDedupe } from './shard-dedupe';
import type { SpeedRowCache } from './speed-row-cache';

export interface SpeedRecord {
  readonly data: string;
  readonly position: StreamPosition;
}

export interface SpeedLayerDeps {
  readonly views: readonly ViewDefinition[];
  readonly rows: SpeedRowStore;
  /** Per-event claims (`global` dedupe), when on. */
  readonly claims?: EventClaims;
  /** Per-shard id logs (`shard` dedupe, the default; ADR 008), when on. */
  readonly shardDedupe?: ShardDedupe;
  /** Rows this instance wrote last: written again without a read while nobody else wrote them. */
  readonly rowCache?: SpeedRowCache;
  readonly fenceBy: FenceBy;
  readonly arrivalBucketMs: number;
  /** Attempts of one row's read-modify-write before the batch is reported failed. */
  readonly maxWriteAttempts?: number;
  /** DynamoDB requests in flight at once (claims of distinct ids, writes of distinct rows). */
  readonly concurrency?: number;
}

export interface SpeedBatchResult {
  /**
   * The lowest sequence number that was not fully applied, or undefined when all were: the
   * event source retries from it (records below it are checkpointed).
   */
  readonly failedFrom?: string;
  readonly poison: readonly { readonly sequenceNumber: string; readonly error: string }[];
  /** Store failures, with their causes (the handler logs each). */
  readonly errors: readonly StoreFailure[];
  readonly applied: number;
  readonly rowsWritten: number;
  readonly duplicates: number;
  /**
   * Duplicates that arrived before the copy the speed layer kept (copies of one id put under
   * different partition keys, processed out of arrival order): batch and replay keep these.
   */
  readonly earlierCopies: number;
}

/**
 * The speed layer's use case: decode every record, drop repeated event ids (dedupe), pre-aggregate
 * per row, and write each row once with its sequence fence. A redelivered batch changes nothing.
 *
 * A poison record (not JSON, failing validation) is reported as failed on its own, so the event
 * source bisects down to it and sends it to the on-failure destination; it never blocks the shard.
 */
export async function processSpeedBatch(
  records: readonly SpeedRecord[],
  deps: SpeedLayerDeps,
): Promise<SpeedBatchResult> {
  const { kept, poison, failed, duplicates, earlierCopies, errors } = await decodeAndClaim(records, deps);
  const written = await writeFencedRows(
    deps,
    groupForSpeed(deps.views, kept, deps.arrivalBucketMs).map((group) => ({
      id: group.id,
      address: group.address,
      seqs: () => group.events.map((e) => e.seq),
      // A cached row's fences are ones this instance wrote, so "nothing new" holds for the store too.
      apply: (view, current) => {
        const result = applyToRow(view, current, group.events, deps.fenceBy, true);
        return result && { row: result.row, applied: result.applied.length };
      },
    })),
  );
  failed.push(...written.failed);
  errors.push(...written.errors);
  const { applied, rowsWritten } = written;
  return { failedFrom: lowest(failed), poison, errors, applied, rowsWritten, duplicates, earlierCopies };
}

/** One row to write with its fence: `apply` folds into the stored row, undefined when nothing is new. */
export interface FencedRowWrite {
  readonly id: string;
  readonly address: SpeedRowAddress;
  /** The sequence numbers the write covers: reported failed (retried) when the write fails. */
  readonly seqs: () => readonly string[];
  /**
   * The row to write given the stored one (which the caller may change: it was read or taken for
   * this write alone), or undefined when the row already holds everything (no write).
   */
  readonly apply: (
    view: ViewDefinition,
    current: SpeedRow | undefined,
  ) => { row: SpeedRow; applied: number } | undefined;
}

/**
 * Writes rows independently and in parallel, each with its own fenced read-modify-write: the
 * conditional write on the row's revision, a blind create first for rows this instance has not
 * written, the row cache for rows it has (ADR 008). A row that keeps failing is reported with the
 * sequence numbers it covers; rows already written stay written (their fences make a retry a no-op).
 */
export async function writeFencedRows(
  deps: Pick<SpeedLayerDeps, 'views' | 'rows' | 'rowCache' | 'maxWriteAttempts' | 'concurrency'>,
  writes: readonly FencedRowWrite[],
): Promise<{ applied: number; rowsWritten: number; failed: string[]; errors: StoreFailure[] }> {
  let applied = 0;
  let rowsWritten = 0;
  const failed: string[] = [];
  const errors: StoreFailure[] = [];
  const attempts = deps.maxWriteAttempts ?? 8;
  await forEachLimit(writes, deps.concurrency ?? 16, async (write) => {
    const view = deps.views.find((v) => v.name === write.address.view) as ViewDefinition;
    try {
      // Rows of a key other writers (shards) keep changing are read first: a write on the cached
      // revision, or a blind create, would mostly fail, and a failed write is billed (SpeedRowCache).
      const contended = deps.rowCache?.isContended(write.id) === true;
      if (contended) deps.rowCache?.delete(write.id);
      // Taken, not shared: the row is folded in place and only cached again once written.
      let current = contended ? undefined : deps.rowCache?.take(write.id);
      let cached = current !== undefined;
      // A row this instance has not written is usually new (most rows are of the current
      // arrival bucket): the first attempt creates it without reading, on the condition that it
      // does not exist; if it does, the next attempt reads it. That saves a GetItem per new row.
      let blind = !cached && !contended;
      for (let attempt = 0; attempt < attempts; attempt++) {
        // A fresh read is this batch's own copy too (SpeedRowStore.read), so it may be folded in place.
        if (!cached && !blind) current = await deps.rows.read(view, write.address);
        const result = write.apply(view, current?.row);
        if (result === undefined) {
          // Everything already applied by an earlier delivery; the row was not changed.
          if (cached && current !== undefined)
            deps.rowCache?.set(write.id, current, write.address.arrivalBucketMs);
          return;
        }
        const revision = await deps.rows.write(view, write.address, result.row, current?.revision);
        if (revision !== undefined) {
          deps.rowCache?.set(write.id, { row: result.row, revision }, write.address.arrivalBucketMs);
          applied += result.applied;
          rowsWritten++;
          return;
        }
        blind = false;
        if (cached) {
          // Only a write on the revision this instance wrote shows another writer: a blind create
          // that finds the row (an instance new to the shard, its cache empty) does not.
          deps.rowCache?.markContended(write.id);
          // Someone else wrote the row since: read it (this attempt does not count). The taken
          // row, folded but not written, is dropped.
          cached = false;
          attempt--;
        }
      }
      throw new Error(`row ${write.address.view} kept changing under ${attempts} attempts`);
    } catch (error) {
      deps.rowCache?.delete(write.id);
      // The row is retried with the batch from its lowest record; rows already written are fenced.
      const seqs = write.seqs();
      failed.push(...seqs);
      errors.push({
        sequenceNumber: lowest(seqs) as string,
        stage: 'write',
        error: `${write.address.view} row: ${(error as Error).message}`,
      });
    }
  });
  return { applied, rowsWritten, failed, errors };
}

/** What the speed layer and the Kappa processor share: decoded, deduplicated records of a batch. */
export interface ClaimedBatch {
  /** Events to apply, in batch order: one copy per id (when claims are on), poison left out. */
  readonly kept: NormalizedEvent[];
  readonly poison: { sequenceNumber: string; error: string }[];
  /** Sequence numbers not applied (poison, failed claims): the lowest is where the retry starts. */
  readonly failed: string[];
  readonly duplicates: number;
  /** Duplicates that arrived before the copy kept (see SpeedBatchResult.earlierCopies). */
  readonly earlierCopies: number;
  readonly errors: StoreFailure[];
}

/**
 * A store call that failed (throttling, AccessDenied, a timeout): the records from `sequenceNumber`
 * on are retried by the event source, and the cause is reported, never swallowed.
 */
export interface StoreFailure {
  readonly sequenceNumber: string;
  readonly stage: 'claim' | 'write';
  readonly error: string;
}

/**
 * Decodes every record by the rules every event obeys (readStreamRecord; poison reported on its
 * own) and, with event-level dedupe, claims each event id for its stream record: a later copy of
 * an id (a producer retry) is dropped, a redelivery of the owning record passes (its effect is
 * fenced by the row or cell instead).
 * Shared by the speed layer and the Kappa processor, with the same claims table.
 */
export async function decodeAndClaim(
  records: readonly SpeedRecord[],
  deps: {
    readonly claims?: EventClaims;
    readonly shardDedupe?: ShardDedupe;
    readonly concurrency?: number;
  },
): Promise<ClaimedBatch> {
  const events: NormalizedEvent[] = [];
  const poison: { sequenceNumber: string; error: string }[] = [];
  const failed: string[] = [];
  let duplicates = 0;
  let earlierCopies = 0;
  const errors: StoreFailure[] = [];
  for (const record of records) {
    try {
      events.push(readStreamRecord(record.data, record.position));
    } catch (error) {
      if (!(error instanceof PoisonRecordError)) throw error;
      poison.push({ sequenceNumber: record.position.sequenceNumber, error: error.message });
      failed.push(record.position.sequenceNumber);
    }
  }
  let kept = events;
  const claims = deps.claims;
  if (deps.shardDedupe && !claims) {
    const byShard = new Map<string, NormalizedEvent[]>();
    for (const event of events) {
      const shard = byShard.get(event.shardId);
      if (shard === undefined) byShard.set(event.shardId, [event]);
      else shard.push(event);
    }
    kept = [];
    for (const [shardId, shardEvents] of byShard) {
      try {
        const outcome = await deps.shardDedupe.decide(shardId, shardEvents);
        kept.push(...outcome.kept);
        duplicates += outcome.duplicates;
      } catch (error) {
        // Nothing of this shard is applied; the retry starts at its first record.
        const first = lowest(shardEvents.map((e) => e.seq)) as string;
        failed.push(first);
        errors.push({ sequenceNumber: first, stage: 'claim', error: (error as Error).message });
      }
    }
  } else if (claims) {
    const claimFailed: string[] = [];
    const owned = new Set<NormalizedEvent>();
    // Copies of one id are claimed in stream order; different ids are independent, so in parallel.
    const byId = new Map<string, NormalizedEvent[]>();
    for (const event of events) {
      const copies = byId.get(event.id) ?? [];
      copies.push(event);
      byId.set(event.id, copies);
    }
    await forEachLimit([...byId.values()], deps.concurrency ?? 16, async (copies) => {
      for (const event of copies) {
        try {
          const owner = `${event.shardId}/${event.seq}`;
          const outcome = await claims.claim(event.id, owner, event.arrivedMs);
          if (outcome.owned) {
            owned.add(event);
            continue;
          }
          duplicates++;
          if (outcome.kept && arrivedBeforeKept(event, outcome.kept)) {
            earlierCopies++;
            await claims.noteEarlierCopy(event.id, owner);
          }
        } catch (error) {
          claimFailed.push(event.seq);
          errors.push({ sequenceNumber: event.seq, stage: 'claim', error: (error as Error).message });
          return;
        }
      }
    });
    kept = events.filter((e) => owned.has(e));
    // After a failed claim, a later copy of the same id could claim it first: hold back every
    // later record; the retry (from the failed one) applies them in order.
    const firstFailed = lowest(claimFailed);
    if (firstFailed !== undefined) {
      failed.push(firstFailed);
      kept = kept.filter((e) => compareSequence(e.seq, firstFailed) < 0);
    }
  }
  return { kept, poison, failed, duplicates, earlierCopies, errors };
}

/** Did this copy arrive before the kept one, in the order batch and replay pick copies (dedupe.ts)? */
function arrivedBeforeKept(
  event: NormalizedEvent,
  kept: { readonly owner: string; readonly arrivedMs: number | undefined },
): boolean {
  if (kept.arrivedMs === undefined) return false; // a claim written before arrival was recorded
  const slash = kept.owner.lastIndexOf('/');
  return isEarlierCopy(event, {
    arrivedMs: kept.arrivedMs,
    shardId: kept.owner.slice(0, slash),
    seq: kept.owner.slice(slash + 1),
  });
}

export function lowest(sequences: readonly string[]): string | undefined {
  let min: string | undefined;
  for (const s of sequences) if (min === undefined || compareSequence(s, min) < 0) min = s;
  return min;
}

export async function forEachLimit<T>(
  items: readonly T[],
  limit: number,
  run: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await run(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
