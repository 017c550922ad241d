import fc from 'fast-check';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  FolderCompactedStore,
  type CompactedArchiveStore,
} from '../../lambdas/adapters/duckdb/compacted-archive-store';
import { DuckDbQueryEngine } from '../../lambdas/adapters/duckdb/duckdb-query-engine';
import { selectionOf } from '../../lambdas/core/batch-lineage';
import { toArchiveLine, type NormalizedEvent } from '../../lambdas/core/event';
import { encodeRow, identityRow, mergeRows, type RowState } from '../../lambdas/core/measures';
import { cellId } from '../../lambdas/core/reducer';
import { batchRowToCell } from '../../lambdas/core/batch-result-row';
import { batchSql } from '../../lambdas/core/batch-sql';
import { runBatch } from '../../lambdas/services/batch-layer';
import { runSpeedLayer } from '../fixtures/speed-layer-run';
import {
  ARRIVAL_BUCKET_MS,
  BASE_TIME,
  normalize,
  streamArb,
  TEST_VIEWS,
  type GeneratedStream,
} from '../fixtures/streams';
import {
  FixedWatermark,
  InMemoryBatchViewStore,
  InMemoryControlStore,
  InMemorySpeedRowStore,
  ManualClock,
} from './in-memory-stores';

const NUM_RUNS = 15;
const root = mkdtempSync(path.join(tmpdir(), 'streamfold-compacted-'));
const archiveDir = path.join(root, 'archive');
const compactedDir = path.join(root, 'compacted');
/** The truth: the same archive read as raw NDJSON only. */
const raw = new DuckDbQueryEngine(archiveDir);
afterAll(async () => {
  await raw.close();
  rmSync(root, { recursive: true, force: true });
});

type Cells = Map<string, string>;

/**
 * Every line the engine's source yields, with its count. The batch drops repeated ids, so a
 * line read twice would not change a cell: this is what shows each object is read once.
 */
async function sourceLines(engine: DuckDbQueryEngine): Promise<string[]> {
  const source = await engine.source();
  if (source === null) return [];
  const rows = await engine.run(`SELECT line, count(*) AS n FROM (${source}) GROUP BY line ORDER BY line`);
  return rows.map((r) => `${Number(r.n)} ${String(r.line)}`);
}

/** One full recomputation at `cutoffMs` through `engine`, straight from the generated SQL. */
async function fullRecompute(engine: DuckDbQueryEngine, cutoffMs: number): Promise<Cells> {
  const cells: Cells = new Map();
  const source = await engine.source();
  if (source === null) return cells;
  for (const view of TEST_VIEWS) {
    for (const row of await engine.run(batchSql(view, 'duckdb', source, cutoffMs).sql)) {
      const cell = batchRowToCell(view, row);
      cells.set(cellId({ view: view.name, ...cell }), JSON.stringify(encodeRow(cell.state)));
    }
  }
  return cells;
}

function published(batch: InMemoryBatchViewStore, control: InMemoryControlStore): Cells {
  const cells: Cells = new Map();
  const pointer = control.pointer!;
  for (const view of TEST_VIEWS) {
    for (const cell of batch.snapshot(pointer.version, view.name, selectionOf(pointer.lineage, view.name)))
      cells.set(cellId({ view: view.name, ...cell }), JSON.stringify(encodeRow(cell.state)));
  }
  return cells;
}

/** A crash of the compactor at its `at`-th write: before it, or after it (the write done, the caller never told). */
class Crash extends Error {}

/**
 * A store that crashes once, at the `at`-th write (0 = none). A Parquet file that crashes
 * before its write leaves garbage under its key (a torn copy): a reader that read a generation
 * without its manifest would fail on it.
 */
class CrashingStore implements CompactedArchiveStore {
  private writes = 0;
  crashed = false;
  constructor(
    private readonly inner: FolderCompactedStore,
    private at: number,
    private readonly afterWrite: boolean,
  ) {}
  private async tick(write: () => Promise<void>, tear: () => Promise<void>): Promise<void> {
    this.writes += 1;
    if (this.writes !== this.at) return write();
    this.at = 0;
    this.crashed = true;
    if (this.afterWrite) await write();
    else await tear();
    throw new Crash('crash');
  }
  list(prefix: string) {
    return this.inner.list(prefix);
  }
  readText(key: string) {
    return this.inner.readText(key);
  }
  async putFile(key: string, file: string) {
    await this.tick(
      () => this.inner.putFile(key, file),
      async () => {
        await fs.mkdir(path.dirname(this.inner.localPath(key)), { recursive: true });
        await fs.writeFile(this.inner.localPath(key), 'PAR1 torn');
      },
    );
  }
  async createIfAbsent(key: string, text: string) {
    let created = false;
    await this.tick(
      async () => {
        created = await this.inner.createIfAbsent(key, text);
      },
      async () => undefined,
    );
    return created;
  }
  localPath(key: string) {
    return this.inner.localPath(key);
  }
}

interface Step {
  readonly cutPick: number;
  /** 0: no crash; otherwise the compactor crashes at this write of the run. */
  readonly crashAt: number;
  readonly afterWrite: boolean;
  /** A second compaction at the same cutoff (a retried step). */
  readonly repeat: boolean;
  /** The engine's cap on a generation's NDJSON bytes (undefined: the default). */
  readonly capBytes: number | undefined;
}

const stepArb: fc.Arbitrary<Step> = fc.record({
  cutPick: fc.nat(),
  crashAt: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 6 })),
  afterWrite: fc.boolean(),
  repeat: fc.boolean(),
  // 1 byte: one object per generation, so a backlog takes several runs to compact.
  capBytes: fc.constantFrom(undefined, undefined, 1, 2000),
});

describe('the size of a generation', () => {
  it('takes the oldest objects up to maxGenerationBytes, at least one, and leaves the rest to the next runs', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'streamfold-cap-'));
    try {
      const archive = path.join(dir, 'archive');
      mkdirSync(archive, { recursive: true });
      const events = Array.from({ length: 6 }, (_, i) =>
        normalize({
          shardId: 'shardId-000000000000',
          sequenceNumber: String(1000 + i),
          partitionKey: `e${i}`,
          arrivedMs: BASE_TIME + i * 1000,
          data: JSON.stringify({
            id: `e${i}`,
            type: 'click',
            time: new Date(BASE_TIME).toISOString(),
            page: '/a',
            device: 'mobile',
            geo: { country: 'DE' },
          }),
        }),
      );
      const sizes: number[] = [];
      for (const [i, pair] of [events.slice(0, 2), events.slice(2, 4), events.slice(4)].entries()) {
        const text = pair.map(toArchiveLine).join('\n') + '\n';
        sizes.push(Buffer.byteLength(text));
        writeFileSync(path.join(archive, `part-${i}.ndjson`), text);
      }
      const engine = new DuckDbQueryEngine(archive, undefined, {
        store: new FolderCompactedStore(path.join(dir, 'compacted')),
        periodMs: ARRIVAL_BUCKET_MS,
        // Room for the first two objects, not the third.
        maxGenerationBytes: sizes[0] + sizes[1],
      });
      try {
        const everything = BASE_TIME + 3_600_000;
        expect(await engine.compact(everything)).toMatchObject({
          status: 'committed',
          generation: 1,
          sources: 2,
        });
        expect(await engine.compact(everything)).toMatchObject({
          status: 'committed',
          generation: 2,
          sources: 1,
        });
        expect(await engine.compact(everything)).toEqual({ status: 'nothing-to-do' });
        const source = (await engine.source())!;
        expect(await engine.run(`SELECT count(*) AS n FROM (${source})`)).toEqual([{ n: 6n }]);
      } finally {
        await engine.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the compacted archive (ADR 011)', () => {
  it('compaction with crashes and repeats + incremental runs = the raw archive full recomputation = the speed layer', async () => {
    /** Property runs that ended with at least one committed generation. */
    let committed = 0;
    await fc.assert(
      fc.asyncProperty(
        streamArb,
        fc.array(stepArb, { minLength: 1, maxLength: 5 }),
        // Mostly periods the generated streams span (a minute, five), sometimes one they do not.
        fc.constantFrom(ARRIVAL_BUCKET_MS, ARRIVAL_BUCKET_MS, 5 * ARRIVAL_BUCKET_MS, 3_600_000),
        async (stream: GeneratedStream, steps, periodMs) => {
          rmSync(archiveDir, { recursive: true, force: true });
          rmSync(compactedDir, { recursive: true, force: true });
          mkdirSync(archiveDir, { recursive: true });
          const events: NormalizedEvent[] = stream.records.map((r) => normalize(r));
          const lastArrival = Math.max(...events.map((e) => e.arrivedMs));
          const everything = (Math.floor(lastArrival / ARRIVAL_BUCKET_MS) + 1) * ARRIVAL_BUCKET_MS;
          const span = (everything - BASE_TIME) / ARRIVAL_BUCKET_MS + 1;
          const cuts = [
            ...steps.map((s) => ({ ...s, cutoff: BASE_TIME + (s.cutPick % span) * ARRIVAL_BUCKET_MS })),
            {
              cutPick: 0,
              crashAt: 0,
              afterWrite: false,
              repeat: false,
              capBytes: undefined,
              cutoff: everything,
            },
            // A period later with nothing new: every object is then old enough to compact, so each
            // run reads at least one committed generation (the random cuts often fall within the
            // first period, where nothing may be compacted yet).
            {
              cutPick: 0,
              crashAt: 0,
              afterWrite: false,
              repeat: false,
              capBytes: undefined,
              cutoff: everything + periodMs,
            },
          ].sort((a, b) => a.cutoff - b.cutoff);
          const folder = new FolderCompactedStore(compactedDir);
          const batch = new InMemoryBatchViewStore();
          const control = new InMemoryControlStore();
          const watermark = new FixedWatermark(null);
          const byArrival = [...events].sort((a, b) => a.arrivedMs - b.arrivedMs);
          let archived = 0;
          for (const [i, step] of cuts.entries()) {
            const upTo = byArrival.filter((e) => e.arrivedMs < step.cutoff).length;
            const lines = byArrival.slice(archived, upTo).map(toArchiveLine);
            // A rewrite of older lines under a new object (a Firehose redelivery).
            if (i === 1) lines.push(...byArrival.slice(0, Math.min(3, archived)).map(toArchiveLine));
            if (lines.length > 0)
              writeFileSync(
                path.join(archiveDir, `part-${String(i).padStart(3, '0')}.ndjson`),
                lines.join('\n') + '\n',
              );
            archived = upTo;
            watermark.value = step.cutoff;
            // A fresh engine per step, as a new process after a crash would be (no cached manifest).
            const store = new CrashingStore(folder, step.crashAt, step.afterWrite);
            const engine = new DuckDbQueryEngine(archiveDir, undefined, {
              store,
              periodMs,
              maxGenerationBytes: step.capBytes,
            });
            const deps = {
              views: TEST_VIEWS,
              engine,
              compactor: engine,
              watermark,
              batch,
              control,
              speed: new InMemorySpeedRowStore(TEST_VIEWS),
              clock: new ManualClock(BASE_TIME),
              arrivalBucketMs: ARRIVAL_BUCKET_MS,
            };
            try {
              // A crashed compaction does not stop the run: it reads those objects raw.
              const result = await runBatch(deps, {});
              expect(result.status).toBe('published');
              if (store.crashed)
                expect(result.compaction).toMatchObject({ status: 'failed', reason: 'crash' });
              if (step.repeat) {
                // Without a cap or a crash the run compacted all there was; with them, repeats
                // compact what is left, one generation at a time, until nothing is.
                const whole = step.capBytes === undefined && !store.crashed;
                // The store's crash may also fall in one of these (the run wrote fewer times than
                // its `crashAt`): a crashed compaction leaves the next to take over, as in a run.
                const compactAgain = () =>
                  engine.compact(step.cutoff).catch((error: Error) => {
                    if (!(error instanceof Crash)) throw error;
                    return { status: 'failed' as const };
                  });
                let repeated = await compactAgain();
                if (whole) expect(repeated.status).toBe('nothing-to-do');
                for (let i = 0; i < 20 && repeated.status !== 'nothing-to-do'; i++)
                  repeated = await compactAgain();
                expect(repeated.status).toBe('nothing-to-do');
              }
              expect(published(batch, control), `served at ${step.cutoff}`).toEqual(
                await fullRecompute(raw, step.cutoff),
              );
              expect(await sourceLines(engine)).toEqual(await sourceLines(raw));
              expect(await fullRecompute(engine, step.cutoff)).toEqual(await fullRecompute(raw, step.cutoff));
            } finally {
              await engine.close();
            }
          }
          if ((await folder.list('manifests/')).length > 0) committed += 1;
          const speed = new Map<string, RowState>();
          const rows = await runSpeedLayer(TEST_VIEWS, stream.deliveries, { scope: 'global' });
          for (const { address, row } of rows.all()) {
            const view = TEST_VIEWS.find((v) => v.name === address.view)!;
            const id = cellId(address);
            speed.set(id, mergeRows(view, speed.get(id) ?? identityRow(view), row.state));
          }
          const served = published(batch, control);
          expect([...served.keys()].sort()).toEqual([...speed.keys()].sort());
          for (const [id, encoded] of served) {
            const batchState = JSON.parse(encoded) as Record<string, unknown>;
            const speedState = encodeRow(speed.get(id)!) as Record<string, unknown>;
            for (const [name, value] of Object.entries(batchState)) {
              const strip = (v: unknown) =>
                typeof v === 'object' && v !== null && 'x' in v ? { ...v, x: undefined } : v;
              expect(strip(value), `${id} ${name}`).toEqual(strip(speedState[name]));
            }
          }
        },
      ),
      { numRuns: NUM_RUNS },
    );
    // The property says little unless generations were committed and read: the last cut makes
    // every run commit one (this was once a share of the runs, which a random seed missed).
    expect(committed).toBe(NUM_RUNS);
  }, 300_000);
});

describe('compaction races', () => {
  it('a compactor that lost its generation to another leaves nothing read twice or lost', async () => {
    // GIVEN two raw objects and two engines over the same compacted store
    rmSync(archiveDir, { recursive: true, force: true });
    rmSync(compactedDir, { recursive: true, force: true });
    mkdirSync(archiveDir, { recursive: true });
    const line = (id: string, am: number) =>
      JSON.stringify({ id, type: 'click', page: '/', _tm: BASE_TIME, _am: am, _shard: 's', _seq: '1' });
    writeFileSync(path.join(archiveDir, 'a.ndjson'), `${line('a', BASE_TIME)}\n`);
    writeFileSync(path.join(archiveDir, 'b.ndjson'), `${line('b', BASE_TIME + 1)}\n`);
    const folder = new FolderCompactedStore(compactedDir);
    const winner = new DuckDbQueryEngine(archiveDir, undefined, { store: folder, periodMs: 60_000 });
    // The loser commits only after the winner committed the same generation.
    const interleaved: CompactedArchiveStore = {
      list: (p) => folder.list(p),
      readText: (k) => folder.readText(k),
      putFile: (k, f) => folder.putFile(k, f),
      localPath: (k) => folder.localPath(k),
      createIfAbsent: async (k, t) => {
        expect((await winner.compact(BASE_TIME + 60_000)).status).toBe('committed');
        return folder.createIfAbsent(k, t);
      },
    };
    const loser = new DuckDbQueryEngine(archiveDir, undefined, { store: interleaved, periodMs: 60_000 });
    try {
      // WHEN both compact the same objects
      const result = await loser.compact(BASE_TIME + 60_000);
      // THEN the loser is told, one manifest covers each object, and every line is read once
      expect(result).toEqual({ status: 'lost', generation: 1 });
      expect(await folder.list('manifests/')).toEqual(['manifests/0000000001.json']);
      expect(await sourceLines(loser)).toEqual(await sourceLines(raw));
      expect((await loser.source())!).not.toContain('.ndjson');
    } finally {
      await winner.close();
      await loser.close();
    }
  });

  it('fails if two manifests cover one object, naming it', async () => {
    rmSync(archiveDir, { recursive: true, force: true });
    rmSync(compactedDir, { recursive: true, force: true });
    mkdirSync(archiveDir, { recursive: true });
    const folder = new FolderCompactedStore(compactedDir);
    const manifest = (generation: number) =>
      JSON.stringify({ generation, id: 'x', sources: ['a.ndjson'], files: [] });
    await folder.createIfAbsent('manifests/0000000001.json', manifest(1));
    await folder.createIfAbsent('manifests/0000000002.json', manifest(2));
    const engine = new DuckDbQueryEngine(archiveDir, undefined, { store: folder });
    try {
      await expect(engine.source()).rejects.toThrow(/a\.ndjson is covered by two compaction manifests/);
    } finally {
      await engine.close();
    }
  });
});
