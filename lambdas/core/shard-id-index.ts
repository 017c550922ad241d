import { compareSequence } from './sequence';

/** An event id and the stream record (sequence number on its shard) that kept it. */
export interface IdLogEntry {
  readonly id: string;
  readonly seq: string;
}

/**
 * One append to a shard's id log: the ids a batch kept for the first time. `lastArrivedMs` is
 * when its newest record arrived, which decides when the whole item leaves the dedupe window.
 */
export interface IdLogAppend {
  readonly lastArrivedMs: number;
  readonly entries: readonly IdLogEntry[];
}

/** An append as stored: `sortKey` is its position in the shard's log (ShardIdLog). */
export interface IdLogItem extends IdLogAppend {
  readonly sortKey: string;
}

/** What the index decided for one record. */
export type IdDecision = 'first' | 'owner' | 'duplicate';

/**
 * The ids one shard kept within the dedupe window, in memory, rebuilt from the shard's id log.
 *
 * Copies of an id that share a partition key reach one shard, in stream order (and a parent shard
 * is read before its children), so the copy a shard sees first is the one every layer keeps: a
 * record is `first` when its id is new, `owner` when it is that kept record again (a redelivery:
 * its effect is fenced by the rows), `duplicate` when an earlier record kept the id.
 */
export class ShardIdIndex {
  private readonly owners = new Map<string, string>();
  /** Appended items, oldest first: their ids leave the window together. */
  private readonly items: { lastArrivedMs: number; ids: string[] }[] = [];
  private newestArrivedMs = Number.NEGATIVE_INFINITY;
  /** The sort key of the newest item this index holds: the log is read after it. */
  lastSortKey: string | undefined;

  constructor(private readonly windowMs: number) {}

  get size(): number {
    return this.owners.size;
  }

  /** Adds an item read from (or just appended to) the log. */
  add(item: IdLogItem): void {
    const ids: string[] = [];
    for (const entry of item.entries) {
      const owner = this.owners.get(entry.id);
      // The log holds one entry per kept id; should two ever name one id, the earlier record owns it.
      if (owner === undefined || compareSequence(entry.seq, owner) < 0) this.owners.set(entry.id, entry.seq);
      ids.push(entry.id);
    }
    this.items.push({ lastArrivedMs: item.lastArrivedMs, ids });
    if (this.lastSortKey === undefined || item.sortKey > this.lastSortKey) this.lastSortKey = item.sortKey;
    this.advance(item.lastArrivedMs);
  }

  decide(id: string, seq: string): IdDecision {
    const owner = this.owners.get(id);
    if (owner === undefined) return 'first';
    const order = compareSequence(seq, owner);
    // A record before the logged owner cannot be new on a shard read in order: it is the owner's
    // earlier delivery... which the log would name. Treat it as the owner rather than drop it.
    return order <= 0 ? 'owner' : 'duplicate';
  }

  /** Forgets items that arrived more than the window before the newest arrival seen. */
  advance(arrivedMs: number): void {
    if (arrivedMs > this.newestArrivedMs) this.newestArrivedMs = arrivedMs;
    const horizon = this.newestArrivedMs - this.windowMs;
    let drop = 0;
    while (drop < this.items.length && this.items[drop].lastArrivedMs < horizon) {
      for (const id of this.items[drop].ids) this.owners.delete(id);
      drop++;
    }
    if (drop > 0) this.items.splice(0, drop);
  }
}
