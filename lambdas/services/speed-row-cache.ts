import type { StoredSpeedRow } from '../ports/stores';

/**
 * The speed rows this instance wrote last, with their revisions, so the next batch writes a row
 * without reading it first: the conditional write on the cached revision fails if anyone else
 * wrote the row since (another instance took the shard over, a redelivery ran elsewhere, the row
 * was deleted), and the service then reads it as before. With one instance per shard, the usual
 * case, that halves the DynamoDB requests and skips decoding every row.
 *
 * Bounded: the oldest entries go first (a Map keeps insertion order; a hit moves to the end).
 *
 * A row is handed out by take(), which removes it: the speed layer folds a batch into the taken
 * row in place (no sketch copy per row and batch) and puts it back only once the write of that very
 * state succeeded. So a batch of another shard running meanwhile in the same process never sees a
 * row half-folded or folded but unwritten (it misses and reads the store), and a failed or lost
 * write leaves nothing behind.
 */
export class SpeedRowCache {
  private readonly rows = new Map<string, StoredSpeedRow>();
  hits = 0;
  misses = 0;

  constructor(private readonly maxRows = 10_000) {}

  get size(): number {
    return this.rows.size;
  }

  /** Removes and returns the row: the caller holds it alone until it set()s it back. */
  take(id: string): StoredSpeedRow | undefined {
    const row = this.rows.get(id);
    if (row === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.rows.delete(id);
    return row;
  }

  set(id: string, row: StoredSpeedRow): void {
    this.rows.delete(id);
    this.rows.set(id, row);
    if (this.rows.size > this.maxRows) this.rows.delete(this.rows.keys().next().value as string);
  }

  delete(id: string): void {
    this.rows.delete(id);
  }
}
