import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalCopies } from '../../lambdas/core/dedupe';
import { toArchiveLine, type NormalizedEvent } from '../../lambdas/core/event';
import { encodeRow, identityRow, mergeRows, type RowState } from '../../lambdas/core/measures';
import { mergeServing } from '../../lambdas/core/merge';
import { cellId, reduce, type CellAddress } from '../../lambdas/core/reducer';
import { processKappaBatch } from '../../lambdas/services/kappa-processor';
import { finishReplay, replayReady, startReplay, type ReplayDeps } from '../../lambdas/services/kappa-replay';
import { offerChunkCopies, replayChunk } from '../../lambdas/services/kappa-replay-chunks';
import {
  ARRIVAL_BUCKET_MS,
  BASE_TIME,
  normalize,
  restampedStreamArb,
  TEST_VIEWS,
  type GeneratedStream,
  type StreamRecord,
} from '../fixtures/streams';
import { runSpeedLayer, toSpeedRecords } from '../fixtures/speed-layer-run';
import { InMemoryArchive, InMemoryKappaCellStore, InMemoryKappaControlStore } from './in-memory-kappa';
import { InMemoryEventClaims } from './in-memory-stores';

/**
 * Invariant 5 for the Kappa architecture, with the real service code and in-memory ports:
 * for random streams (three shards, redeliveries and partial-batch retries, producer retries, late
 * events, bucket edges, 129-digit sequence numbers),
 *   Kappa live (a version built before the stream began, kept by processKappaBatch)
 *   = Kappa replay (a version whose replay starts mid-stream: archive before the handoff through
 *     replayChunk, as one sole chunk or as the state machine's children: offerChunkCopies over every
 *     object, then replayChunk per object, each in any order and with re-runs; live records after
 *     it through the processor)
 *   = the Lambda architecture's merged answer (processSpeedBatch's rows ⊕ the batch cells at a
 *     random cutoff).
 */
const NUM_RUNS = 150;
const HANDOFF_DELAY_MS = 2_000;

type Cells = Map<string, { address: CellAddress; state: RowState }>;

function encoded(cells: Cells): Record<string, unknown> {
  return Object.fromEntries(
    [...cells].sort(([a], [b]) => (a < b ? -1 : 1)).map(([id, c]) => [id, encodeRow(c.state)]),
  );
}

/** Archive objects as the archiver writes them: per shard and arrival hour, some records written twice (rewrites). */
function archiveObjects(
  records: readonly StreamRecord[],
  cuts: readonly number[],
  rewrites: number,
): InMemoryArchive {
  const archive = new InMemoryArchive();
  const byShard = new Map<string, StreamRecord[]>();
  for (const r of records) byShard.set(r.shardId, [...(byShard.get(r.shardId) ?? []), r]);
  let cut = 0;
  for (const [shard, list] of byShard) {
    let start = 0;
    while (start < list.length) {
      const size = 1 + (cuts[cut++ % cuts.length] % 7);
      // A rewrite after a crash re-reads from the checkpoint: the next object overlaps this one.
      const overlap = rewrites > 0 && cut % 3 === 0 ? Math.min(start, rewrites % 4) : 0;
      const group = list.slice(start - overlap, start + size);
      const hour = new Date(group[0].arrivedMs).toISOString();
      const lines = group.map((r) => toArchiveLine(normalize(r)) + '\n').join('');
      archive.put(
        `events/dt=${hour.slice(0, 10)}/hour=${hour.slice(11, 13)}/${shard}-${group[0].sequenceNumber}-${group[group.length - 1].sequenceNumber}.ndjson`,
        lines,
      );
      start += size;
    }
  }
  return archive;
}

async function runKappa(
  stream: GeneratedStream,
  handoffMs: number,
  archiveOf: () => InMemoryArchive,
  chunking: { sole: boolean; order: readonly number[]; reruns: number },
) {
  const cells = new InMemoryKappaCellStore();
  const control = new InMemoryKappaControlStore();
  const claims = new InMemoryEventClaims();
  let now = BASE_TIME - 60_000;
  const archive = archiveOf();
  let archivedBefore: number | null = null;
  const deps: ReplayDeps = {
    views: TEST_VIEWS,
    cells,
    control,
    claims,
    archive,
    watermark: { archivedBeforeMs: async () => archivedBefore },
    clock: { now: () => now },
    handoffDelayMs: HANDOFF_DELAY_MS,
    archivePrefix: 'events/',
  };
  const processor = { views: TEST_VIEWS, cells, control, claims, fenceBy: 'shard' as const };
  // Version 1: built before the stream began (an empty archive), so every record is live for it.
  const first = await startReplay({}, deps);
  archivedBefore = first.handoffMs;
  expect((await replayReady(first.replayId, deps)).ready).toBe(true);
  await replayChunk(first.replayId, [], { chunkId: 'empty', sole: true }, deps);
  expect((await finishReplay(first.replayId, deps)).flipped).toBe(true);

  // Version 2: its replay starts mid-stream, just before the first delivery holding a record
  // that arrived at or after its handoff.
  let second: Awaited<ReturnType<typeof startReplay>> | undefined;
  for (const delivery of stream.deliveries) {
    if (!second && delivery.records.some((r) => r.arrivedMs >= handoffMs)) {
      now = handoffMs - HANDOFF_DELAY_MS;
      second = await startReplay({}, deps);
      expect(second.handoffMs).toBe(handoffMs);
    }
    const result = await processKappaBatch(toSpeedRecords(delivery), processor);
    expect(result.failedFrom).toBeUndefined();
  }
  if (!second) {
    now = handoffMs - HANDOFF_DELAY_MS;
    second = await startReplay({}, deps);
  }
  archivedBefore = handoffMs - 1;
  expect((await replayReady(second.replayId, deps)).ready).toBe(false);
  archivedBefore = handoffMs;
  expect((await replayReady(second.replayId, deps)).ready).toBe(true);
  const keys = await archive.list();
  if (chunking.sole) {
    await replayChunk(second.replayId, keys, { chunkId: 'all', sole: true }, deps);
    // A re-run of the whole chunk (a crash before finish) changes nothing.
    for (let i = 0; i < chunking.reruns; i++)
      await replayChunk(second.replayId, keys, { chunkId: 'all', sole: true }, deps);
  } else {
    // The state machine's two Distributed Maps (ADR 024): every object's copies offered, then every
    // object folded, one object per child, in any order, some run twice.
    const order = keys.map((k, i) => ({ k, o: chunking.order[i % chunking.order.length] ?? i }));
    order.sort((a, b) => a.o - b.o);
    const runs = [...order.map((x) => x.k), ...order.slice(0, chunking.reruns).map((x) => x.k)];
    for (const key of [...runs].reverse()) await offerChunkCopies(second.replayId, [key], deps);
    for (const key of runs) await replayChunk(second.replayId, [key], { chunkId: key, sole: false }, deps);
  }
  expect((await finishReplay(second.replayId, deps)).flipped).toBe(true);
  const pointers = await control.read();
  const read = (version: number): Cells => {
    const out: Cells = new Map();
    for (const view of TEST_VIEWS)
      for (const { address, cell } of cells.cellsOf(version, view))
        if (cell.state && Object.values(cell.state).length > 0)
          out.set(cellId(address), { address, state: cell.state });
    return out;
  };
  return { live: read(first.version), replay: read(second.version), pointers };
}

/** The Lambda architecture's answer: batch cells before the cutoff ⊕ the speed layer's rows (processSpeedBatch). */
async function lambdaAnswer(
  stream: GeneratedStream,
  events: readonly NormalizedEvent[],
  cutoffMs: number,
): Promise<Cells> {
  const rows = await runSpeedLayer(TEST_VIEWS, stream.deliveries, { scope: 'global' });
  const batch = reduce(TEST_VIEWS, canonicalCopies(events.filter((e) => e.arrivedMs < cutoffMs)));
  const out: Cells = new Map();
  const keys = new Set<string>();
  for (const c of batch.values()) keys.add(JSON.stringify([c.view, c.key]));
  for (const r of rows.all()) keys.add(JSON.stringify([r.address.view, r.address.key]));
  for (const k of keys) {
    const [viewName, key] = JSON.parse(k) as [string, string[]];
    const view = TEST_VIEWS.find((v) => v.name === viewName)!;
    const same = (a: readonly string[]) => JSON.stringify(a) === JSON.stringify(key);
    const served = mergeServing(
      view,
      [...batch.values()]
        .filter((c) => c.view === viewName && same(c.key))
        .map((c) => ({ bucketMs: c.bucketMs, state: c.state })),
      rows
        .all()
        .filter((r) => r.address.view === viewName && same(r.address.key))
        .map((r) => ({
          bucketMs: r.address.bucketMs,
          arrivalBucketMs: r.address.arrivalBucketMs,
          state: r.row.state,
        })),
      cutoffMs,
      ARRIVAL_BUCKET_MS,
    );
    for (const b of served) {
      const address = { view: viewName, key, bucketMs: b.start };
      const id = cellId(address);
      out.set(id, { address, state: mergeRows(view, out.get(id)?.state ?? identityRow(view), b.state) });
    }
  }
  return out;
}

describe('Kappa live = Kappa replay = Lambda (invariant 5, and the exact replay handoff of invariant 9)', () => {
  it('agree on random streams, with a replay handing over mid-stream', async () => {
    await fc.assert(
      fc.asyncProperty(
        restampedStreamArb,
        fc.nat(),
        fc.nat(),
        fc.array(fc.nat(), { minLength: 1, maxLength: 30 }),
        fc.boolean(),
        fc.nat({ max: 4 }),
        async (stream, handoffPick, cutPick, cuts, sole, reruns) => {
          const events = stream.records.map((r) => normalize(r));
          const first = Math.min(...events.map((e) => e.arrivedMs));
          const last = Math.max(...events.map((e) => e.arrivedMs));
          // Anywhere from before the first arrival to after the last, often exactly on an arrival.
          const arrivals = events.map((e) => e.arrivedMs);
          const handoffMs =
            handoffPick % 3 === 0
              ? arrivals[handoffPick % arrivals.length]
              : first - 1000 + (handoffPick % (last - first + 2000 + 1));
          const kappa = await runKappa(
            stream,
            handoffMs,
            () => archiveObjects(stream.records, cuts, cutPick),
            {
              sole,
              order: cuts,
              reruns,
            },
          );
          const span = Math.floor((last - BASE_TIME) / ARRIVAL_BUCKET_MS) + 3;
          const cutoffMs = BASE_TIME + ((cutPick % span) - 1) * ARRIVAL_BUCKET_MS;
          const lambda = await lambdaAnswer(stream, events, cutoffMs);
          const replayed = reduce(TEST_VIEWS, canonicalCopies(events));
          const expected: Cells = new Map(
            [...replayed].map(([id, c]) => [id, { address: c, state: c.state }]),
          );
          expect(encoded(kappa.live), 'Kappa live vs the reducer over one copy per id').toEqual(
            encoded(expected),
          );
          expect(encoded(kappa.replay), `Kappa replay (handoff ${handoffMs}, sole ${sole})`).toEqual(
            encoded(expected),
          );
          expect(encoded(lambda), `Lambda merged at cutoff ${cutoffMs}`).toEqual(encoded(expected));
          // The flip: the replayed version is served, the live-only one kept for rollback.
          for (const view of TEST_VIEWS) {
            expect(kappa.pointers.views[view.name].active?.version).toBe(2);
            expect(kappa.pointers.views[view.name].previous?.version).toBe(1);
          }
        },
      ),
      { numRuns: NUM_RUNS },
    );
  }, 240_000);
});
