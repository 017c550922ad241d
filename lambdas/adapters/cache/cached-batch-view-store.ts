import type { BatchBucket } from '../../core/merge';
import { encodeKey } from '../../core/reducer';
import type { ViewDefinition } from '../../core/view';
import type { BatchSelection } from '../../core/batch-lineage';
import type { BatchViewStore } from '../../ports/stores';

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
    const starts: number[] = [];
    for (let day = Math.floor(fromMs / DAY_MS) * DAY_MS; day < toMs; day += DAY_MS) starts.push(day);
    const days = await Promise.all(starts.map((day) => this.day(prefix, version, view, key, day, selection)));
    const out: BatchBucket[] = [];
    for (const buckets of days)
      for (const bucket of buckets) if (bucket.bucketMs >= fromMs && bucket.bucketMs < toMs) out.push(bucket);
    return out;
  }

  private async day(
    prefix: string,
    version: number,
    view: ViewDefinition,
    key: readonly string[],
    dayMs: number,
    selection: BatchSelection | undefined,
  ): Promise<readonly BatchBucket[]> {
    const id = prefix + dayMs;
    const held = this.days.get(id);
    if (held !== undefined) {
      this.hits++;
      this.days.delete(id); // most recently used last
      this.days.set(id, held);
      return held.buckets;
    }
    this.misses++;
    const buckets = await this.inner.query(version, view, key, dayMs, dayMs + DAY_MS, selection);
    const bytes = 100 + buckets.length * bucketBytes(view);
    if (bytes <= this.maxBytes) {
      this.days.set(id, { buckets, bytes });
      this.bytes += bytes;
      for (const [oldest, day] of this.days) {
        if (this.bytes <= this.maxBytes) break;
        this.days.delete(oldest);
        this.bytes -= day.bytes;
      }
    }
    return buckets;
  }
}
