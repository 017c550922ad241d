import { describe, expect, it } from 'vitest';
import { decodeKinesisEvent } from '../../lambdas/adapters/codecs/kinesis-event';
import type { FenceBy } from '../../lambdas/core/fencing';
import { finalizeRow, identityRow, mergeRows, type MeasureValue } from '../../lambdas/core/measures';
import { validateViews, type ViewDefinition } from '../../lambdas/core/view';
import { processSpeedBatch, type SpeedRecord } from '../../lambdas/services/speed-layer';
import {
  FIRST_ARRIVAL_MS,
  kinesisStreamEvent,
  sequenceNumber,
  SHARD_ID,
  type StreamRecordSpec,
} from '../fixtures/events/factories';
import { SpeedRowCache } from '../../lambdas/services/speed-row-cache';
import { InMemoryEventClaims, InMemorySpeedRowStore } from './in-memory-stores';

const views = validateViews([
  {
    name: 'clicks',
    eventType: 'click',
    key: ['page'],
    granularity: '1h',
    measures: { n: { kind: 'count' }, amount: { kind: 'sum', field: 'amount' } },
  },
  {
    name: 'purchases',
    eventType: 'purchase',
    key: ['page'],
    granularity: '1h',
    measures: { n: { kind: 'count' } },
  },
]);
const [clicks, purchases] = views;
const ARRIVAL_BUCKET_MS = 60_000;

const click = (id: string, page = '/home', amount = 1) => ({
  id,
  type: 'click',
  time: '2023-11-14T22:10:00Z',
  page,
  amount,
});
const purchase = (id: string, page = '/cart') => ({
  id,
  type: 'purchase',
  time: '2023-11-14T22:10:00Z',
  page,
});

/** Stream record number `i` of shard 0: a fixed sequence number, so a batch can be delivered again. */
const at = (i: number, body: unknown, extra: Partial<StreamRecordSpec> = {}): StreamRecordSpec => ({
  body,
  sequenceNumber: sequenceNumber(i),
  partitionKey: 'pk',
  arrivedMs: FIRST_ARRIVAL_MS + i,
  ...extra,
});

/** What the speed Lambda gets from the event source: a real Kinesis event, decoded. */
const batch = (...specs: StreamRecordSpec[]): SpeedRecord[] => decodeKinesisEvent(kinesisStreamEvent(specs));

function setup(options: { dedupe?: boolean; fenceBy?: FenceBy; maxWriteAttempts?: number } = {}) {
  const rows = new InMemorySpeedRowStore(views);
  const claims = options.dedupe === false ? undefined : new InMemoryEventClaims();
  const deps = {
    views,
    rows,
    claims,
    fenceBy: options.fenceBy ?? ('shard' as const),
    arrivalBucketMs: ARRIVAL_BUCKET_MS,
    maxWriteAttempts: options.maxWriteAttempts,
  };
  return { rows, claims, deps };
}

/** The speed layer's value of one key: every row of the key merged (all arrival and time buckets). */
function served(
  rows: InMemorySpeedRowStore,
  view: ViewDefinition,
  page: string,
): Record<string, MeasureValue> {
  const state = rows
    .all()
    .filter((r) => r.address.view === view.name && r.address.key[0] === page)
    .reduce((acc, r) => mergeRows(view, acc, r.row.state), identityRow(view));
  return finalizeRow(view, state);
}

describe('processSpeedBatch: poison records', () => {
  it('reports the lowest poison record as failedFrom and applies every valid record of the batch', async () => {
    const { rows, deps } = setup();
    const records = batch(
      at(0, click('e0', '/home', 10)),
      at(1, '{"type": "click", "page": '), // not JSON
      at(2, click('e2', '/home', 20)),
      at(3, '{"type": "click", "page": "/home"}'), // no time
      at(4, purchase('e4')),
      // Accepted by a door running another views module (a deploy while records are in flight):
      // not poison. Read as archived events are: a measure value its rule refuses is missing for
      // that measure, a key its rule refuses keeps the event out of that view.
      at(5, { ...click('e5'), amount: 'ten' }),
      at(6, { ...click('e6'), page: { nested: 1 } }),
    );
    const result = await processSpeedBatch(records, deps);
    expect(result.failedFrom).toBe(sequenceNumber(1));
    expect(result.errors).toEqual([]); // poison is reported as poison, not as a store failure
    expect(result.poison.map((p) => p.sequenceNumber)).toEqual([sequenceNumber(1), sequenceNumber(3)]);
    expect(result.poison[0].error).toMatch(/is not JSON/);
    expect(result.poison[1].error).toMatch(/time/);
    expect(served(rows, clicks, '/home')).toEqual({ n: 3, amount: 30 });
    expect(served(rows, purchases, '/cart')).toEqual({ n: 1 });
  });

  it('loses nothing valid when the event source retries from the poison record and then dead-letters it', async () => {
    const { rows, deps } = setup();
    const records = batch(at(0, click('e0')), at(1, 'not json'), at(2, click('e2')), at(3, purchase('e3')));
    const first = await processSpeedBatch(records, deps);
    expect(first.failedFrom).toBe(sequenceNumber(1));
    // Lambda retries from the reported record (everything below it is checkpointed)...
    for (let retry = 0; retry < 3; retry++) {
      const again = await processSpeedBatch(records.slice(1), deps);
      expect(again).toMatchObject({ failedFrom: sequenceNumber(1), applied: 0, rowsWritten: 0 });
    }
    // ...then sends [1..3] to the on-failure destination and moves on: 2 and 3 were applied already.
    expect(served(rows, clicks, '/home')).toEqual({ n: 2, amount: 2 });
    expect(served(rows, purchases, '/cart')).toEqual({ n: 1 });
  });

  it('reports a lower failed row write rather than the poison record', async () => {
    const { rows, deps } = setup();
    rows.failWritesWhere((a) => a.view === 'purchases');
    const result = await processSpeedBatch(
      batch(at(0, purchase('e0')), at(1, 'not json'), at(2, click('e2'))),
      deps,
    );
    expect(result.failedFrom).toBe(sequenceNumber(0));
    expect(result.poison.map((p) => p.sequenceNumber)).toEqual([sequenceNumber(1)]);
    expect(served(rows, clicks, '/home').n).toBe(1);
  });
});

describe('processSpeedBatch: redelivery is a no-op', () => {
  for (const dedupe of [true, false]) {
    it(`changes nothing when the same batch is delivered again (dedupe ${dedupe ? 'on' : 'off'})`, async () => {
      const { rows, deps } = setup({ dedupe });
      const records = batch(
        at(0, click('e0')),
        at(1, click('e1', '/a')),
        at(2, purchase('e2')),
        at(3, click('e3')),
      );
      const first = await processSpeedBatch(records, deps);
      expect(first).toMatchObject({ failedFrom: undefined, applied: 4, rowsWritten: 3, duplicates: 0 });
      const before = rows.all();
      const again = await processSpeedBatch(records, deps);
      expect(again).toEqual({
        failedFrom: undefined,
        poison: [],
        errors: [],
        applied: 0,
        rowsWritten: 0,
        duplicates: 0,
        earlierCopies: 0,
      });
      expect(rows.all()).toEqual(before);
    });
  }

  it('applies only the part of a partly overlapping retry above each row fence', async () => {
    const { rows, deps } = setup();
    await processSpeedBatch(batch(at(0, click('e0')), at(1, click('e1')), at(2, click('e2'))), deps);
    // A checkpoint restarts at record 1: 1 and 2 were applied, 3 and 4 are new.
    const retry = await processSpeedBatch(
      batch(at(1, click('e1')), at(2, click('e2')), at(3, click('e3')), at(4, click('e4'))),
      deps,
    );
    expect(retry).toMatchObject({ applied: 2, rowsWritten: 1 });
    expect(served(rows, clicks, '/home').n).toBe(5);
  });

  it('compares sequence numbers as digits of any length, not as text or JavaScript numbers', async () => {
    const { rows, deps } = setup({ dedupe: false });
    await processSpeedBatch(batch(at(0, click('a'), { sequenceNumber: '9' })), deps);
    expect((await processSpeedBatch(batch(at(1, click('b'), { sequenceNumber: '10' })), deps)).applied).toBe(
      1,
    );
    const big = '4'.repeat(128);
    await processSpeedBatch(batch(at(2, click('c'), { sequenceNumber: `${big}1` })), deps);
    expect(Number(`${big}1`)).toBe(Number(`${big}2`)); // what a number comparison would see
    expect(
      (await processSpeedBatch(batch(at(3, click('d'), { sequenceNumber: `${big}2` })), deps)).applied,
    ).toBe(1);
    expect(served(rows, clicks, '/home').n).toBe(4);
  });
});

describe('processSpeedBatch: conditional writes', () => {
  it('retries a write that lost its condition and then succeeds', async () => {
    const { rows, deps } = setup();
    rows.conflictNextWrites(2);
    const result = await processSpeedBatch(batch(at(0, click('e0')), at(1, click('e1'))), deps);
    expect(result).toMatchObject({ failedFrom: undefined, applied: 2, rowsWritten: 1 });
    expect(rows.writes.map((w) => w.outcome)).toEqual(['conflict', 'conflict', 'written']);
    expect(served(rows, clicks, '/home').n).toBe(2);
  });

  it('after losing to a concurrent delivery, folds in only the records above the fence it wrote', async () => {
    const { rows, deps } = setup();
    const records = batch(at(0, click('e0')), at(1, click('e1')), at(2, click('e2')));
    // Between this delivery's read and write, another delivery applies records 0 and 1 to the row.
    rows.beforeNextWrite(async () => {
      await processSpeedBatch(records.slice(0, 2), deps);
    });
    const result = await processSpeedBatch(records, deps);
    expect(result).toMatchObject({ failedFrom: undefined, applied: 1, rowsWritten: 1 });
    expect(rows.writes.map((w) => w.outcome)).toEqual(['written', 'conflict', 'written']);
    expect(served(rows, clicks, '/home').n).toBe(3);
  });

  it('reports the lowest record of a row whose write keeps failing, and writes the other rows', async () => {
    const { rows, deps } = setup();
    rows.failWritesWhere((a) => a.view === 'clicks' && a.key[0] === '/b');
    const records = batch(
      at(0, click('e0', '/a')),
      at(1, click('e1', '/b')),
      at(2, purchase('e2')),
      at(3, click('e3', '/b')),
      at(4, click('e4', '/a')),
    );
    const result = await processSpeedBatch(records, deps);
    expect(result.failedFrom).toBe(sequenceNumber(1));
    expect(result.errors).toEqual([
      {
        sequenceNumber: sequenceNumber(1),
        stage: 'write',
        error: 'clicks row: ProvisionedThroughputExceededException: injected',
      },
    ]);
    expect(result).toMatchObject({ applied: 3, rowsWritten: 2 });
    expect(served(rows, clicks, '/a').n).toBe(2);
    expect(served(rows, clicks, '/b').n).toBe(0);
    expect(served(rows, purchases, '/cart').n).toBe(1);
    // The event source retries from record 1: the row heals, the rows already written are fenced.
    rows.failWritesWhere(undefined);
    const retry = await processSpeedBatch(records.slice(1), deps);
    expect(retry).toMatchObject({ failedFrom: undefined, applied: 2, rowsWritten: 1 });
    expect([
      served(rows, clicks, '/a').n,
      served(rows, clicks, '/b').n,
      served(rows, purchases, '/cart').n,
    ]).toEqual([2, 2, 1]);
  });

  it('gives up on a row after maxWriteAttempts conflicts and reports its lowest record', async () => {
    const { rows, deps } = setup({ maxWriteAttempts: 3 });
    rows.conflictNextWrites(100);
    const result = await processSpeedBatch(batch(at(5, click('e5')), at(7, click('e7'))), deps);
    expect(result).toMatchObject({ failedFrom: sequenceNumber(5), applied: 0, rowsWritten: 0 });
    expect(rows.writes).toHaveLength(3);
    // The cause travels with the failure (the handler logs it): never swallowed.
    expect(result.errors).toEqual([
      {
        sequenceNumber: sequenceNumber(5),
        stage: 'write',
        error: 'clicks row: row clicks kept changing under 3 attempts',
      },
    ]);
  });
});

describe('processSpeedBatch: event-level dedupe', () => {
  it('drops a second copy of an event id under another sequence number, but not a redelivery of the owner', async () => {
    const { rows, claims, deps } = setup();
    // A producer retry: the same event put twice, with two sequence numbers.
    const first = await processSpeedBatch(
      batch(at(0, click('dup', '/home', 5)), at(1, click('dup', '/home', 5))),
      deps,
    );
    expect(first).toMatchObject({ duplicates: 1, applied: 1 });
    expect(claims?.owners.get('dup')?.owner).toBe(`${SHARD_ID}/${sequenceNumber(0)}`);
    // The owner delivered again: not a duplicate (its effect is fenced by the row instead).
    const owner = await processSpeedBatch(batch(at(0, click('dup', '/home', 5))), deps);
    expect(owner).toMatchObject({ duplicates: 0, applied: 0 });
    // The copy delivered again: still a duplicate.
    const copy = await processSpeedBatch(batch(at(1, click('dup', '/home', 5))), deps);
    expect(copy).toMatchObject({ duplicates: 1, applied: 0 });
    expect(served(rows, clicks, '/home')).toEqual({ n: 1, amount: 5 });
  });

  it('counts both copies when dedupe is off (the documented difference)', async () => {
    const { rows, deps } = setup({ dedupe: false });
    const result = await processSpeedBatch(batch(at(0, click('dup')), at(1, click('dup'))), deps);
    expect(result).toMatchObject({ duplicates: 0, applied: 2 });
    expect(served(rows, clicks, '/home').n).toBe(2);
  });

  it('holds back every record after a failed claim, so a later copy cannot take the id first', async () => {
    const { rows, claims, deps } = setup();
    claims?.failFor('b');
    const records = batch(
      at(0, click('a')),
      at(1, click('b')),
      at(2, click('c', '/other')),
      at(3, click('b')), // the producer's retry of b
    );
    const result = await processSpeedBatch(records, deps);
    expect(result.failedFrom).toBe(sequenceNumber(1));
    expect(result.errors).toEqual([
      {
        sequenceNumber: sequenceNumber(1),
        stage: 'claim',
        error: 'ProvisionedThroughputExceededException: injected',
      },
    ]);
    expect(result.applied).toBe(1);
    expect(served(rows, clicks, '/home').n).toBe(1);
    expect(served(rows, clicks, '/other').n).toBe(0);
    expect(claims?.owners.has('b')).toBe(false);
    // The retry from record 1 applies the rest in order: b's first copy owns the id.
    claims?.clearFailures();
    const retry = await processSpeedBatch(records.slice(1), deps);
    expect(retry).toMatchObject({ failedFrom: undefined, applied: 2, duplicates: 1 });
    expect(claims?.owners.get('b')?.owner).toBe(`${SHARD_ID}/${sequenceNumber(1)}`);
    expect(served(rows, clicks, '/home').n).toBe(2);
    expect(served(rows, clicks, '/other').n).toBe(1);
  });
});

describe('processSpeedBatch: copies of one id under different partition keys', () => {
  it('notes, once however often redelivered, a copy that arrived before the copy it kept', async () => {
    const { rows, claims, deps } = setup();
    // Copy A arrived first on shard 0 but its shard is processed late; copy B (another partition
    // key, another shard) arrived 5 s later and is processed first, so the speed layer keeps B.
    const copyB = batch(
      at(9, click('x'), { shardId: 'shardId-000000000009', arrivedMs: FIRST_ARRIVAL_MS + 5_000 }),
    );
    const copyA = batch(at(1, click('x'), { arrivedMs: FIRST_ARRIVAL_MS }));
    expect(await processSpeedBatch(copyB, deps)).toMatchObject({ applied: 1, earlierCopies: 0 });
    expect(await processSpeedBatch(copyA, deps)).toMatchObject({ duplicates: 1, earlierCopies: 1 });
    expect(await processSpeedBatch(copyA, deps)).toMatchObject({ duplicates: 1 }); // redelivered
    expect(await claims!.earlierCopiesNoted()).toBe(1);
    expect(served(rows, clicks, '/home').n).toBe(1);
  });

  it('notes nothing when the kept copy is the earliest (the ingestion API: retries share the partition key)', async () => {
    const { claims, deps } = setup();
    await processSpeedBatch(batch(at(1, click('y')), at(2, click('y'))), deps);
    await processSpeedBatch(batch(at(3, click('y'), { shardId: 'shardId-000000000009' })), deps);
    expect(await claims!.earlierCopiesNoted()).toBe(0);
  });
});

describe('processSpeedBatch: fences per partition key', () => {
  // ParallelizationFactor > 1: Lambda keeps order per partition key only, so the records of pk "b"
  // (sequence 1) may be processed after those of pk "a" (sequences 0 and 2) wrote the same row.
  const pkA = batch(at(0, click('e0'), { partitionKey: 'a' }), at(2, click('e2'), { partitionKey: 'a' }));
  const pkB = batch(at(1, click('e1'), { partitionKey: 'b' }));

  it('applies a lower sequence number of another partition key, and fences each key', async () => {
    const { rows, deps } = setup({ fenceBy: 'partitionKey' });
    await processSpeedBatch(pkA, deps);
    expect((await processSpeedBatch(pkB, deps)).applied).toBe(1);
    expect(served(rows, clicks, '/home').n).toBe(3);
    expect(rows.all()[0].row.fences).toEqual({
      [`${SHARD_ID}|a`]: sequenceNumber(2),
      [`${SHARD_ID}|b`]: sequenceNumber(1),
    });
    // Redeliveries of either key stay no-ops.
    expect((await processSpeedBatch(pkB, deps)).applied).toBe(0);
    expect((await processSpeedBatch(pkA, deps)).applied).toBe(0);
    expect(served(rows, clicks, '/home').n).toBe(3);
  });

  it('would skip that record with one fence per shard (why fenceBy must follow the parallelization)', async () => {
    const { rows, deps } = setup({ fenceBy: 'shard', dedupe: false });
    await processSpeedBatch(pkA, deps);
    expect((await processSpeedBatch(pkB, deps)).applied).toBe(0);
    expect(served(rows, clicks, '/home').n).toBe(2);
  });
});

describe('processSpeedBatch: the row cache and rows folded in place', () => {
  // A row's sketch grows in place within a batch; two shards handled by one process share the cache.
  const [visits] = validateViews([
    {
      name: 'visits',
      eventType: 'visit',
      key: ['page'],
      granularity: '1h',
      measures: { n: { kind: 'count' }, users: { kind: 'distinct', field: 'user' } },
    },
  ]);
  const visit = (id: string, user: string) => ({
    id,
    type: 'visit',
    time: '2023-11-14T22:10:00Z',
    page: '/p',
    user,
  });
  const onShard = (shardId: string, i: number, id: string, user: string) =>
    batch(at(i, visit(id, user), { shardId, arrivedMs: FIRST_ARRIVAL_MS }));
  const stored = (rows: InMemorySpeedRowStore) => finalizeRow(visits, rows.all()[0].row.state);

  function cachedSetup() {
    const rows = new InMemorySpeedRowStore([visits]);
    const rowCache = new SpeedRowCache();
    const deps = {
      views: [visits],
      rows,
      rowCache,
      fenceBy: 'shard' as const,
      arrivalBucketMs: ARRIVAL_BUCKET_MS,
    };
    return { rows, rowCache, deps };
  }

  it('never lets a batch of another shard see a row folded but not yet written', async () => {
    const { rows, rowCache, deps } = cachedSetup();
    await processSpeedBatch(onShard('shard-a', 0, 'e0', 'u0'), deps);
    expect(rowCache.size).toBe(1);
    // While shard a's write of u1 is on its way, shard b's batch (u2) runs to its end.
    rows.beforeNextWrite(async () => {
      await processSpeedBatch(onShard('shard-b', 0, 'e2', 'u2'), deps);
      // What b wrote holds b's user, not the u1 that a folded into its own (taken) row.
      expect(stored(rows)).toEqual({ n: 2, users: 2 });
    });
    const a = await processSpeedBatch(onShard('shard-a', 1, 'e1', 'u1'), deps);
    // a lost its condition to b, read b's row and folded u1 into it.
    expect(a).toMatchObject({ failedFrom: undefined, applied: 1 });
    expect(stored(rows)).toEqual({ n: 3, users: 3 });
    expect((await processSpeedBatch(onShard('shard-b', 1, 'e3', 'u3'), deps)).applied).toBe(1);
    expect(stored(rows)).toEqual({ n: 4, users: 4 });
  });

  it('drops a row whose write failed, so nothing folded into it is written later', async () => {
    const { rows, rowCache, deps } = cachedSetup();
    await processSpeedBatch(onShard('shard-a', 0, 'e0', 'u0'), deps);
    rows.failNextWrites(1);
    const failed = await processSpeedBatch(onShard('shard-a', 1, 'e1', 'u1'), deps);
    expect(failed.failedFrom).toBe(sequenceNumber(1));
    expect(rowCache.size).toBe(0);
    // Another shard's batch writes the row before a's retry: u1 must not be in it yet.
    await processSpeedBatch(onShard('shard-b', 0, 'e2', 'u2'), deps);
    expect(stored(rows)).toEqual({ n: 2, users: 2 });
    expect((await processSpeedBatch(onShard('shard-a', 1, 'e1', 'u1'), deps)).applied).toBe(1);
    expect(stored(rows)).toEqual({ n: 3, users: 3 });
  });

  it('keeps a cached row unchanged when a redelivery brings nothing new', async () => {
    const { rows, rowCache, deps } = cachedSetup();
    const first = onShard('shard-a', 0, 'e0', 'u0');
    await processSpeedBatch(first, deps);
    expect((await processSpeedBatch(first, deps)).applied).toBe(0);
    expect(rowCache.size).toBe(1);
    expect((await processSpeedBatch(onShard('shard-a', 1, 'e1', 'u1'), deps)).applied).toBe(1);
    expect(rows.writes.map((w) => w.outcome)).toEqual(['written', 'written']);
    expect(stored(rows)).toEqual({ n: 2, users: 2 });
  });
});

/** One shard's speed instance (its own row cache) over a table other shards write too. */
const shardInstance = (rows: InMemorySpeedRowStore) => ({
  views,
  rows,
  rowCache: new SpeedRowCache(),
  fenceBy: 'shard' as const,
  arrivalBucketMs: ARRIVAL_BUCKET_MS,
});

/**
 * Two shards share a key's rows, each served by an instance of its own (its own row cache), as
 * Lambda runs them: every batch of one finds the row changed by the other. After the first failed
 * write an instance reads that key's rows before writing them, instead of failing a conditional
 * write on its stale cached revision each time (DynamoDB bills a failed conditional write).
 */
describe('processSpeedBatch: rows another shard keeps writing', () => {
  it('reads them first after the first conflict, and serves every event once', async () => {
    const rows = new InMemorySpeedRowStore(views);
    const instance = () => shardInstance(rows);
    const shards = [instance(), instance()];
    const rounds = 12;
    for (let r = 0; r < rounds; r++)
      for (let s = 0; s < 2; s++) {
        const shardId = `shardId-00000000000${s}`;
        await processSpeedBatch(
          batch(at(r, click(`e${r}-${s}`, '/home', 1), { shardId, arrivedMs: FIRST_ARRIVAL_MS + r * 1000 })),
          shards[s],
        );
      }
    const conflicts = rows.writes.filter((w) => w.outcome === 'conflict').length;
    // The second instance's blind create finds the row, and each instance's first write on its
    // cached revision fails once; none after that.
    expect(conflicts).toBeLessThanOrEqual(3);
    expect(rows.writes.filter((w) => w.outcome === 'written')).toHaveLength(2 * rounds);
    expect(served(rows, clicks, '/home').n).toBe(2 * rounds);
  });

  it('a new instance whose blind create finds the row marks nothing: it goes on writing on its cached revision', async () => {
    const rows = new InMemorySpeedRowStore(views);
    let reads = 0;
    const read = rows.read.bind(rows);
    rows.read = (view, address) => {
      reads++;
      return read(view, address);
    };
    const instance = () => shardInstance(rows);
    const post = (deps: ReturnType<typeof instance>, r: number, s: number) =>
      processSpeedBatch(
        batch(
          at(r, click(`e${r}-${s}`, '/home', 1), {
            shardId: `shardId-00000000000${s}`,
            arrivedMs: FIRST_ARRIVAL_MS + r * 1000,
          }),
        ),
        deps,
      );
    // Another instance wrote the key's row before.
    await post(instance(), 9, 0);
    // A new instance (a cold start) finds the row with a blind create: that marks nothing.
    const c = instance();
    await post(c, 10, 0);
    const cold = reads;
    for (let r = 11; r < 15; r++) await post(c, r, 0);
    expect(reads).toBe(cold);
    expect(served(rows, clicks, '/home').n).toBe(6);
  });
});
