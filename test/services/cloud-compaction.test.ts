import fc from 'fast-check';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  coveredSources,
  generationFolderOfKey,
  loadManifests,
  rawSelection,
} from '../../lambdas/core/compaction';
import { athenaSource, rawSelectionSql } from '../../lambdas/core/archive-source-sql';
import { UNLOAD_MAX_PARTITIONS } from '../../lambdas/core/compaction-sql';
import {
  advanceCompaction,
  startCompaction,
  type CloudCompactionDeps,
  type CompactionStep,
} from '../../lambdas/services/cloud-compaction';
import { AthenaInDuckDb, FolderCompactedObjects } from '../fixtures/athena-in-duckdb';
import { ManualClock } from './in-memory-stores';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 10, 24);
const roots: string[] = [];
const harnesses: AthenaInDuckDb[] = [];
afterAll(async () => {
  for (const h of harnesses) await h.close();
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

/** A bucket folder with its Athena stand-in and the compaction's dependencies. */
function bucket(periodMs = DAY) {
  const dir = mkdtempSync(path.join(tmpdir(), 'streamfold-cloud-compaction-'));
  roots.push(dir);
  const athena = new AthenaInDuckDb(dir);
  harnesses.push(athena);
  const store = new FolderCompactedObjects(path.join(dir, 'compacted'));
  const listKeys = async () => {
    const { readdirSync } = await import('node:fs');
    const events = path.join(dir, 'events');
    try {
      return readdirSync(events, { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile())
        .map((e) => path.relative(events, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
        .sort();
    } catch {
      return [];
    }
  };
  const clock = new ManualClock(T0 + 10 * DAY);
  const deps = (): CloudCompactionDeps => ({
    store,
    raw: { listKeys },
    queries: athena,
    tables: athena.tables,
    compactedLocation: athena.compactedLocation,
    clock,
    periodMs,
  });
  let n = 0;
  /** Writes a raw object of `count` events arriving in hour `arrivalHour`, with these event times. */
  const put = (arrivalHour: number, eventTimes: readonly number[], name = `o${++n}`): string => {
    const iso = new Date(T0 + arrivalHour * HOUR).toISOString();
    const key = `dt=${iso.slice(0, 10)}/hour=${iso.slice(11, 13)}/${name}.ndjson`;
    mkdirSync(path.join(dir, 'events', path.dirname(key)), { recursive: true });
    const lines = eventTimes.map((tm, i) =>
      JSON.stringify({
        id: `${name}-${i}`,
        type: 'order',
        amount: i,
        _tm: tm,
        _am: T0 + arrivalHour * HOUR + i,
        _shard: 's',
        _seq: String(i),
      }),
    );
    writeFileSync(path.join(dir, 'events', key), lines.join('\n') + '\n');
    return key;
  };
  return { dir, athena, store, deps, clock, put, listKeys };
}

type Bucket = ReturnType<typeof bucket>;

/** Runs a compaction's steps to the end, as the state machine does (every query already finished). */
async function compact(b: Bucket, cutoffMs: number, stopAfter = Infinity): Promise<CompactionStep> {
  let step = await startCompaction(b.deps(), cutoffMs);
  for (let i = 0; step.phase !== 'done' && i < stopAfter; i++) step = await advanceCompaction(b.deps(), step);
  return step;
}

/** Every line the Athena source yields (arrived before the cutoff), with how many times. */
async function readOnce(b: Bucket, cutoffMs: number): Promise<Map<string, number>> {
  const manifests = await loadManifests(b.store);
  const covered = coveredSources(manifests);
  const keys = await b.listKeys();
  const source = athenaSource(b.athena.tables.database, b.athena.tables.table, cutoffMs, undefined, {
    tables: b.athena.tables,
    generations: [...new Set(manifests.flatMap((m) => m.files.map((f) => generationFolderOfKey(f.key))))],
    uncovered: rawSelection(
      keys.filter((k) => !covered.has(k)),
      keys,
    ),
  });
  const rows = await b.athena.query(
    `SELECT json_extract_string(line, '$.id') AS id, count(*) AS n FROM (${source}) s
     WHERE CAST(json_extract_string(line, '$._am') AS BIGINT) < ${cutoffMs} GROUP BY 1`,
  );
  return new Map(rows.map((r) => [String(r.id), Number(r.n)]));
}

/** The ids of every raw line that arrived before the cutoff, once each: what a reader must yield. */
async function expected(b: Bucket, cutoffMs: number): Promise<Map<string, number>> {
  const rows = await b.athena.query(
    `SELECT json_extract_string(line, '$.id') AS id FROM db.events WHERE CAST(json_extract_string(line, '$._am') AS BIGINT) < ${cutoffMs}`,
  );
  return new Map(rows.map((r) => [String(r.id), 1]));
}

describe('the NDJSON selection Athena reads (run in DuckDB over the same layout)', () => {
  it('matches exactly the selected objects, whole partitions or keys', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 60 }), fc.boolean()), { minLength: 1, maxLength: 12 }),
        async (objects) => {
          const b = bucket();
          const picked: string[] = [];
          for (const [hour, pick] of objects) {
            const key = b.put(hour, [T0]);
            if (pick) picked.push(key);
          }
          const listed = await b.listKeys();
          const sql = rawSelectionSql(rawSelection(picked, listed), b.athena.tables.rawLocation);
          const rows = await b.athena.query(`SELECT DISTINCT "$path" AS p FROM db.events WHERE ${sql}`);
          expect(rows.map((r) => String(r.p)).sort()).toEqual(
            picked.map((k) => b.athena.tables.rawLocation + k).sort(),
          );
        },
      ),
      { numRuns: 12 },
    );
  }, 120_000);
});

describe('the cloud compaction (Athena SQL run in DuckDB)', () => {
  it('commits a generation of the objects before the period, split into UNLOADs of at most 100 partitions, and every line is read once', async () => {
    const b = bucket();
    // Day 0 and 1 arrivals, late events over 150 event hours, then a raw tail on day 2.
    const late = Array.from({ length: 150 }, (_, h) => T0 - (h + 1) * HOUR + 7);
    const sources = [b.put(1, [T0 + HOUR + 5, T0 + HOUR + 6]), b.put(5, late), b.put(30, [T0 + 30 * HOUR])];
    const tail = b.put(2 * 24 + 3, [T0 + 51 * HOUR]);
    const cutoff = T0 + 2 * DAY + 12 * HOUR;
    const step = await compact(b, cutoff);
    expect(step).toMatchObject({
      phase: 'done',
      result: { status: 'committed', generation: 1, sources: 3, rows: 153 },
    });
    const unloads = b.athena.started.filter((q) => q.startsWith('UNLOAD'));
    expect(unloads.length).toBe(2);
    for (const q of unloads) {
      expect(q).toContain(`compression = 'ZSTD', partitioned_by = ARRAY['edt', 'ehr']`);
      expect((q.match(/\(edt = '/g) ?? []).length).toBeLessThanOrEqual(UNLOAD_MAX_PARTITIONS);
    }
    const [manifest] = await loadManifests(b.store);
    expect(manifest.sources).toEqual([...sources].sort());
    expect(manifest.sources).not.toContain(tail);
    expect(manifest.files.reduce((n, f) => n + f.rows, 0)).toBe(153);
    for (const f of manifest.files) {
      expect(f.key).toMatch(
        /^g=0000000001-[0-9a-f]{16}-\d+-1\/c=00[01]\/edt=\d{4}-\d{2}-\d{2}\/ehr=\d{2}\/.+\.parquet$/,
      );
      expect(f.bytes).toBeGreaterThan(0);
      expect(new Date(f.minTm).toISOString().slice(0, 10)).toBe(f.eventDate);
    }
    expect(await readOnce(b, cutoff)).toEqual(await expected(b, cutoff));
    // A repeat finds nothing to do.
    expect((await compact(b, cutoff)).phase === 'done' && (await compact(b, cutoff))).toMatchObject({
      result: { status: 'nothing-to-do' },
    });
  }, 60_000);

  it('leaves the files of a compaction that stopped before its manifest unread, and the next one commits', async () => {
    const b = bucket();
    b.put(1, [T0 + HOUR]);
    b.put(2, [T0 + 2 * HOUR, T0 - DAY]);
    const cutoff = T0 + DAY + HOUR;
    // Stops after the UNLOADs and the registration, before the statistics and the manifest.
    const crashed = await compact(b, cutoff, 1);
    expect(crashed.phase).toBe('unload');
    expect(await loadManifests(b.store)).toEqual([]);
    expect(await readOnce(b, cutoff)).toEqual(await expected(b, cutoff));
    b.clock.advance(60_000);
    expect(await compact(b, cutoff)).toMatchObject({ result: { status: 'committed', generation: 1 } });
    expect(await readOnce(b, cutoff)).toEqual(await expected(b, cutoff));
  }, 60_000);

  it('plans again when another run committed its generation first', async () => {
    const b = bucket();
    b.put(1, [T0 + HOUR]);
    const cutoff = T0 + DAY + HOUR;
    let ours = await startCompaction(b.deps(), cutoff);
    while (ours.phase !== 'stats') ours = await advanceCompaction(b.deps(), ours);
    // Another run compacts the same objects and commits generation 1; then a new object is archived.
    b.clock.advance(1000);
    expect(await compact(b, cutoff)).toMatchObject({ result: { status: 'committed', generation: 1 } });
    b.put(3, [T0 + 3 * HOUR]);
    const done = await advanceCompaction(b.deps(), ours);
    expect(done).toMatchObject({ phase: 'partitions', attempt: 2, generation: 2 });
    let step = done;
    while (step.phase !== 'done') step = await advanceCompaction(b.deps(), step);
    expect(step.result).toMatchObject({ status: 'committed', generation: 2, sources: 1 });
    expect(await readOnce(b, cutoff)).toEqual(await expected(b, cutoff));
  }, 60_000);

  it('reports its own commit when the manifest put landed but its answer was lost (the resend is refused)', async () => {
    const b = bucket();
    b.put(1, [T0 + HOUR]);
    const cutoff = T0 + DAY + HOUR;
    // The first put creates the manifest; the SDK's resend after the lost answer meets it (412).
    const store = b.store;
    const losing: CloudCompactionDeps['store'] = {
      list: (p) => store.list(p),
      readText: (k) => store.readText(k),
      listSized: (p) => store.listSized(p),
      putText: (k, t) => store.putText(k, t),
      createIfAbsent: async (k, t) => {
        await store.createIfAbsent(k, t);
        return store.createIfAbsent(k, t);
      },
    };
    let step = await startCompaction({ ...b.deps(), store: losing }, cutoff);
    while (step.phase !== 'done') step = await advanceCompaction({ ...b.deps(), store: losing }, step);
    expect(step.result).toEqual(expect.objectContaining({ status: 'committed', generation: 1, sources: 1 }));
    expect((await loadManifests(b.store)).map((m) => m.generation)).toEqual([1]);
    expect(await readOnce(b, cutoff)).toEqual(await expected(b, cutoff));
  }, 60_000);

  it('does not commit over an object that appeared in a compacted partition after the plan (the files hold more rows than planned)', async () => {
    const b = bucket();
    b.put(1, [T0 + HOUR]);
    const cutoff = T0 + DAY + HOUR;
    let step = await startCompaction(b.deps(), cutoff);
    // A delivery later than the archive's worst case, into the partition being compacted.
    const stray = b.put(1, [T0 + HOUR + 1], 'late-delivery');
    while (step.phase !== 'done') step = await advanceCompaction(b.deps(), step);
    expect(step.result).toMatchObject({ status: 'committed', generation: 1, sources: 2 });
    expect((await loadManifests(b.store))[0].sources).toContain(stray);
    expect(await readOnce(b, cutoff)).toEqual(await expected(b, cutoff));
  }, 60_000);

  it('does not commit over an object that appeared between the listing and the queries (the listing after the UNLOADs shows it)', async () => {
    const b = bucket();
    b.put(1, [T0 + HOUR]);
    const cutoff = T0 + DAY + HOUR;
    let stray: string | undefined;
    // The object lands right after the plan's listing: every query of the attempt counts it.
    const deps = (): CloudCompactionDeps => ({
      ...b.deps(),
      raw: {
        listKeys: async () => {
          const keys = await b.listKeys();
          stray ??= b.put(1, [T0 + HOUR + 1], 'late-delivery');
          return keys;
        },
      },
    });
    let step = await startCompaction(deps(), cutoff);
    step = await advanceCompaction(deps(), step);
    step = await advanceCompaction(deps(), step);
    // The statistics agree with the planned rows (both count the stray): only the listing check stops the commit.
    expect(step).toMatchObject({ phase: 'stats', rows: 2 });
    step = await advanceCompaction(deps(), step);
    expect(step).toMatchObject({ phase: 'partitions', attempt: 2 });
    while (step.phase !== 'done') step = await advanceCompaction(deps(), step);
    expect(step.result).toMatchObject({ status: 'committed', generation: 1, sources: 2 });
    expect((await loadManifests(b.store))[0].sources).toContain(stray);
    expect(await readOnce(b, cutoff)).toEqual(await expected(b, cutoff));
  }, 60_000);

  it('never commits files whose rows differ from the planned objects (here: partitions the catalog lost)', async () => {
    const b = bucket();
    b.put(1, [T0 + HOUR, T0 + HOUR + 1]);
    const cutoff = T0 + DAY + HOUR;
    b.athena.loseRegistrations = true;
    const step = await compact(b, cutoff);
    expect(step).toMatchObject({
      phase: 'done',
      result: { status: 'abandoned', generation: 1, reason: 'the files hold 0 rows, the planned objects 2' },
    });
    expect(await loadManifests(b.store)).toEqual([]);
    expect(await readOnce(b, cutoff)).toEqual(await expected(b, cutoff));
  }, 60_000);

  it('reads, for event-time ranges, every line of those buckets and from Parquet only the event hours they touch', async () => {
    const b = bucket();
    const times = Array.from({ length: 48 }, (_, h) => T0 - DAY + h * HOUR + 17);
    b.put(1, times);
    b.put(2 * 24 + 1, [T0 + 49 * HOUR]);
    const cutoff = T0 + 2 * DAY + 2 * HOUR;
    expect(await compact(b, cutoff)).toMatchObject({ result: { status: 'committed' } });
    const manifests = await loadManifests(b.store);
    const keys = await b.listKeys();
    const covered = coveredSources(manifests);
    const ranges = [
      { fromMs: T0 + 3 * HOUR, toMs: T0 + 3 * HOUR + 5 * 60_000 },
      { fromMs: T0 + 10 * HOUR, toMs: T0 + 12 * HOUR },
    ];
    const source = athenaSource(
      'db',
      'events',
      cutoff,
      undefined,
      {
        tables: b.athena.tables,
        generations: manifests.flatMap((m) => m.files.map((f) => generationFolderOfKey(f.key))),
        uncovered: rawSelection(
          keys.filter((k) => !covered.has(k)),
          keys,
        ),
      },
      ranges,
    );
    const rows = await b.athena.query(
      `SELECT CAST(json_extract_string(line, '$._tm') AS BIGINT) AS tm FROM (${source}) s`,
    );
    const read = rows.map((r) => Number(r.tm)).sort((x, y) => x - y);
    // Hours 3, 10 and 11 from Parquet, and the raw tail (not prunable by event time).
    expect(read).toEqual([T0 + 3 * HOUR + 17, T0 + 10 * HOUR + 17, T0 + 11 * HOUR + 17, T0 + 49 * HOUR]);
  }, 60_000);

  it('compacts a backlog over several generations of at most maxObjects, the oldest first', async () => {
    const b = bucket();
    const keys = [b.put(1, [T0 + HOUR]), b.put(2, [T0 + 2 * HOUR]), b.put(30, [T0 + 30 * HOUR])];
    const cutoff = T0 + 2 * DAY + HOUR;
    const capped = (): CloudCompactionDeps => ({ ...b.deps(), maxObjects: 2 });
    let step = await startCompaction(capped(), cutoff);
    while (step.phase !== 'done') step = await advanceCompaction(capped(), step);
    expect(step.result).toMatchObject({ status: 'committed', generation: 1, sources: 2 });
    expect((await loadManifests(b.store))[0].sources).toEqual(keys.slice(0, 2));
    expect(await readOnce(b, cutoff)).toEqual(await expected(b, cutoff));
    b.clock.advance(1000);
    step = await startCompaction(capped(), cutoff);
    while (step.phase !== 'done') step = await advanceCompaction(capped(), step);
    expect(step.result).toMatchObject({ status: 'committed', generation: 2, sources: 1 });
    expect(await readOnce(b, cutoff)).toEqual(await expected(b, cutoff));
  }, 60_000);
});
