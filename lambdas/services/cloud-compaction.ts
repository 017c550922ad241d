import {
  buildManifest,
  chunks,
  compactionHorizon,
  coveredSources,
  generationSummary,
  loadManifests,
  manifestKey,
  oldestUncovered,
  planCompaction,
  rawObjectOfKey,
  rawSelection,
  selectionTakes,
  type CompactedFile,
  type CompactionManifest,
  type CompactionPlan,
  type RawObject,
  type RawSelection,
} from '../core/compaction';
import { type AthenaArchiveTables, type EventHour } from '../core/archive-source-sql';
import {
  athenaAddPartitionsSql,
  athenaCompactedStatsSql,
  athenaCompactionPartitionsSql,
  athenaCompactionUnloadSql,
  UNLOAD_MAX_PARTITIONS,
  type CompactedPartition,
} from '../core/compaction-sql';
import { typedFields } from '../core/typed-columns';
import type { ViewDefinition } from '../core/view';
import type { CompactionResult } from '../ports/archive-compactor';
import type { Clock } from '../ports/clock';
import type { AsyncQueries, CompactedObjects, RawArchiveListing } from '../ports/cloud-compaction';

/**
 * The cloud's compaction (ADR 011): the same plan and manifest as the local compactor
 * (core/compaction.ts), with Athena doing the rewriting. It runs as steps of the batch state
 * machine, each starting Athena queries and returning at once; the state machine polls them
 * and calls the next step, so no Lambda waits for a long query:
 *
 *   start: list the manifests and the raw objects, plan generation n (the objects no manifest
 *     covers whose arrival hour ended before the run cutoff's period), write the plan aside,
 *     start the query for the generation's event-hour partitions and row count;
 *   partitions done: start one UNLOAD per at most 100 partitions into a folder of this attempt
 *     (`g=<n>-<sources id>-<ms>-<attempt>/c=<k>/edt=.../ehr=.../`) and register those partitions;
 *   unloads done: start the per-file statistics query over the new folder;
 *   statistics done: check the rows and that the UNLOADs read only the planned objects, then
 *     create `manifests/<n>.json` unless it exists. Created: the generation counts. Existing:
 *     another run committed n first; replan.
 *
 * A crash or failure anywhere before the manifest leaves files and partitions no manifest names:
 * no reader reads them (readers take the `g` folders of committed manifests only).
 */
export interface CloudCompactionDeps {
  readonly store: CompactedObjects;
  readonly raw: RawArchiveListing;
  readonly queries: AsyncQueries;
  readonly tables: AthenaArchiveTables;
  /** `s3://<bucket>/<compacted prefix>`: where UNLOAD writes and what `"$path"` of a compacted file starts with. */
  readonly compactedLocation: string;
  readonly clock: Clock;
  /** Objects are compacted once their arrival hour ended before the start of the run cutoff's period. */
  readonly periodMs: number;
  /** Fewest uncovered objects worth a generation (default 1). */
  readonly minObjects?: number;
  /**
   * Most objects in one generation, the oldest first (default MAX_GENERATION_OBJECTS): a backlog
   * (compaction turned on over a long archive) is compacted over several runs instead of in one
   * generation whose queries would pass the workgroup's bytes-scanned cutoff and fail every run.
   */
  readonly maxObjects?: number;
  /**
   * The deployed views: the generation's files store `typedFields(views)` as typed columns beside
   * the line (ADR 019), the set the local compaction stores and the Glue table declares. Absent:
   * the files hold `line, tm, am, etype` only, as before ADR 019.
   */
  readonly views?: readonly ViewDefinition[];
  /** Parsed manifests by key, kept across steps of a warm function (a committed manifest never changes). */
  readonly manifestCache?: Map<string, CompactionManifest>;
}

/** Most objects in one generation by default: 3.5 days of a 60 s buffer's objects (1,440 a day). */
export const MAX_GENERATION_OBJECTS = 5000;

/** How many times a step plans again after losing its generation before it gives up for this run. */
export const MAX_COMPACTION_ATTEMPTS = 3;

interface Attempt {
  readonly cutoffMs: number;
  /** 1 for the first plan of this run, +1 after each lost or abandoned one. */
  readonly attempt: number;
  readonly generation: number;
  /** The folder (`g` value) of this attempt's files. */
  readonly folder: string;
}

/** Where a compaction stands between two steps: small, so it travels as Step Functions state. */
export type CompactionStep =
  | (Attempt & { readonly phase: 'partitions'; readonly queries: readonly [string] })
  | (Attempt & { readonly phase: 'unload'; readonly rows: number; readonly queries: readonly string[] })
  | (Attempt & { readonly phase: 'stats'; readonly rows: number; readonly queries: readonly [string] })
  | { readonly phase: 'done'; readonly result: CompactionResult; readonly queries: readonly [] };

/** The plan of an attempt, kept beside the generations (its sources are too many for the state). */
interface AttemptPlan {
  readonly plan: CompactionPlan;
  readonly selection: RawSelection;
  /**
   * The typed fields its UNLOADs write and its manifest names, fixed at the plan: a deployment
   * between two steps of an attempt must not make the manifest name columns the files lack.
   */
  readonly fields?: readonly string[];
}

const attemptKey = (folder: string) => `attempts/${folder}.json`;

async function rawObjects(
  deps: CloudCompactionDeps,
): Promise<{ keys: readonly string[]; objects: RawObject[] }> {
  const keys = await deps.raw.listKeys();
  return { keys, objects: keys.map(rawObjectOfKey).filter((o): o is RawObject => o !== null) };
}

/** Plans the next generation for a run with this cutoff and starts its first query. */
export async function startCompaction(
  deps: CloudCompactionDeps,
  cutoffMs: number,
  attempt = 1,
): Promise<CompactionStep> {
  const manifests = await loadManifests(deps.store, deps.manifestCache);
  const { keys, objects } = await rawObjects(deps);
  const covered = coveredSources(manifests);
  const horizon = compactionHorizon(cutoffMs, deps.periodMs);
  const candidates = oldestUncovered(objects, covered, horizon, {
    maxObjects: deps.maxObjects ?? MAX_GENERATION_OBJECTS,
  });
  const plan = planCompaction(manifests, candidates, horizon, deps.minObjects ?? 1);
  if (plan === null) return done({ status: 'nothing-to-do' });
  // New for every attempt (a retry in the same millisecond too): UNLOAD needs an empty target, and no
  // partition of an earlier attempt is ever re-pointed.
  const folder = `${plan.prefix.slice('g='.length, -1)}-${deps.clock.now()}-${attempt}`;
  const selection = rawSelection(plan.sources, keys);
  const kept: AttemptPlan = {
    plan,
    selection,
    ...(deps.views === undefined ? {} : { fields: typedFields(deps.views) }),
  };
  await deps.store.putText(attemptKey(folder), JSON.stringify(kept));
  const id = await deps.queries.start(athenaCompactionPartitionsSql(deps.tables, selection));
  return { phase: 'partitions', cutoffMs, attempt, generation: plan.generation, folder, queries: [id] };
}

/** The next step once every query of `step` succeeded. */
export async function advanceCompaction(
  deps: CloudCompactionDeps,
  step: CompactionStep,
): Promise<CompactionStep> {
  if (step.phase === 'done') return step;
  const kept = JSON.parse(await deps.store.readText(attemptKey(step.folder))) as AttemptPlan;
  const { phase: _, queries: __, ...attempt } = step;
  switch (step.phase) {
    case 'partitions': {
      const rows = await deps.queries.rows(step.queries[0]);
      const hours: EventHour[] = rows.map((r) => ({ edt: String(r.edt), ehr: String(r.ehr) }));
      const total = rows.reduce((n, r) => n + Number(r.n), 0);
      // Objects with no line: the manifest covers them with no file.
      if (hours.length === 0) return commit(deps, attempt, kept, []);
      const queries: string[] = [];
      for (const [k, part] of chunks(hours, UNLOAD_MAX_PARTITIONS).entries()) {
        const location = `${deps.compactedLocation}g=${step.folder}/c=${String(k).padStart(3, '0')}/`;
        queries.push(
          await deps.queries.start(
            athenaCompactionUnloadSql(deps.tables, kept.selection, part, location, kept.fields),
          ),
        );
        const partitions: CompactedPartition[] = part.map((h) => ({
          g: step.folder,
          ...h,
          location: `${location}edt=${h.edt}/ehr=${h.ehr}/`,
        }));
        queries.push(await deps.queries.start(athenaAddPartitionsSql(deps.tables, partitions)));
      }
      return { ...attempt, phase: 'unload', rows: total, queries };
    }
    case 'unload': {
      const id = await deps.queries.start(athenaCompactedStatsSql(deps.tables, step.folder));
      return { ...attempt, phase: 'stats', rows: step.rows, queries: [id] };
    }
    case 'stats': {
      const stats = await deps.queries.rows(step.queries[0]);
      const rows = stats.reduce((n, r) => n + Number(r.n), 0);
      if (rows !== step.rows)
        return retry(deps, attempt, `the files hold ${rows} rows, the planned objects ${step.rows}`);
      const sizes = new Map(
        (await deps.store.listSized(`g=${step.folder}/`)).map(({ key, bytes }) => [key, bytes]),
      );
      const files: CompactedFile[] = stats.map((r) => {
        const key = String(r.path).slice(deps.compactedLocation.length);
        const bytes = sizes.get(key);
        const eventDate = /\/edt=(\d{4}-\d{2}-\d{2})\//.exec(key)?.[1];
        if (
          !String(r.path).startsWith(deps.compactedLocation) ||
          bytes === undefined ||
          eventDate === undefined
        )
          throw new Error(
            `compaction statistics name ${String(r.path)}, not a file under ${deps.compactedLocation}g=${step.folder}/.../edt=<date>/: the compacted table's partitions point elsewhere; check the table in Glue`,
          );
        return {
          key,
          eventDate,
          rows: Number(r.n),
          bytes,
          minTm: Number(r.min_tm),
          maxTm: Number(r.max_tm),
          minAm: Number(r.min_am),
          maxAm: Number(r.max_am),
        };
      });
      return commit(deps, attempt, kept, files);
    }
  }
}

/**
 * Creates the generation's manifest, unless an object the UNLOADs may have read is not one of
 * its sources: the whole-partition predicates take every object in those partitions, so one
 * that appeared there after the plan (only a Firehose delivery later than the archive's worst
 * case can do that) would be in the files without the manifest covering it, and read twice.
 * Such an attempt is abandoned and planned again. Listing after the UNLOADs finished sees
 * every object they could have read (S3 lists are strongly consistent).
 */
async function commit(
  deps: CloudCompactionDeps,
  attempt: Attempt,
  kept: AttemptPlan,
  files: readonly CompactedFile[],
): Promise<CompactionStep> {
  const sources = new Set(kept.plan.sources);
  const covered = coveredSources(await loadManifests(deps.store, deps.manifestCache));
  const stray = (await deps.raw.listKeys()).find(
    (k) => selectionTakes(kept.selection, k) && !sources.has(k) && !covered.has(k),
  );
  if (stray !== undefined)
    return retry(deps, attempt, `${stray} appeared in a compacted partition after the plan`);
  const manifest = buildManifest(kept.plan, files, kept.fields);
  const key = manifestKey(kept.plan.generation);
  const text = JSON.stringify(manifest);
  if (!(await deps.store.createIfAbsent(key, text))) {
    // The SDK sends a put again when its answer was lost, and S3 refuses the resend (412) on the
    // object the first one created: the manifest there, with this plan's id, is this commit.
    if ((await deps.store.readText(key)) !== text) return retry(deps, attempt, undefined);
  }
  return done({ status: 'committed', ...generationSummary(manifest) });
}

/** Plans again (the objects are still uncovered); `reason` absent: another run committed the generation. */
async function retry(
  deps: CloudCompactionDeps,
  attempt: Attempt,
  reason: string | undefined,
): Promise<CompactionStep> {
  const result: CompactionResult =
    reason === undefined
      ? { status: 'lost', generation: attempt.generation }
      : { status: 'abandoned', generation: attempt.generation, reason };
  if (attempt.attempt >= MAX_COMPACTION_ATTEMPTS) return done(result);
  return startCompaction(deps, attempt.cutoffMs, attempt.attempt + 1);
}

function done(result: CompactionResult): CompactionStep {
  return { phase: 'done', result, queries: [] };
}
