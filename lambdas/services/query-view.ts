import { lineageEntry, selectionOf, viewFingerprint } from '../core/batch-lineage';
import { servingInputs, type BatchBucket, type SpeedBucket } from '../core/merge';
import { keyProblem } from '../core/reducer';
import { granularityMs, parseTime, toIso } from '../core/time';
import type { ViewDefinition } from '../core/view';
import type { Clock } from '../ports/clock';
import {
  SpeedRowsOfAnotherDefinition,
  type BatchViewStore,
  type ControlStore,
  type ServingPointer,
  type SpeedRowStore,
} from '../ports/stores';
import { boundedAnswer, type BucketAnswer, type BucketJson } from './answer-size';
import { ServedBucketMemo } from './served-bucket-memo';

export interface QueryDeps {
  readonly views: readonly ViewDefinition[];
  readonly batch: BatchViewStore;
  readonly speed: SpeedRowStore;
  readonly control: ControlStore;
  readonly clock: Clock;
  readonly arrivalBucketMs: number;
  /**
   * Where a warm query function keeps each bucket's answer with the states it merged, so an
   * unchanged bucket is not merged and estimated again.
   * @default - every query merges every bucket
   */
  readonly served?: ServedBucketMemo;
}

export interface HttpResult {
  readonly status: number;
  readonly body: unknown;
  /** `body` as JSON, when the service had to serialize it anyway (to size it): not written twice. */
  readonly json?: string;
}

/** Most buckets one request may span, so a typo in `from` cannot scan years of cells. */
export const MAX_BUCKETS_PER_QUERY = 10_000;
const DEFAULT_RANGE_MS = 24 * 3_600_000;

/**
 * GET /views/{view}?<key field>=<value>&from=<time>&to=<time>: the merged batch ⊕ speed cells
 * of one key over [from, to), in time order. Only buckets holding data are listed.
 */
export async function queryView(
  viewName: string,
  params: Readonly<Record<string, string | undefined>>,
  deps: QueryDeps,
): Promise<HttpResult> {
  const served = deps.served ?? new ServedBucketMemo();
  return answerViewQuery(
    viewName,
    params,
    deps,
    (view, read) => {
      const cutoffMs = read.pointer?.cutoffMs ?? null;
      const key = served.of(view, read.key);
      return servingInputs(read.batchCells, read.speedRows, cutoffMs, deps.arrivalBucketMs).map((b) =>
        key.bucket(b.start, b.parts),
      );
    },
    served.json,
  );
}

/** What one answer of a view is made of: the pointer, the rows of both parts, and the answer's header. */
export interface ServingRead {
  /** The key's values, in the view's key order. */
  readonly key: readonly string[];
  readonly pointer: ServingPointer | null;
  readonly batchCells: BatchBucket[];
  readonly speedRows: SpeedBucket[];
  readonly header: Record<string, unknown>;
}

/**
 * How many times a query reads the speed rows and the pointer again when a publish moved the
 * pointer under it (see readServing): each round needs a new publish within one query's reads,
 * and runs publish minutes apart.
 */
const MAX_SERVING_READS = 4;

/**
 * Reads the speed rows of one key over [fromBucket, to), then the pointer, then the batch cells of
 * its version; or says why the published version cannot serve the view as now defined.
 *
 * The speed rows come first (ADR 028). A publish deletes the speed rows its own cutoff covers as
 * soon as it has flipped the pointer, so a row is only ever missing after a pointer that covers
 * it was published: the pointer read after the rows (strongly consistent) is that one or a newer
 * one, and its batch version holds every row the read missed. Read the other way round, a publish
 * and its deletion between the two reads would leave the rows in between in neither part.
 */
export async function readServing(
  view: ViewDefinition,
  query: { readonly key: string[]; readonly fromBucket: number; readonly to: number },
  deps: QueryDeps,
): Promise<ServingRead | { readonly stale: string }> {
  const { key, fromBucket, to } = query;
  // Rows arrived before it are left out of the read (undefined: none is): at first every row, as
  // no pointer has been read yet; after a read that met rows of another definition, the cutoff of
  // the pointer read after it, as the rows the batch version covers are not served anyway.
  let arrivedFromMs: number | undefined;
  for (let round = 1; ; round++) {
    let speedRows: SpeedBucket[] | undefined;
    try {
      speedRows = await deps.speed.query(view, key, fromBucket, to, arrivedFromMs);
    } catch (error) {
      // Rows created under another definition of the view: refused before any is decoded. Below
      // the pointer's cutoff they are not served (the read again skips them); at or after it they
      // are the answer below.
      if (!(error instanceof SpeedRowsOfAnotherDefinition)) throw error;
    }
    const pointer = await deps.control.readPointer();
    // The batch version's view, or the speed layer's origin, may be another definition. The rows
    // read above could be decoded without this check first: the store refuses a row created under
    // another definition before decoding any (ADR 022). Rows from before ADR 022 carry no
    // definition; below the cutoff they last until the next publish's cleanup.
    const stale =
      staleBatchDefinition(view, pointer) ?? (pointer ? undefined : await notFromOrigin(view, deps));
    if (stale !== undefined) return { stale };
    const covered = arrivedFromMs === undefined || (pointer !== null && pointer.cutoffMs >= arrivedFromMs);
    if (speedRows !== undefined && covered) {
      const batchCells = pointer
        ? await deps.batch.query(
            pointer.version,
            view,
            key,
            fromBucket,
            to,
            selectionOf(pointer.lineage, view.name),
          )
        : [];
      return {
        key,
        pointer,
        batchCells,
        speedRows,
        header: servingHeader(view, key, fromBucket, to, pointer),
      };
    }
    if (speedRows === undefined && (pointer === null || pointer.cutoffMs === arrivedFromMs)) {
      // Rows created under the view's old definition (a restart or deploy that changed it before a
      // batch run covered them; with no batch version yet, nothing above can tell): their states
      // are not this view's. Found by a black-box probe, 2026-12-04: a measure added while the
      // speed layer had a backlog served 82 of 400 events until the first batch run.
      return {
        stale: `view "${view.name}" changed while its speed rows were being written (before a batch run covered them); the next batch run (POST /admin/batch) recomputes it from the archive`,
      };
    }
    if (round === MAX_SERVING_READS)
      throw new Error(
        `the serving pointer moved ${round} times while one query of view "${view.name}" read it (batch runs publishing faster than a query reads); try again`,
      );
    arrivedFromMs = pointer?.cutoffMs;
  }
}

function servingHeader(
  view: ViewDefinition,
  key: readonly string[],
  fromBucket: number,
  to: number,
  pointer: ServingPointer | null,
): Record<string, unknown> {
  return {
    view: view.name,
    key: Object.fromEntries(view.key.map((field, i) => [field, key[i]])),
    granularity: view.granularity,
    from: toIso(fromBucket),
    to: toIso(to),
    cutoff: pointer ? toIso(pointer.cutoffMs) : null,
    batchVersion: pointer?.version ?? null,
  };
}

/**
 * Answers one query of a view: 404 for an unknown view, 400 for a bad key or time range or an
 * answer too large for one response (boundedAnswer), otherwise 200 with the answer's header and
 * the buckets `buckets` makes of what was read.
 */
export async function answerViewQuery(
  viewName: string,
  params: Readonly<Record<string, string | undefined>>,
  deps: QueryDeps,
  buckets: (view: ViewDefinition, read: ServingRead) => BucketAnswer['buckets'],
  bucketJson?: BucketJson,
): Promise<HttpResult> {
  const view = findView(viewName, deps.views);
  if ('status' in view) return view;
  const parsed = parseViewQuery(view, params, deps.clock.now());
  if ('problems' in parsed)
    return { status: 400, body: { error: 'invalid query', problems: parsed.problems } };
  const read = await readServing(view, parsed, deps);
  if ('stale' in read) return { status: 409, body: { error: read.stale } };
  return boundedAnswer({ ...read.header, buckets: buckets(view, read) }, bucketJson);
}

/**
 * Why the published batch version cannot serve `view` as the views module now defines it, or
 * undefined. Its cells were computed with the definition its lineage records; under another one
 * (a bucket width, a measure's field or kind, the key, the filter) they would be served as if
 * they were the new view's, and a view it does not hold would be served from speed rows alone,
 * missing the archive's history. The next batch run recomputes such a view in full
 * (`viewsNeedingFull`). A pointer without lineage (written before incremental runs) cannot tell.
 */
function staleBatchDefinition(view: ViewDefinition, pointer: ServingPointer | null): string | undefined {
  const entry = lineageEntry(pointer?.lineage, view.name);
  if (pointer?.lineage === undefined) return undefined;
  const next = 'the next batch run (POST /admin/batch)';
  if (entry === undefined)
    return `view "${view.name}" is not in batch version ${pointer.version} yet; ${next} computes it from the archive`;
  if (entry.definition !== viewFingerprint(view))
    return `view "${view.name}" changed since batch version ${pointer.version} was computed; ${next} recomputes it from the archive`;
  return undefined;
}

/**
 * Before any batch version: why the speed rows alone cannot serve `view`, or undefined. A view the
 * speed layer did not start writing with (added or changed since, SpeedRowStore.recordOrigin)
 * lacks every event processed before it: served, it would count a part of its events as all of
 * them until the first batch run (found by a black-box probe, 2026-12-04).
 */
async function notFromOrigin(view: ViewDefinition, deps: QueryDeps): Promise<string | undefined> {
  const origin = await deps.speed.readOrigin();
  if (origin === undefined || origin[view.name] === viewFingerprint(view)) return undefined;
  const what = Object.hasOwn(origin, view.name) ? 'changed' : 'was added';
  return `view "${view.name}" ${what} after the speed layer started, before any batch version; the first batch run (POST /admin/batch) computes it from the archive`;
}

/** The view named in the path, or the 404 answer naming the views there are. */
function findView(viewName: string, views: readonly ViewDefinition[]): ViewDefinition | HttpResult {
  const view = views.find((v) => v.name === viewName);
  if (view) return view;
  return { status: 404, body: { error: `unknown view "${viewName}"`, views: views.map((v) => v.name) } };
}

/**
 * Reads the key and the time range of GET /views/{view} for a view definition (shared by the
 * Lambda and the Kappa serving paths): the key values in the view's key order and the bucket
 * range [fromBucket, to), or the problems to answer 400 with.
 */
export function parseViewQuery(
  view: ViewDefinition,
  params: Readonly<Record<string, string | undefined>>,
  now: number,
): { key: string[]; fromBucket: number; to: number } | { problems: { field: string; message: string }[] } {
  const param = (name: string): string | undefined =>
    Object.prototype.hasOwnProperty.call(params, name) ? params[name] : undefined;
  const problems: { field: string; message: string }[] = [];
  const key: string[] = [];
  for (const field of view.key) {
    // Present but empty (`?page=`) is the empty key value, which events may carry.
    const value = param(field);
    if (value === undefined)
      problems.push({
        field,
        message: `query parameter ${field} is required (the view's key is ${view.key.join(', ')}; ?${field}= asks for the empty value)`,
      });
    else key.push(value);
  }
  // A misspelt parameter (`form=`) was answered for the default range as if it were not there.
  // X-Amz-* are SigV4's own when a request is signed in its query string (a presigned URL).
  const known = [...view.key, 'from', 'to'];
  for (const name of Object.keys(params))
    if (!known.includes(name) && !/^x-amz-/i.test(name))
      problems.push({
        field: name,
        message: `unknown query parameter ${JSON.stringify(name)}: GET /views/${view.name} takes ${known.join(', ')}`,
      });
  // A key the ingestion API refuses as too long to store was never stored; asking DynamoDB for it
  // fails (a partition key over 2,048 bytes is a ValidationException, a 5xx to the caller), and
  // dynalite does not check a Query's key, so only the cloud would show it.
  const tooLong = key.length === view.key.length ? keyProblem(view, key) : undefined;
  if (tooLong !== undefined)
    problems.push({
      field: view.key.join(','),
      message: `${tooLong}, so no event with this key can be accepted; shorten the key values`,
    });
  const width = granularityMs(view.granularity);
  const time = (name: 'from' | 'to', fallback: number): number => {
    const raw = param(name);
    if (raw === undefined || raw === '') return fallback;
    const parsed = parseTime(/^\d+$/.test(raw) ? Number(raw) : raw);
    if (typeof parsed === 'string') {
      problems.push({ field: name, message: `${name} ${parsed}` });
      return fallback;
    }
    return parsed;
  };
  const to = time('to', Math.floor(now / width) * width + width);
  const from = time('from', to - DEFAULT_RANGE_MS);
  if (problems.length === 0 && from >= to)
    problems.push({
      field: 'from',
      message: `from must be before to (given ${toIso(from)} and ${toIso(to)})`,
    });
  // Buckets overlapping [from, to): from the bucket holding `from` (counting from `from` itself let
  // an unaligned range through with one bucket more than the cap).
  const fromBucket = Math.floor(from / width) * width;
  if (problems.length === 0 && Math.ceil((to - fromBucket) / width) > MAX_BUCKETS_PER_QUERY) {
    problems.push({
      field: 'from',
      message: `the range spans more than ${MAX_BUCKETS_PER_QUERY} buckets of ${view.granularity}; narrow from/to`,
    });
  }
  if (problems.length > 0) return { problems };
  return { key, fromBucket, to };
}
