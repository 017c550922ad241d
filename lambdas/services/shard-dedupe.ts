import type { NormalizedEvent } from '../core/event';
import { ShardIdIndex, type IdLogEntry } from '../core/shard-id-index';
import type { ShardIdLog } from '../ports/stores';

/** What one shard's records came to. */
export interface ShardDedupeOutcome {
  /** Records to apply, in the order given: each id's first record (and its redeliveries). */
  readonly kept: NormalizedEvent[];
  readonly duplicates: number;
  /** Items appended to the log (0 when the batch held no new id, e.g. a redelivery). */
  readonly appended: number;
}

/**
 * Event-id dedupe per shard at about one log write per batch (ADR 008), instead of one
 * conditional write per event. The instance keeps each shard's kept ids of the window in memory
 * and, before deciding a batch, reads what other instances appended to the shard's log since
 * (strongly consistent; usually nothing), so a batch handled by a different instance than the
 * last one decides the same. The batch's new ids are appended before any row is written: a crash
 * after the append makes the retry find them and keep the same records (`owner`), whose effects
 * the row fences then apply once. The append takes the log's next position only if it is free
 * (ShardIdLog): a writer that decided from a stale log (an invocation that timed out but runs on,
 * a request of a runtime that died landing late) never overwrites what others appended, nor lands
 * where a reader that has moved past it would not look.
 *
 * Exact for copies that share a partition key within the window; copies under different
 * partition keys land on different shards and are left to batch and replay (use the per-event
 * claims, `STREAMFOLD_SPEED_DEDUPE=global`, to catch those in the speed layer too).
 */
export class ShardDedupe {
  /** Each shard's index, least recently served first (a Map keeps insertion order). */
  private readonly shards = new Map<string, ShardIdIndex>();
  /** Shards dropped to stay within maxHeldIds (read again from the log when they come back). */
  evictedShards = 0;

  /**
   * @param maxHeldIds ids held over every shard before the least recently served shards are
   *   dropped (never the one being decided): Lambda gives no shard affinity, so one instance can
   *   serve many shards in turn, and each index it kept would otherwise stay for its lifetime.
   *   A dropped shard is rebuilt from its log, as on a new instance.
   */
  constructor(
    private readonly log: ShardIdLog,
    private readonly windowMs: number,
    private readonly maxHeldIds = Number.POSITIVE_INFINITY,
  ) {}

  /** Kept ids held in memory, over all shards (the bench and /admin/status report it). */
  get heldIds(): number {
    let n = 0;
    for (const index of this.shards.values()) n += index.size;
    return n;
  }

  /** Shards whose index is held in memory. */
  get heldShards(): number {
    return this.shards.size;
  }

  /** Decides one shard's records, given in stream order. */
  async decide(shardId: string, events: readonly NormalizedEvent[]): Promise<ShardDedupeOutcome> {
    if (events.length === 0) return { kept: [], duplicates: 0, appended: 0 };
    let newest = events[0].arrivedMs;
    for (const e of events) if (e.arrivedMs > newest) newest = e.arrivedMs;
    for (let attempt = 0; attempt < MAX_APPEND_ATTEMPTS; attempt++) {
      const index = await this.sync(shardId, newest);
      const { kept, fresh, duplicates } = decideAgainst(index, events);
      if (fresh.length === 0) {
        this.evictBeyondBudget(shardId);
        return { kept, duplicates, appended: 0 };
      }
      const item = { lastArrivedMs: newest, entries: fresh };
      const after = index.lastSortKey;
      let lastSortKey: string | undefined;
      try {
        lastSortKey = await this.log.append(shardId, after, item);
      } catch (error) {
        // Whether the append landed is unknown: rebuild this shard from the log on the retry.
        this.shards.delete(shardId);
        throw error;
      }
      if (lastSortKey !== undefined) {
        index.add({ ...item, sortKey: lastSortKey });
        this.evictBeyondBudget(shardId);
        return { kept, duplicates, appended: 1 };
      }
      // Another writer appended since this one read (a timed-out invocation still running, an
      // instance of a runtime that died, or this very append landing before its answer was
      // lost): what it kept may decide this batch differently. Read it and decide again.
    }
    this.shards.delete(shardId);
    throw new Error(
      `shard ${shardId}: the id log kept changing under ${MAX_APPEND_ATTEMPTS} appends (other writers on the same shard); the batch is retried`,
    );
  }

  /** Drops the least recently served shards other than `current` while over maxHeldIds. */
  private evictBeyondBudget(current: string): void {
    let held = this.heldIds;
    for (const [shardId, index] of this.shards) {
      if (held <= this.maxHeldIds) return;
      if (shardId === current) continue;
      this.shards.delete(shardId);
      held -= index.size;
      this.evictedShards++;
    }
  }

  private async sync(shardId: string, newestArrivedMs: number): Promise<ShardIdIndex> {
    const warm = this.shards.get(shardId);
    if (warm !== undefined) {
      // Now the most recently served.
      this.shards.delete(shardId);
      this.shards.set(shardId, warm);
      warm.advance(newestArrivedMs);
      // An index left with no id of the window holds nothing a read after its newest position
      // would not: read the log afresh instead, in case that position was deleted since (TTL)
      // and another writer reused it.
      if (warm.size > 0) {
        // What other instances appended since this one last looked (usually nothing).
        for (const item of await this.log.readAfter(shardId, warm.lastSortKey)) warm.add(item);
        warm.advance(newestArrivedMs);
        return warm;
      }
    }
    // Cold: the window's items, newest first until one older than the window.
    const fresh = new ShardIdIndex(this.windowMs);
    for (const item of await this.log.readRecent(shardId, newestArrivedMs - this.windowMs)) fresh.add(item);
    fresh.advance(newestArrivedMs);
    this.shards.set(shardId, fresh);
    return fresh;
  }
}

/**
 * Appends that find their position taken before one lands. Each lost race means another writer
 * landed an append of the same shard, and Lambda runs one invocation per shard at a time: more
 * than a few in a row means something else writes the log.
 */
const MAX_APPEND_ATTEMPTS = 8;

/** Decides a shard's records (in stream order) against the ids the index holds. */
function decideAgainst(
  index: ShardIdIndex,
  events: readonly NormalizedEvent[],
): { kept: NormalizedEvent[]; fresh: IdLogEntry[]; duplicates: number } {
  const kept: NormalizedEvent[] = [];
  const fresh: IdLogEntry[] = [];
  const freshIds = new Map<string, string>();
  let duplicates = 0;
  for (const event of events) {
    const earlier = freshIds.get(event.id);
    const decision =
      earlier === undefined
        ? index.decide(event.id, event.seq)
        : earlier === event.seq
          ? 'owner'
          : 'duplicate';
    if (decision === 'duplicate') {
      duplicates++;
      continue;
    }
    if (decision === 'first') {
      fresh.push({ id: event.id, seq: event.seq });
      freshIds.set(event.id, event.seq);
    }
    kept.push(event);
  }
  return { kept, fresh, duplicates };
}
