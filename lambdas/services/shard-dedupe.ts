import type { NormalizedEvent } from '../core/event';
import { padSequence } from '../core/sequence';
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
 * the row fences then apply once.
 *
 * Exact for copies that share a partition key within the window; copies under different
 * partition keys land on different shards and are left to batch and replay (use the per-event
 * claims, `STREAMFOLD_SPEED_DEDUPE=global`, to catch those in the speed layer too).
 */
export class ShardDedupe {
  private readonly shards = new Map<string, ShardIdIndex>();

  constructor(
    private readonly log: ShardIdLog,
    private readonly windowMs: number,
  ) {}

  /** Kept ids held in memory, over all shards (the bench and /admin/status report it). */
  get heldIds(): number {
    let n = 0;
    for (const index of this.shards.values()) n += index.size;
    return n;
  }

  /** Decides one shard's records, given in stream order. */
  async decide(shardId: string, events: readonly NormalizedEvent[]): Promise<ShardDedupeOutcome> {
    if (events.length === 0) return { kept: [], duplicates: 0, appended: 0 };
    let newest = events[0].arrivedMs;
    for (const e of events) if (e.arrivedMs > newest) newest = e.arrivedMs;
    const index = await this.sync(shardId, newest);
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
    if (fresh.length === 0) return { kept, duplicates, appended: 0 };
    const item = { sortKey: padSequence(fresh[0].seq), lastArrivedMs: newest, entries: fresh };
    let lastSortKey: string;
    try {
      lastSortKey = await this.log.append(shardId, item);
    } catch (error) {
      // Whether the append landed is unknown: rebuild this shard from the log on the retry.
      this.shards.delete(shardId);
      throw error;
    }
    index.add({ ...item, sortKey: lastSortKey });
    return { kept, duplicates, appended: 1 };
  }

  private async sync(shardId: string, newestArrivedMs: number): Promise<ShardIdIndex> {
    const index = this.shards.get(shardId);
    if (index === undefined) {
      // Cold: the window's items, newest first until one older than the window.
      const fresh = new ShardIdIndex(this.windowMs);
      for (const item of await this.log.readRecent(shardId, newestArrivedMs - this.windowMs)) fresh.add(item);
      fresh.advance(newestArrivedMs);
      this.shards.set(shardId, fresh);
      return fresh;
    }
    // Warm: what other instances appended since this one last looked (usually nothing).
    for (const item of await this.log.readAfter(shardId, index.lastSortKey)) index.add(item);
    index.advance(newestArrivedMs);
    return index;
  }
}
