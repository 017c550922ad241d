import type { StoredSpeedRow } from '../ports/stores';

/**
 * The speed rows this instance wrote last, with their revisions, so the next batch writes a row
 * without reading it first: the conditional write on the cached revision fails if anyone else
 * wrote the row since (another instance took the shard over, a redelivery ran elsewhere, the row
 * was deleted), and the service then reads it as before. With one instance per shard, the usual
 * case, that halves the DynamoDB requests and skips decoding every row.
 *
 * Bounded twice: by count, the oldest entries first (a Map keeps insertion order; a hit moves to
 * the end), and by arrival: a row is written again only while records of its arrival bucket still
 * come, and a shard's arrivals only move forward, so rows of arrival buckets more than
 * `keepArrivalsMs` before the newest one cached are dropped from the front. At the soak's 1,000
 * events/s with 1 s arrival buckets the count bound alone held 10,000 rows (40 MB of the speed
 * worker's heap, most of them never written again), for the hit rate that the last minute's rows
 * give (bench/speed-memory.ts). A row dropped too early only costs a read.
 *
 * A row is handed out by take(), which removes it: the speed layer folds a batch into the taken
 * row in place (no sketch copy per row and batch) and puts it back only once the write of that very
 * state succeeded. So a batch of another shard running meanwhile in the same process never sees a
 * row half-folded or folded but unwritten (it misses and reads the store), and a failed or lost
 * write leaves nothing behind.
 */
export class SpeedRowCache {
  private readonly rows = new Map<
    string,
    { readonly stored: StoredSpeedRow; readonly arrivalBucketMs: number }
  >();
  private newestArrivalMs = Number.NEGATIVE_INFINITY;
  hits = 0;
  misses = 0;

  /**
   * @param maxRows rows held at most. @default 10_000
   * @param keepArrivalsMs how far behind the newest arrival bucket cached a row's may be. @default 60_000
   */
  constructor(
    private readonly maxRows = 10_000,
    private readonly keepArrivalsMs = 60_000,
  ) {}

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
    return row.stored;
  }

  /** Caches the row as written; `arrivalBucketMs` is the start of its arrival bucket. */
  set(id: string, row: StoredSpeedRow, arrivalBucketMs: number): void {
    this.rows.delete(id);
    this.rows.set(id, { stored: row, arrivalBucketMs });
    if (arrivalBucketMs > this.newestArrivalMs) this.newestArrivalMs = arrivalBucketMs;
    const horizon = this.newestArrivalMs - this.keepArrivalsMs;
    for (const [oldest, entry] of this.rows) {
      if (this.rows.size <= this.maxRows && entry.arrivalBucketMs >= horizon) break;
      this.rows.delete(oldest);
    }
  }

  delete(id: string): void {
    this.rows.delete(id);
  }

  /**
   * Keys (a view's key, over all its buckets) whose rows another writer changed under this
   * instance: with several shards, each served by an instance of its own, a popular key's rows are
   * written by every shard every second, so the cached revision is usually stale and the write on
   * it fails. DynamoDB bills a failed conditional write like a write (at least one unit) and a
   * strongly consistent read of an item under 4 KB one read unit, a fifth of the price: for these
   * keys the speed layer reads the row first (bench/run.ts simulates the shards: at 100M events a
   * month on 4 shards this took the failed writes from 0.55 to 0.15 per event). Marked only when a
   * write on the revision this instance wrote fails (not when a blind create finds the row: a new
   * instance's empty cache says nothing about sharing). Never unmarked but by count, the least
   * recently marked first: the ingestion API's partition keys are event ids, so a busy key's events
   * reach every shard and its rows stay shared; unmarking on a read that finds this instance's own
   * last write made marks flap and cost more failed writes (0.22 an event against 0.15 at 100M,
   * bench/run.ts), and a key that did stop being shared costs a read per write, a fifth of a
   * failed write.
   */
  private readonly contended = new Map<string, true>();

  /** Whether rows of this row's key were changed by another writer lately (markContended). */
  isContended(id: string): boolean {
    return this.contended.size > 0 && this.contended.has(contentionKey(id));
  }

  /** Notes that another writer changed a row of this row's key since this instance last saw it. */
  markContended(id: string): void {
    const key = contentionKey(id);
    this.contended.delete(key);
    this.contended.set(key, true);
    if (this.contended.size > this.maxRows)
      this.contended.delete(this.contended.keys().next().value as string);
  }
}

/** A row id (speedRowId: view, key, bucket, arrival bucket) without its two buckets. */
function contentionKey(id: string): string {
  return id.slice(0, id.lastIndexOf('|', id.lastIndexOf('|') - 1));
}
