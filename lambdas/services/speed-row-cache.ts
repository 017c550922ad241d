import type { StoredSpeedRow } from '../ports/stores';

/**
 * The speed rows this instance wrote last, with their revisions, so the next batch writes a row
 * without reading it first: the conditional write on the cached revision fails if anyone else
 * wrote the row since (another instance took the shard over, a redelivery ran elsewhere, the row
 * was deleted), and the service then reads it as before. With one instance per shard, the usual
 * case, that halves the DynamoDB requests and skips decoding every row.
 *
 * Bounded: the first inserted go first. A speed row takes writes only while its arrival bucket
 * is current (and from late redeliveries), so the oldest inserted is nearly always the least
 * recently used, without moving an entry to the end of the map on every hit.
 *
 * A row is handed out by take(), which empties its slot: the speed layer folds a batch into the
 * taken row in place (no sketch copy per row and batch) and puts it back only once the write of
 * that very state succeeded. So a batch of another shard running meanwhile in the same process
 * never sees a row half-folded or folded but unwritten (it misses and reads the store), and a
 * failed or lost write leaves nothing behind. Slots stay in the map while their row is out: a
 * take and a put back are one lookup each.
 */
export class SpeedRowCache {
  private readonly slots = new Map<string, { row: StoredSpeedRow | undefined }>();
  private held = 0;
  hits = 0;
  misses = 0;

  constructor(private readonly maxRows = 10_000) {}

  /** Rows held (not taken). */
  get size(): number {
    return this.held;
  }

  /** Removes and returns the row: the caller holds it alone until it set()s it back. */
  take(id: string): StoredSpeedRow | undefined {
    const slot = this.slots.get(id);
    if (slot === undefined || slot.row === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    const row = slot.row;
    slot.row = undefined;
    this.held--;
    return row;
  }

  set(id: string, row: StoredSpeedRow): void {
    const slot = this.slots.get(id);
    if (slot !== undefined) {
      if (slot.row === undefined) this.held++;
      slot.row = row;
      return;
    }
    this.slots.set(id, { row });
    this.held++;
    if (this.slots.size > this.maxRows) {
      const [oldest, old] = this.slots.entries().next().value as [
        string,
        { row: StoredSpeedRow | undefined },
      ];
      if (old.row !== undefined) this.held--;
      this.slots.delete(oldest);
    }
  }

  delete(id: string): void {
    const slot = this.slots.get(id);
    if (slot === undefined) return;
    if (slot.row !== undefined) this.held--;
    this.slots.delete(id);
  }
}
