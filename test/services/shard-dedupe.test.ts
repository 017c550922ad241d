import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeKinesisEvent } from '../../lambdas/adapters/codecs/kinesis-event';
import { finalizeRow, identityRow, mergeRows } from '../../lambdas/core/measures';
import { validateViews } from '../../lambdas/core/view';
import { ShardDedupe } from '../../lambdas/services/shard-dedupe';
import { processSpeedBatch, type SpeedLayerDeps, type SpeedRecord } from '../../lambdas/services/speed-layer';
import { SpeedRowCache } from '../../lambdas/services/speed-row-cache';
import { FIRST_ARRIVAL_MS, kinesisStreamEvent, sequenceNumber } from '../fixtures/events/factories';
import { InMemoryShardIdLog, InMemorySpeedRowStore } from './in-memory-stores';

const views = validateViews([
  {
    name: 'clicks',
    eventType: 'click',
    key: ['page'],
    granularity: '1m',
    measures: { n: { kind: 'count' }, amount: { kind: 'sum', field: 'amount' } },
  },
]);
const [clicks] = views;
const WINDOW_MS = 15 * 60_000;

/** Record `i` of the stream: event `id`, put under the id as partition key (as POST /events does). */
function record(i: number, id: number, arrivedMs = FIRST_ARRIVAL_MS + i * 1000): SpeedRecord {
  const body = { id: `e${id}`, type: 'click', time: '2023-11-14T22:10:00Z', page: `/p${id % 3}`, amount: id };
  return decodeKinesisEvent(
    kinesisStreamEvent([{ body, sequenceNumber: sequenceNumber(i), partitionKey: `e${id}`, arrivedMs }]),
  )[0];
}

/** Record `i` of shard `shard`'s stream (a shard's own sequence numbers), for event `id`. */
function shardRecord(shard: number, i: number, id: number): SpeedRecord {
  const body = { id: `e${id}`, type: 'click', time: '2023-11-14T22:10:00Z', page: `/p${id % 3}`, amount: id };
  return decodeKinesisEvent(
    kinesisStreamEvent([
      {
        body,
        sequenceNumber: sequenceNumber(i),
        partitionKey: `e${id}`,
        shardId: `shardId-${String(shard).padStart(12, '0')}`,
        arrivedMs: FIRST_ARRIVAL_MS + i * 1000,
      },
    ]),
  )[0];
}

/** A Lambda instance: its own dedupe memory and row cache over the shared stores. */
function instance(
  rows: InMemorySpeedRowStore,
  log: InMemoryShardIdLog,
  maxHeldIds = Number.POSITIVE_INFINITY,
): SpeedLayerDeps {
  return {
    views,
    rows,
    shardDedupe: new ShardDedupe(log, WINDOW_MS, maxHeldIds),
    rowCache: new SpeedRowCache(),
    fenceBy: 'shard',
    arrivalBucketMs: 60_000,
  };
}

function served(rows: InMemorySpeedRowStore): { n: number; amount: number } {
  const state = rows.all().reduce((acc, r) => mergeRows(clicks, acc, r.row.state), identityRow(clicks));
  return finalizeRow(clicks, state) as { n: number; amount: number };
}

describe('shard-scoped dedupe (ADR 008)', () => {
  it('drops later copies within a batch and across batches, and writes one log item per batch', async () => {
    const rows = new InMemorySpeedRowStore(views);
    const log = new InMemoryShardIdLog();
    const deps = instance(rows, log);
    const first = await processSpeedBatch([record(0, 1), record(1, 2), record(2, 1)], deps);
    const second = await processSpeedBatch([record(3, 2), record(4, 3)], deps);
    expect(first.duplicates).toBe(1);
    expect(second.duplicates).toBe(1);
    expect(served(rows)).toEqual({ n: 3, amount: 6 });
    expect(log.appends).toHaveLength(2);
  });

  it('decides a batch the same on another instance (the log is read, not the memory)', async () => {
    const rows = new InMemorySpeedRowStore(views);
    const log = new InMemoryShardIdLog();
    await processSpeedBatch([record(0, 1), record(1, 2)], instance(rows, log));
    // A cold instance takes the shard over: it rebuilds the window from the log.
    const cold = instance(rows, log);
    const result = await processSpeedBatch([record(2, 1), record(3, 4)], cold);
    expect(result.duplicates).toBe(1);
    expect(served(rows)).toEqual({ n: 3, amount: 7 });
  });

  it('reads what another instance appended since, before deciding on a warm instance', async () => {
    const rows = new InMemorySpeedRowStore(views);
    const log = new InMemoryShardIdLog();
    const [a, b] = [instance(rows, log), instance(rows, log)];
    await processSpeedBatch([record(0, 1)], a);
    await processSpeedBatch([record(1, 2)], b);
    const result = await processSpeedBatch([record(2, 2)], a);
    expect(result.duplicates).toBe(1);
    expect(served(rows)).toEqual({ n: 2, amount: 3 });
  });

  it('keeps the owner on a redelivery after the append landed but the reply was lost', async () => {
    const rows = new InMemorySpeedRowStore(views);
    const log = new InMemoryShardIdLog().failNextAppends(1, true);
    const deps = instance(rows, log);
    const batch = [record(0, 1), record(1, 2), record(2, 1)];
    const failed = await processSpeedBatch(batch, deps);
    expect(failed.failedFrom).toBe(sequenceNumber(0));
    expect(served(rows)).toEqual({ n: 0, amount: 0 });
    await processSpeedBatch(batch, deps);
    expect(served(rows)).toEqual({ n: 2, amount: 3 });
  });

  it('never loses what a restarted runtime appended to a late append of the runtime that died', async () => {
    // The fault suite's transient double count (served 2 for 1 right after a SIGKILL): the dead
    // runtime's append of a small batch was still on the wire when the restarted one appended a
    // larger batch from the same checkpoint. Landing last, a put over the same key replaced the
    // larger item with the smaller one, so every other instance missed the rest of its ids and
    // kept the producer's retries of them.
    const rows = new InMemorySpeedRowStore(views);
    const log = new InMemoryShardIdLog();
    const stream = Array.from({ length: 10 }, (_, i) => record(i, i + 1));
    const held = log.holdNextAppend();
    const dying = processSpeedBatch(stream.slice(0, 3), instance(rows, log));
    await held.entered;
    // The restarted runtime resumes from the same checkpoint with a larger batch.
    await processSpeedBatch(stream, instance(rows, log));
    held.land();
    expect(await held.landed).toBeUndefined();
    await dying;
    // A producer retry of event 8 reaches an instance that reads the log cold.
    const retry = await processSpeedBatch([record(10, 8)], instance(rows, log));
    expect(retry.duplicates).toBe(1);
    expect(served(rows)).toEqual({ n: 10, amount: 55 });
  });

  it('a writer that decided from a stale log reads the newer append and decides again', async () => {
    const rows = new InMemorySpeedRowStore(views);
    const log = new InMemoryShardIdLog();
    const held = log.holdNextAppend();
    // A timed-out invocation still running: it read the log before the retry appended.
    const stale = processSpeedBatch([record(0, 1), record(1, 2)], instance(rows, log));
    await held.entered;
    await processSpeedBatch([record(0, 1), record(1, 2), record(2, 1), record(3, 3)], instance(rows, log));
    held.land();
    const late = await stale;
    expect(late.failedFrom).toBeUndefined();
    expect(served(rows)).toEqual({ n: 3, amount: 6 });
    expect(log.appends).toHaveLength(1);
  });

  it('forgets ids older than the window (copies further apart are left to the batch layer)', async () => {
    const rows = new InMemorySpeedRowStore(views);
    const log = new InMemoryShardIdLog();
    const deps = instance(rows, log);
    await processSpeedBatch([record(0, 1, FIRST_ARRIVAL_MS)], deps);
    const late = await processSpeedBatch([record(1, 1, FIRST_ARRIVAL_MS + WINDOW_MS + 120_000)], deps);
    expect(late.duplicates).toBe(0);
  });

  it('holds at most its budget of ids over the shards it serves in turn, dropping the least recently served', async () => {
    const rows = new InMemorySpeedRowStore(views);
    const log = new InMemoryShardIdLog();
    const deps = instance(rows, log, 4);
    const dedupe = deps.shardDedupe!;
    // Shards 0, 1 and 2 in turn, three new ids each (ids 10s, 20s, 30s).
    await processSpeedBatch([shardRecord(0, 0, 10), shardRecord(0, 1, 11), shardRecord(0, 2, 12)], deps);
    await processSpeedBatch([shardRecord(1, 0, 20), shardRecord(1, 1, 21), shardRecord(1, 2, 22)], deps);
    // Shard 0 was served longest ago: dropped; the shard being decided is never dropped.
    expect(dedupe.heldIds).toBe(3);
    expect(dedupe.evictedShards).toBe(1);
    // Shard 1 again (now the most recent), then shard 2: shard 1 is dropped, not shard 2.
    await processSpeedBatch([shardRecord(1, 3, 23)], deps);
    await processSpeedBatch([shardRecord(2, 0, 30)], deps);
    expect(dedupe.heldIds).toBe(1);
    // A producer retry on a dropped shard is still a duplicate: the shard is read from its log.
    expect((await processSpeedBatch([shardRecord(0, 3, 11)], deps)).duplicates).toBe(1);
    expect((await processSpeedBatch([shardRecord(1, 4, 21)], deps)).duplicates).toBe(1);
    expect(served(rows).n).toBe(8);
  });

  it('counts every id once with a budget that drops shards, over several shards served in turn (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        // Event ids with repeats; an id's copies share a partition key, so a shard (id mod 3).
        fc.array(fc.integer({ min: 0, max: 30 }), { minLength: 1, maxLength: 80 }),
        fc.array(fc.record({ shard: fc.integer({ min: 0, max: 2 }), size: fc.integer({ min: 1, max: 8 }) }), {
          minLength: 1,
          maxLength: 30,
        }),
        fc.constantFrom(0, 1, 3, 8, Number.POSITIVE_INFINITY),
        fc.boolean(),
        async (ids, steps, budget, twoInstances) => {
          const rows = new InMemorySpeedRowStore(views);
          const log = new InMemoryShardIdLog();
          const instances = [instance(rows, log, budget), instance(rows, log, budget)];
          const streams = [0, 1, 2].map((shard) =>
            ids.filter((id) => id % 3 === shard).map((id, i) => shardRecord(shard, i, id)),
          );
          const positions = [0, 0, 0];
          let step = 0;
          while (positions.some((p, shard) => p < streams[shard].length)) {
            const s = steps[step % steps.length];
            // Round-robin over the shards that still have records, starting at the step's.
            let shard = s.shard;
            while (positions[shard] >= streams[shard].length) shard = (shard + 1) % 3;
            const batch = streams[shard].slice(positions[shard], positions[shard] + s.size);
            const deps = instances[twoInstances ? step % 2 : 0];
            step++;
            const result = await processSpeedBatch(batch, deps);
            expect(result.failedFrom).toBeUndefined();
            positions[shard] += batch.length;
            // At most the budget, or the shard just decided alone when it is larger.
            const dedupe = deps.shardDedupe!;
            expect(dedupe.heldIds <= budget || dedupe.heldShards === 1).toBe(true);
          }
          const distinct = [...new Set(ids)];
          expect(served(rows)).toEqual({ n: distinct.length, amount: distinct.reduce((a, b) => a + b, 0) });
        },
      ),
      { numRuns: 200 },
    );
  });

  it('counts every id once over duplicates, redeliveries, instance switches and failed writes (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        // The stream: event ids with repeats (producer retries), in stream order.
        fc.array(fc.integer({ min: 0, max: 25 }), { minLength: 1, maxLength: 60 }),
        // Each step: batch size, whether it is delivered again, a switch of instance or a new one,
        // a failure (a late writer: an append made before the step, landing after it).
        fc.array(
          fc.record({
            size: fc.integer({ min: 1, max: 12 }),
            redeliver: fc.boolean(),
            switchInstance: fc.boolean(),
            // A new instance (a restart, a scale-out): its memory is the log.
            cold: fc.boolean(),
            fail: fc.constantFrom('none', 'append', 'append-landed', 'row', 'late-writer'),
          }),
          { minLength: 1, maxLength: 40 },
        ),
        async (ids, steps) => {
          const rows = new InMemorySpeedRowStore(views);
          const log = new InMemoryShardIdLog();
          const instances = [instance(rows, log), instance(rows, log)];
          let current = 0;
          const stream = ids.map((id, i) => record(i, id));
          let position = 0;
          let step = 0;
          while (position < stream.length) {
            // Failures only in the first pass over the steps, so the stream gets through.
            const s = steps[step % steps.length];
            const fail = step++ < steps.length ? s.fail : 'none';
            if (s.switchInstance) current = 1 - current;
            if (s.cold) instances[current] = instance(rows, log);
            if (fail === 'append') log.failNextAppends(1);
            if (fail === 'append-landed') log.failNextAppends(1, true);
            if (fail === 'row') rows.failNextWrites(1);
            const batch = stream.slice(position, position + s.size);
            // A writer that read the log now but lands its append after this step: a timed-out
            // invocation (or a dead runtime's request) over the first half of the batch.
            let late: { land: () => void; done: Promise<unknown> } | undefined;
            if (fail === 'late-writer') {
              const held = log.holdNextAppend();
              const done = processSpeedBatch(
                batch.slice(0, Math.ceil(batch.length / 2)),
                instance(rows, log),
              );
              const appending = await Promise.race([held.entered.then(() => true), done.then(() => false)]);
              // A batch with no new id appends nothing: then nothing is held.
              if (!appending) log.cancelHold();
              late = { land: held.land, done };
            }
            const result = await processSpeedBatch(batch, instances[current]);
            if (late) {
              late.land();
              await late.done;
            }
            log.failNextAppends(0);
            rows.failNextWrites(0);
            if (s.redeliver) await processSpeedBatch(batch, instances[1 - current]);
            // The event source checkpoints below failedFrom and retries from it.
            position =
              result.failedFrom === undefined
                ? position + batch.length
                : stream.findIndex((r) => r.position.sequenceNumber === result.failedFrom);
          }
          const distinct = [...new Set(ids)];
          expect(served(rows)).toEqual({ n: distinct.length, amount: distinct.reduce((a, b) => a + b, 0) });
        },
      ),
      { numRuns: 200 },
    );
  });
});
