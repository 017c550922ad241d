import { createHash } from 'node:crypto';
import type { ViewDefinition } from './view';
import { MAX_TIME_MS, MIN_TIME_MS } from './time';

/**
 * Incremental batch runs (ADR 007). Each run writes the cells it recomputes as its own
 * *segment* (numbered by its version); cells it does not touch are carried forward from the
 * segments before it, never rewritten. The published state of version `v` of a view is, per
 * (key, bucket), the copy of the newest segment `s` with `base <= s <= v` that is not skipped:
 * `base` is the view's last full recomputation, `skip` the numbers of runs that never published
 * (a failed or lost run may leave cells behind). A later run only adds segments above `v`, so
 * the state of a published version never changes while it is served or kept for rollback.
 */
export interface ViewLineage {
  /** Segment of the view's last full recomputation. */
  readonly base: number;
  /** Fingerprint of the view definition the base and every segment above it were computed with. */
  readonly definition: string;
}

export interface PublishedLineage {
  readonly views: Readonly<Record<string, ViewLineage>>;
  /** Half-open ranges [from, to) of segment numbers that never published (ascending). */
  readonly skip: readonly (readonly [number, number])[];
}

/** What a reader needs to pick a view's cells of one published version. */
export interface BatchSelection {
  readonly base: number;
  readonly skip: readonly (readonly [number, number])[];
}

/** Fingerprints of frozen definitions (validateView's): the query path asks for one per request and the speed store per row write. */
const fingerprints = new WeakMap<ViewDefinition, string>();

/** A short, stable fingerprint of what decides a view's cells (name and order of keys included). */
export function viewFingerprint(view: ViewDefinition): string {
  const known = fingerprints.get(view);
  if (known !== undefined) return known;
  const fingerprint = computeFingerprint(view);
  if (Object.isFrozen(view)) fingerprints.set(view, fingerprint);
  return fingerprint;
}

function computeFingerprint(view: ViewDefinition): string {
  const canonical = JSON.stringify({
    eventType: view.eventType,
    key: view.key,
    granularity: view.granularity,
    measures: Object.entries(view.measures).map(([name, spec]) => [name, spec.kind, spec.field ?? null]),
    where: Object.entries(view.where).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  });
  return createHash('sha256').update(canonical, 'utf8').digest('hex').slice(0, 16);
}

/** Is `segment` part of the state of `version` under `selection` (no selection: a whole version)? */
export function isVisible(segment: number, version: number, selection: BatchSelection | undefined): boolean {
  if (selection === undefined) return segment === version;
  if (segment < selection.base || segment > version) return false;
  return !selection.skip.some(([from, to]) => segment >= from && segment < to);
}

/** Per bucket, the copy of the newest visible segment; buckets in ascending order. */
export function newestVisible<T extends { readonly bucketMs: number; readonly segment: number }>(
  copies: readonly T[],
  version: number,
  selection: BatchSelection | undefined,
): T[] {
  const best = new Map<number, T>();
  for (const copy of copies) {
    if (!isVisible(copy.segment, version, selection)) continue;
    const found = best.get(copy.bucketMs);
    if (found === undefined || copy.segment > found.segment) best.set(copy.bucketMs, copy);
  }
  return [...best.values()].sort((a, b) => a.bucketMs - b.bucketMs);
}

/**
 * The lineage entry of the view named `view`, or undefined when the lineage holds none. Only own
 * members count: view names are `[a-z0-9_]+`, so `__proto__` and `constructor` are valid names,
 * and a plain lookup would find Object.prototype's members for a view the lineage does not hold.
 */
export function lineageEntry(lineage: PublishedLineage | undefined, view: string): ViewLineage | undefined {
  return lineage !== undefined && Object.hasOwn(lineage.views, view) ? lineage.views[view] : undefined;
}

/** The selection of one view in a published lineage, or undefined for a pointer without one. */
export function selectionOf(lineage: PublishedLineage | undefined, view: string): BatchSelection | undefined {
  const entry = lineageEntry(lineage, view);
  return entry === undefined ? undefined : { base: entry.base, skip: lineage!.skip };
}

/**
 * The lineage after run `version` publishes on top of `previous` (version `previousVersion`):
 * the numbers between the two never published, so they join `skip`; views in `fullViews` start
 * a new base at `version`. Skip ranges below every base are dropped (nothing reads them).
 */
export function nextLineage(
  previous: PublishedLineage | undefined,
  previousVersion: number | null,
  version: number,
  views: readonly ViewDefinition[],
  fullViews: ReadonlySet<string>,
): PublishedLineage {
  // No prototype: on a plain object, `entries.__proto__ = ...` replaced the prototype instead of
  // adding a member, so a view named `__proto__` was left out of every published lineage and its
  // queries answered 409 ("changed since batch version ...") after every run.
  const entries = Object.create(null) as Record<string, ViewLineage>;
  for (const view of views) {
    const before = lineageEntry(previous, view.name);
    entries[view.name] =
      fullViews.has(view.name) || before === undefined
        ? { base: version, definition: viewFingerprint(view) }
        : before;
  }
  const skip = [...(previous?.skip ?? [])];
  if (previousVersion !== null && previousVersion + 1 < version) skip.push([previousVersion + 1, version]);
  const lowestBase = Math.min(...Object.values(entries).map((e) => e.base));
  return { views: entries, skip: skip.filter(([, to]) => to > lowestBase) };
}

/** Views a run must recompute in full: asked for, new, changed, or no lineage to build on. */
export function viewsNeedingFull(
  views: readonly ViewDefinition[],
  previous: PublishedLineage | undefined,
  full: boolean,
): Set<string> {
  return new Set(
    views
      .filter((view) => {
        if (full || previous === undefined) return true;
        const before = lineageEntry(previous, view.name);
        return before === undefined || before.definition !== viewFingerprint(view);
      })
      .map((view) => view.name),
  );
}

/** Bucket-aligned event-time ranges [fromMs, toMs), ascending and disjoint. */
export interface BucketRange {
  readonly fromMs: number;
  readonly toMs: number;
}

/** Most ranges one query filters on; beyond it the closest ranges are joined (a superset is correct). */
export const MAX_BUCKET_RANGES = 500;

/**
 * Joins bucket starts (any order, repeats allowed) into ranges of contiguous buckets, then joins
 * the ranges with the smallest gaps until at most `maxRanges` remain: recomputing a bucket no new
 * event touched gives the cells it already had, so a superset costs reads, never correctness.
 */
export function bucketRanges(
  bucketStarts: readonly number[],
  widthMs: number,
  maxRanges = MAX_BUCKET_RANGES,
): BucketRange[] {
  const sorted = [...new Set(bucketStarts)].sort((a, b) => a - b);
  const ranges: { fromMs: number; toMs: number }[] = [];
  for (const start of sorted) {
    const last = ranges.at(-1);
    if (last && last.toMs === start) last.toMs = start + widthMs;
    else ranges.push({ fromMs: start, toMs: start + widthMs });
  }
  while (ranges.length > maxRanges) {
    let at = 0;
    for (let i = 1; i < ranges.length - 1; i++)
      if (ranges[i + 1].fromMs - ranges[i].toMs < ranges[at + 1].fromMs - ranges[at].toMs) at = i;
    ranges.splice(at, 2, { fromMs: ranges[at].fromMs, toMs: ranges[at + 1].toMs });
  }
  return ranges;
}

/** The bucket-aligned range covering the event times [fromMs, toMs) (a backfill request). */
export function coveringRange(fromMs: number, toMs: number, widthMs: number): BucketRange {
  return {
    fromMs: Math.floor(fromMs / widthMs) * widthMs,
    toMs: Math.ceil(toMs / widthMs) * widthMs,
  };
}

/**
 * How far apart in event time the batch layer looks for the copies of one id. A producer that
 * stamps `time` anew when it retries sends copies with different times, and the copy kept (the
 * earliest to arrive) may lie in a bucket the run does not recompute: an incremental run that
 * ranked only the recomputed buckets' events counted the later copy as well (a black-box probe,
 * 2026-12-04: a retry 200 ms later across a minute edge was counted twice until a full run). Every
 * read that dedupes the events of some buckets reads this much event time on either side of
 * them; copies further apart are counted once by a full run, Kappa and the speed layer's dedupe
 * window, and possibly twice by incremental runs (README, Exactness). An hour: several times the
 * speed layer's default 15-minute window, at the price of up to two more event hours per range read.
 */
export const COPY_TIME_HORIZON_MS = 3_600_000;

/**
 * The event times a run must read to dedupe the events of `buckets` exactly: each range widened by
 * COPY_TIME_HORIZON_MS on both sides (no longer bucket-aligned: only archive objects are pruned
 * by them, the cells still come from `buckets` alone).
 */
export function copyTimeRanges(buckets: readonly BucketRange[]): BucketRange[] {
  // Within the times an event can have (1970 to 9999): an hour past 9999 prints as `+010000-...`,
  // which sorts before every date in the cloud's partition filter and left year 9999 out.
  return unionRanges(
    buckets.map((r) => ({
      fromMs: Math.max(MIN_TIME_MS, r.fromMs - COPY_TIME_HORIZON_MS),
      toMs: Math.min(MAX_TIME_MS + 1, r.toMs + COPY_TIME_HORIZON_MS),
    })),
    [],
  );
}

/** Union of two range lists, as ranges again. */
export function unionRanges(a: readonly BucketRange[], b: readonly BucketRange[]): BucketRange[] {
  const all = [...a, ...b].sort((x, y) => x.fromMs - y.fromMs);
  const out: { fromMs: number; toMs: number }[] = [];
  for (const r of all) {
    const last = out.at(-1);
    if (last && r.fromMs <= last.toMs) last.toMs = Math.max(last.toMs, r.toMs);
    else out.push({ ...r });
  }
  return out;
}
