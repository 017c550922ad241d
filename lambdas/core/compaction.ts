import { createHash } from 'node:crypto';

/**
 * The compacted archive (ADR 011). Raw archive objects (NDJSON, by arrival time) are rewritten
 * as Parquet partitioned by event date and hour, one *generation* at a time. A generation is committed
 * only by creating its manifest `manifests/<generation>.json` (a create that fails if the key
 * exists): the manifest names the raw objects it covers and the Parquet files holding them. A
 * reader takes the committed manifests, reads their files for the raw objects they cover and
 * the raw objects no manifest covers, never both for one object. So a compaction that crashed
 * before its manifest left files nobody reads, and a repeated one either finds its generation
 * taken (and gives up) or covers only objects no manifest covers yet: nothing is read twice.
 */

/** One Parquet file of a generation: one event hour's rows of the generation's sources. */
export interface CompactedFile {
  /** Key under the compacted prefix (`g=<generation>-<id>/edt=<date>/ehr=<hour>/<name>.parquet`). */
  readonly key: string;
  /** Event date (UTC, `yyyy-MM-dd`) of every row in the file. */
  readonly eventDate: string;
  readonly rows: number;
  readonly bytes: number;
  /** Event-time and arrival-time ranges (ms) of the rows, so a reader can leave the file out. */
  readonly minTm: number;
  readonly maxTm: number;
  readonly minAm: number;
  readonly maxAm: number;
}

export interface CompactionManifest {
  readonly generation: number;
  /** Fingerprint of the sources: names the generation's files, so two attempts with different sources never share a file. */
  readonly id: string;
  /** Raw archive object keys (relative to the archive's prefix) the files hold every line of. */
  readonly sources: readonly string[];
  readonly files: readonly CompactedFile[];
  /**
   * The fields the files store as typed columns (ADR 013), beside the line and every column of
   * typed-columns.ts's TYPED_META_COLUMNS. Absent (the cloud's generations, and those written before ADR
   * 013): the files hold `line, tm, am, etype` only, and readers extract the rest from the line.
   */
  readonly typedFields?: readonly string[];
}

/** A raw archive object as the compactor sees it. */
export interface RawObject {
  /** Key relative to the archive's prefix, stable for the object's life (archive objects are immutable). */
  readonly key: string;
  /** Latest arrival time (ms) of a line in it; -Infinity for an object with no line. */
  readonly maxAm: number;
}

export interface CompactionPlan {
  readonly generation: number;
  readonly id: string;
  readonly sources: readonly string[];
  /** Where the generation's files go, under the compacted prefix. */
  readonly prefix: string;
}

/** The archive bucket's prefix of the compacted archive (beside `events/`, which Kappa replays). */
export const COMPACTED_PREFIX = 'compacted/';

/** Manifests live beside the generations' folders under the compacted prefix. */
export const MANIFEST_DIR = 'manifests';

export function manifestKey(generation: number): string {
  return `${MANIFEST_DIR}/${String(generation).padStart(10, '0')}.json`;
}

/** The generation a manifest key names, or null for any other key. */
export function generationOfManifestKey(key: string): number | null {
  const m = /^manifests\/(\d{10})\.json$/.exec(key);
  return m ? Number(m[1]) : null;
}

/**
 * Every raw object key some committed manifest covers. Two manifests covering one object would
 * make a reader count its lines twice: that throws (only a hand-made manifest can do it, since a
 * generation covers only objects no earlier manifest covers and its number is taken once).
 */
export function coveredSources(manifests: readonly CompactionManifest[]): Set<string> {
  const covered = new Set<string>();
  for (const m of manifests)
    for (const s of m.sources) {
      if (covered.has(s))
        throw new Error(
          `archive object ${s} is covered by two compaction manifests (one of them generation ${m.generation}): delete the later manifest so its lines are read once`,
        );
      covered.add(s);
    }
  return covered;
}

/**
 * The next generation: every raw object no manifest covers whose lines all arrived before
 * `beforeMs` (at least `minObjects` of them, so a frequent schedule does not write a generation
 * of tiny files per run), or null when there is nothing to do.
 */
export function planCompaction(
  manifests: readonly CompactionManifest[],
  raw: readonly RawObject[],
  beforeMs: number,
  minObjects = 1,
): CompactionPlan | null {
  const covered = coveredSources(manifests);
  const sources = raw
    .filter((o) => !covered.has(o.key) && o.maxAm < beforeMs)
    .map((o) => o.key)
    .sort();
  if (sources.length === 0 || sources.length < minObjects) return null;
  const generation = manifests.reduce((max, m) => Math.max(max, m.generation), 0) + 1;
  const id = createHash('sha256').update(sources.join('\n')).digest('hex').slice(0, 16);
  return { generation, id, sources, prefix: `g=${String(generation).padStart(10, '0')}-${id}/` };
}

/**
 * The objects the next generation takes: the oldest (keys sort by arrival partition) that no
 * manifest covers and whose lines all arrived before `beforeMs`, up to `maxObjects` (the cloud's
 * step) or `maxBytes` in all (the local engine; one object at least), so a backlog is compacted a
 * bounded piece per run.
 */
export function oldestUncovered<T extends RawObject & { readonly bytes?: number }>(
  objects: readonly T[],
  covered: ReadonlySet<string>,
  beforeMs: number,
  cap: { readonly maxObjects?: number; readonly maxBytes?: number },
): T[] {
  const eligible = objects
    .filter((o) => !covered.has(o.key) && o.maxAm < beforeMs)
    .sort((a, b) => (a.key < b.key ? -1 : 1));
  const maxObjects = cap.maxObjects ?? Infinity;
  const maxBytes = cap.maxBytes ?? Infinity;
  let taken = 0;
  let bytes = 0;
  while (taken < eligible.length && taken < maxObjects) {
    const next = eligible[taken].bytes ?? 0;
    if (taken > 0 && bytes + next > maxBytes) break;
    bytes += next;
    taken++;
  }
  return eligible.slice(0, taken);
}

/**
 * The compaction horizon of a run with this cutoff: the start of the cutoff's period (a UTC day
 * by default), so in steady state one generation per period is written and the raw tail a run
 * reads is at most about one period of arrivals.
 */
export function compactionHorizon(cutoffMs: number, periodMs: number): number {
  return Math.floor(cutoffMs / periodMs) * periodMs;
}

/** Parses a manifest, refusing anything that would make a reader skip or double an object. */
export function parseManifest(text: string, key: string): CompactionManifest {
  const fail = (what: string): never => {
    throw new Error(
      `compaction manifest ${key} ${what}: the compacted archive cannot be read safely; delete the manifest (its raw objects are then read from NDJSON again) and rerun the batch`,
    );
  };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return fail('is not JSON');
  }
  const m = parsed as Partial<CompactionManifest>;
  if (typeof m.generation !== 'number' || !Number.isInteger(m.generation) || m.generation < 1)
    fail('has no positive integer generation');
  if (generationOfManifestKey(key) !== null && generationOfManifestKey(key) !== m.generation)
    fail(`names generation ${String(m.generation)}, not the one in its key`);
  if (typeof m.id !== 'string') fail('has no id');
  if (!Array.isArray(m.sources) || !m.sources.every((s) => typeof s === 'string'))
    fail('has no list of sources');
  if (!Array.isArray(m.files)) fail('has no list of files');
  if (
    m.typedFields !== undefined &&
    !(Array.isArray(m.typedFields) && m.typedFields.every((f) => typeof f === 'string'))
  )
    fail('has typedFields that are not a list of field names');
  for (const f of m.files ?? []) {
    const numbers = [f.rows, f.bytes, f.minTm, f.maxTm, f.minAm, f.maxAm];
    if (
      typeof f.key !== 'string' ||
      typeof f.eventDate !== 'string' ||
      numbers.some((n) => typeof n !== 'number')
    )
      fail('has a file entry without key, eventDate, rows, bytes and time ranges');
  }
  return m as CompactionManifest;
}

/** The manifest of a planned generation and the files written for it, files in key order (both engines commit this). */
export function buildManifest(
  plan: CompactionPlan,
  files: readonly CompactedFile[],
  typedFields?: readonly string[],
): CompactionManifest {
  return {
    generation: plan.generation,
    id: plan.id,
    sources: plan.sources,
    files: [...files].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)),
    ...(typedFields === undefined ? {} : { typedFields: [...typedFields] }),
  };
}

/** What a committed generation holds, as a compaction reports it. */
export function generationSummary(manifest: CompactionManifest): {
  generation: number;
  sources: number;
  files: number;
  rows: number;
  bytes: number;
} {
  return {
    generation: manifest.generation,
    sources: manifest.sources.length,
    files: manifest.files.length,
    rows: manifest.files.reduce((n, f) => n + f.rows, 0),
    bytes: manifest.files.reduce((n, f) => n + f.bytes, 0),
  };
}

/** `dt=YYYY-MM-DD/hour=HH` of an arrival time, in UTC (Firehose's default prefix is UTC too). */
export function arrivalPartition(ms: number): string {
  const iso = new Date(ms).toISOString();
  return `dt=${iso.slice(0, 10)}/hour=${iso.slice(11, 13)}`;
}

/** One arrival partition of the raw archive (`dt=yyyy-MM-dd/hour=HH/`, UTC: Firehose's and the local archiver's layout). */
export interface ArrivalPartition {
  readonly dt: string;
  readonly hour: string;
}

const ARRIVAL_PARTITION = /^dt=(\d{4}-\d{2}-\d{2})\/hour=(\d{2})\//;

/** The arrival partition a raw archive key (relative to the archive prefix) lies in, or null for a key outside the layout. */
export function arrivalPartitionOfKey(key: string): ArrivalPartition | null {
  const m = ARRIVAL_PARTITION.exec(key);
  return m ? { dt: m[1], hour: m[2] } : null;
}

/**
 * A raw object as the cloud's compactor sees it without reading it: every line of an object in
 * partition `dt=D/hour=H` arrived in that hour (the archive transform partitions by the line's
 * arrival time), so its latest arrival is at most the hour's last millisecond. Null for a key
 * outside the layout (the archive's Glue table does not read it either).
 */
export function rawObjectOfKey(key: string): RawObject | null {
  const p = arrivalPartitionOfKey(key);
  if (p === null) return null;
  const start = Date.parse(`${p.dt}T${p.hour}:00:00.000Z`);
  return Number.isNaN(start) ? null : { key, maxAm: start + 3_600_000 - 1 };
}

/** The generation folder (what follows `g=`) of a compacted file key: the `g` partition value of the cloud's table. */
export function generationFolderOfKey(key: string): string {
  const m = /^g=([^/]+)\//.exec(key);
  if (!m)
    throw new Error(
      `compacted file key ${key} does not start with g=<folder>/: a manifest written by another layout`,
    );
  return m[1];
}

/**
 * Some raw objects out of every listed one, said compactly: runs of consecutive listed arrival
 * partitions whose every listed object is selected (first and last partition, inclusive), and
 * the keys themselves in partitions where only some are. A query string has a size limit
 * (Athena: 262,144 bytes) and a day holds thousands of objects, while the selected objects
 * usually fill a run of whole partitions (the raw tail, or a day to compact).
 */
export interface RawSelection {
  readonly ranges: readonly { readonly from: ArrivalPartition; readonly to: ArrivalPartition }[];
  readonly keys: readonly string[];
}

const partitionName = (p: ArrivalPartition) => `${p.dt}/${p.hour}`;

/** `selected` among `listed` (raw keys in the arrival layout; keys outside it are never selected). */
export function rawSelection(selected: readonly string[], listed: readonly string[]): RawSelection {
  const chosen = new Set(selected);
  const byPartition = new Map<string, { partition: ArrivalPartition; all: number; picked: string[] }>();
  for (const key of new Set([...listed, ...selected])) {
    const partition = arrivalPartitionOfKey(key);
    if (partition === null) continue;
    const name = partitionName(partition);
    const entry = byPartition.get(name) ?? { partition, all: 0, picked: [] };
    entry.all++;
    if (chosen.has(key)) entry.picked.push(key);
    byPartition.set(name, entry);
  }
  const ranges: { from: ArrivalPartition; to: ArrivalPartition }[] = [];
  const keys: string[] = [];
  let open: { from: ArrivalPartition; to: ArrivalPartition } | null = null;
  for (const [, { partition, all, picked }] of [...byPartition].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (picked.length > 0 && picked.length === all) {
      if (open) open.to = partition;
      else ranges.push((open = { from: partition, to: partition }));
      continue;
    }
    open = null;
    keys.push(...picked.sort());
  }
  return { ranges, keys };
}

/** Does the selection take this raw key? (What its SQL predicate matches, no more, no less.) */
export function selectionTakes(selection: RawSelection, key: string): boolean {
  const p = arrivalPartitionOfKey(key);
  if (p === null) return false;
  const name = partitionName(p);
  return (
    selection.keys.includes(key) ||
    selection.ranges.some((r) => partitionName(r.from) <= name && name <= partitionName(r.to))
  );
}

/** Splits a list into runs of at most `size` (the last one shorter). */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  if (!Number.isInteger(size) || size < 1)
    throw new Error(`chunk size must be a positive integer (given ${size})`);
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** What the committed manifests are read from (the compacted prefix of a bucket, or a folder). */
export interface ManifestSource {
  /** Keys (relative to the compacted prefix) starting with `prefix`. */
  list(prefix: string): Promise<readonly string[]>;
  readText(key: string): Promise<string>;
}

/**
 * The committed manifests, in generation order. `cache` keeps the parsed ones by key across
 * calls: a committed manifest never changes, so each is read once per process.
 */
export async function loadManifests(
  source: ManifestSource,
  cache: Map<string, CompactionManifest> = new Map(),
): Promise<CompactionManifest[]> {
  const keys = (await source.list(`${MANIFEST_DIR}/`)).filter((k) => generationOfManifestKey(k) !== null);
  const out: CompactionManifest[] = [];
  for (const key of keys) {
    let manifest = cache.get(key);
    if (!manifest) {
      manifest = parseManifest(await source.readText(key), key);
      cache.set(key, manifest);
    }
    out.push(manifest);
  }
  return out.sort((a, b) => a.generation - b.generation);
}
