import type { BatchBucket } from '../../core/merge';
import { encodeKey } from '../../core/reducer';
import type { ViewDefinition } from '../../core/view';
import type { BatchSelection } from '../../core/batch-lineage';
import type { BatchViewStore, DeletedPage, SegmentMatch } from '../../ports/stores';

const DAY_MS = 86_400_000;

/** Bytes a cached bucket is counted at: the object, plus a 4,096-register sketch per distinct measure. */
function bucketBytes(view: ViewDefinition): number {
  let distinct = 0;
  for (const spec of Object.values(view.measures)) if (spec.kind === 'distinct') distinct++;
  return 200 + distinct * 4_200;
}

/**
 * A published batch version never changes (a run writes new segments, then flips the pointer with
 * the lineage that selects them; ADRs 003 and 007), so the query function keeps what it read of it: per version, view, key and UTC day.
 * A warm instance then answers GET /views with one pointer read and one query of the few speed
 * rows, instead of reading every batch bucket of the range again.
 *
 * Bounded by an estimate of the bytes held (least recently used days go first). A day is read
 * whole on a miss, so a short range costs up to a day of buckets once and nothing after.
 *
 * Days missing from the cache are read as runs of consecutive days, one (paginated) query per
 * run, one run after another: a range costs as many queries as it has gaps in the cache, never
 * one per day at once. Reading each day on its own, concurrently, sent one Query per day at once
 * (up to 10,000 for a 1d view at the bucket limit): they queued for the SDK's 50 sockets, timed
 * out there ("socket did not establish a connection within 3000 ms"), used up the client's retry
 * quota, and the GET answered 502.
 */
export class CachedBatchViewStore implements BatchViewStore {
  private readonly days = new Map<string, { buckets: readonly BatchBucket[]; bytes: number }>();
  private bytes = 0;
  hits = 0;
  misses = 0;

  constructor(
    private readonly inner: BatchViewStore,
    private readonly maxBytes = 64 * 1024 * 1024,
  ) {}

  writeCells(...args: Parameters<BatchViewStore['writeCells']>): Promise<void> {
    return this.inner.writeCells(...args);
  }

  async deleteVersion(version: number): Promise<number> {
    this.forget((v) => v === version);
    return this.inner.deleteVersion(version);
  }

  async deleteSegmentsBefore(segment: number): Promise<number> {
    // Nothing served reads those segments; what was cached for versions below is not asked again.
    this.forget((v) => v < segment);
    return this.inner.deleteSegmentsBefore(segment);
  }

  async deleteSegmentsPage(segments: SegmentMatch, cursor: string | undefined): Promise<DeletedPage> {
    this.forget((v) => ('version' in segments ? v === segments.version : v < segments.before));
    return this.inner.deleteSegmentsPage(segments, cursor);
  }

  private forget(versions: (version: number) => boolean): void {
    for (const [id, day] of this.days)
      if (versions(Number(id.slice(0, id.indexOf('|'))))) {
        this.days.delete(id);
        this.bytes -= day.bytes;
      }
  }

  async query(
    version: number,
    view: ViewDefinition,
    key: readonly string[],
    fromMs: number,
    toMs: number,
    selection?: BatchSelection,
  ): Promise<BatchBucket[]> {
    // A published version's selection (its lineage) is fixed; it is in the key all the same.
    const prefix = `${version}|${JSON.stringify(selection ?? null)}|${view.name}|${encodeKey(key)}|`;
    const firstDay = Math.floor(fromMs / DAY_MS) * DAY_MS;
    const days: (readonly BatchBucket[] | undefined)[] = [];
    for (let day = firstDay; day < toMs; day += DAY_MS) days.push(this.held(prefix + day));
    for (let i = 0; i < days.length;) {
      if (days[i] !== undefined) {
        i++;
        continue;
      }
      let end = i;
      while (end < days.length && days[end] === undefined) end++;
      const runFrom = firstDay + i * DAY_MS;
      const run = await this.inner.query(version, view, key, runFrom, firstDay + end * DAY_MS, selection);
      this.misses += end - i;
      const byDay: BatchBucket[][] = Array.from({ length: end - i }, () => []);
      for (const bucket of run) byDay[Math.floor((bucket.bucketMs - runFrom) / DAY_MS)].push(bucket);
      byDay.forEach((buckets, d) => {
        days[i + d] = buckets;
        this.keep(prefix + (runFrom + d * DAY_MS), buckets, view);
      });
      i = end;
    }
    const out: BatchBucket[] = [];
    for (const buckets of days)
      for (const bucket of buckets!)
        if (bucket.bucketMs >= fromMs && bucket.bucketMs < toMs) out.push(bucket);
    return out;
  }

  /** A day's buckets if held (it becomes the most recently used), else undefined. */
  private held(id: string): readonly BatchBucket[] | undefined {
    const held = this.days.get(id);
    if (held === undefined) return undefined;
    this.hits++;
    this.days.delete(id); // most recently used last
    this.days.set(id, held);
    return held.buckets;
  }

  /** Holds a day read from the store, then drops the least recently used days past the bound. */
  private keep(id: string, buckets: readonly BatchBucket[], view: ViewDefinition): void {
    const bytes = 100 + buckets.length * bucketBytes(view);
    if (bytes > this.maxBytes) return;
    this.days.set(id, { buckets, bytes });
    this.bytes += bytes;
    for (const [oldest, day] of this.days) {
      if (this.bytes <= this.maxBytes) break;
      this.days.delete(oldest);
      this.bytes -= day.bytes;
    }
  }
}
