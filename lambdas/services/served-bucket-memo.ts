import { finalizeRow, identityRow, mergeRows, type MeasureValue, type RowState } from '../core/measures';
import { encodeKey } from '../core/reducer';
import { toIso } from '../core/time';
import type { ViewDefinition } from '../core/view';

interface Answer {
  readonly parts: readonly RowState[];
  readonly bucket: ServedBucketAnswer;
}

/** One bucket as GET /views/{view} lists it. */
export interface ServedBucketAnswer {
  readonly start: string;
  readonly measures: Record<string, MeasureValue>;
}

/**
 * The served measures of each bucket a query function answered, with the states they were
 * merged from. A bucket whose parts are the very same state objects as last time (the batch
 * cell from the cache of its published version, the speed rows from the decoded-row cache,
 * which hands out the same object while the row is unchanged) gets the same answer without
 * merging its sketches and estimating them again. States are never mutated (the merge builds new
 * ones), so the same objects mean the same values; a changed, added or dropped part is a
 * different list and the bucket is merged again. The answers handed out are shared: callers
 * only serialize them.
 *
 * Bounded by the number of buckets held, over all keys; the first-answered key goes first.
 */
export class ServedBucketMemo {
  private readonly keys = new Map<string, Map<number, Answer>>();
  /** The JSON text of each bucket answer handed out, while the answer is held. */
  private readonly texts = new WeakMap<object, string>();
  private held = 0;
  hits = 0;
  misses = 0;

  /** @param maxBuckets buckets held at most. @default 200,000 */
  constructor(private readonly maxBuckets = 200_000) {}

  /** The buckets of one key of a view, to look its buckets up with `bucket`. */
  of(view: ViewDefinition, key: readonly string[]): ServedKey {
    const id = `${view.name}|${encodeKey(key)}`;
    let answers = this.keys.get(id);
    if (answers === undefined) {
      answers = new Map();
      this.keys.set(id, answers);
    }
    return new ServedKey(view, answers, this, id);
  }

  /** Bookkeeping of ServedKey: `added` buckets more are held; drops the oldest keys past the bound (never `keep`). */
  noteAdded(added: number, keep: string): void {
    this.held += added;
    for (const [id, answers] of this.keys) {
      if (this.held <= this.maxBuckets) break;
      if (id === keep) continue;
      this.keys.delete(id);
      this.held -= answers.size;
    }
    // One key alone past the bound (ranges over ever more days): it starts again.
    const own = this.keys.get(keep);
    if (this.held > this.maxBuckets && own !== undefined) {
      this.held -= own.size;
      own.clear();
    }
  }

  /**
   * The JSON text of a bucket answer: kept with it, as answers are never mutated, so an unchanged
   * bucket is not serialized again either. Any other object is serialized as it is.
   */
  readonly json = (bucket: object): string => {
    let text = this.texts.get(bucket);
    if (text === undefined) {
      text = JSON.stringify(bucket);
      this.texts.set(bucket, text);
    }
    return text;
  };

  /** Buckets held now. */
  get size(): number {
    return this.held;
  }
}

/** The memo of one key of a view (see ServedBucketMemo). */
export class ServedKey {
  constructor(
    private readonly view: ViewDefinition,
    private readonly answers: Map<number, Answer>,
    private readonly memo: ServedBucketMemo,
    private readonly id: string,
  ) {}

  /** Bucket `start` as served, merged from `parts` (batch cell first, then speed rows). */
  bucket(start: number, parts: readonly RowState[]): ServedBucketAnswer {
    const held = this.answers.get(start);
    if (held !== undefined && sameParts(held.parts, parts)) {
      this.memo.hits++;
      return held.bucket;
    }
    this.memo.misses++;
    const view = this.view;
    const bucket = {
      start: toIso(start),
      measures: finalizeRow(
        view,
        parts.reduce((merged, part) => mergeRows(view, merged, part), identityRow(view)),
      ),
    };
    this.answers.set(start, { parts: [...parts], bucket });
    if (held === undefined) this.memo.noteAdded(1, this.id);
    return bucket;
  }
}

function sameParts(a: readonly RowState[], b: readonly RowState[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
