import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbEventClaims } from '../../lambdas/adapters/aws/dynamodb-event-claims';
import { processKappaBatch } from '../../lambdas/services/kappa-processor';
import { queryKappaView } from '../../lambdas/services/kappa-query';
import { finishReplay, replayReady, startReplay, type ReplayDeps } from '../../lambdas/services/kappa-replay';
import { offerChunkCopies, replayChunk } from '../../lambdas/services/kappa-replay-chunks';
import { startEmulatedTables, type EmulatedTables } from '../fixtures/emulated-tables';
import {
  archivedClick,
  clickBody,
  CLICKS_SHARD as SHARD,
  CLICKS_T0 as T0,
  CLICKS_VIEWS as VIEWS,
} from '../fixtures/kappa-clicks';
import {
  InMemoryArchive,
  InMemoryKappaCellStore,
  InMemoryKappaControlStore,
} from '../services/in-memory-kappa';

/**
 * The Kappa processor and the replay chunks claim event ids in one dedupe table (the deployed
 * stack's; replay runs in many chunks there). Found auditing the keys users control: a replay
 * claimed `<replayId>#<event id>`, and replay ids are `replay-<n>`, so the live event whose id is
 * `replay-1#a` (any string is a valid id) held replay 1's claim of event `a`: the replay dropped
 * `a` as a copy another chunk had counted, and version 1 served one event less.
 */
const position = (n: number, arrivedMs: number) => ({
  shardId: SHARD,
  sequenceNumber: String(n),
  partitionKey: 'p',
  arrivedMs,
});
const archived = (id: string, n: number) =>
  `${archivedClick(id, { sequenceNumber: String(n), arrivedMs: T0 - 60_000 + n, partitionKey: 'p' })}\n`;

let tables: EmulatedTables;

/** The replay's deps: the claims in DynamoDB (dynalite), the rest in memory; `time.now` moves the clock. */
function replaySetup() {
  const time = { now: T0 };
  const clock = { now: (): number => time.now };
  const claims = new DynamoDbEventClaims(tables.doc, tables.names.dedupeTable, 3600, clock);
  const cells = new InMemoryKappaCellStore();
  const control = new InMemoryKappaControlStore();
  const archive = new InMemoryArchive();
  const deps: ReplayDeps = {
    views: VIEWS,
    cells,
    control,
    claims,
    archive,
    watermark: { archivedBeforeMs: async () => time.now },
    clock,
    handoffDelayMs: 1000,
    archivePrefix: 'events/',
  };
  return { time, clock, claims, cells, control, archive, deps };
}

describe('replay claims beside the live claims in DynamoDB (dynalite)', () => {
  beforeAll(async () => {
    tables = await startEmulatedTables('replayclaims');
  }, 60_000);
  afterAll(async () => {
    await tables.stop();
  });

  it('a live event id spelled `<replayId>#<id>` takes no claim of the replay, in either order', async () => {
    const setup = replaySetup();
    const { claims, cells, control, archive, deps, clock } = setup;
    const live = (id: string, n: number) =>
      processKappaBatch([{ data: JSON.stringify(clickBody(id)), position: position(n, setup.time.now) }], {
        views: VIEWS,
        cells,
        control,
        claims,
        fenceBy: 'shard',
      });
    // Two chunks of one object each: copies of an id across them are decided by claims.
    archive.put('events/dt=2026-11-24/hour=09/shardId-000000000000-1-1.ndjson', archived('a', 1));
    archive.put('events/dt=2026-11-24/hour=09/shardId-000000000000-2-2.ndjson', archived('b', 2));

    const started = await startReplay({}, deps);
    expect(started.replayId).toBe('replay-1');
    setup.time.now = started.handoffMs + 1;
    // The live processor claims its id before the replay reaches `a`...
    expect((await live('replay-1#a', 10)).applied).toBe(1);
    expect((await replayReady(started.replayId, deps)).ready).toBe(true);
    const [first, second] = await archive.list();
    // The state machine's first map: every object's copies claimed, then each object folded.
    await offerChunkCopies(started.replayId, [second], deps);
    await offerChunkCopies(started.replayId, [first], deps);
    expect((await replayChunk(started.replayId, [first], { chunkId: 'c1', sole: false }, deps)).events).toBe(
      1,
    );
    expect((await replayChunk(started.replayId, [second], { chunkId: 'c2', sole: false }, deps)).events).toBe(
      1,
    );
    // ...and after the replay claimed `b`.
    expect((await live('replay-1#b', 11)).applied).toBe(1);
    await finishReplay(started.replayId, deps);

    const answer = await queryKappaView(
      'clicks',
      { page: '/a', from: '2026-11-24T00:00:00Z', to: '2026-11-25T00:00:00Z' },
      { views: VIEWS, cells, control, clock },
    );
    expect(answer.status).toBe(200);
    // a and b from the archive, and the two live events.
    expect((answer.body as { buckets: { measures: unknown }[] }).buckets).toEqual([
      { start: '2026-11-24T10:00:00.000Z', measures: { n: 4 } },
    ]);
    // Each kind of claim in its own item: the replay's of `a` is held, the live stream's is free.
    expect((await claims.keptCopies(['a'], started.replayId)).get('a')).toContain(first);
    expect(await claims.claim('a', `${SHARD}/12`, T0)).toEqual({ owned: true });
  });

  it("folds each id's earliest copy whichever child runs first, and a late object's new ids once", async () => {
    // GIVEN copies of `x` stamped with different times in two objects, the earlier arrival in the
    // object folded last, and 150 other ids (BatchGetItem reads at most 100 keys a call)
    const setup = replaySetup();
    const { cells, control, archive, deps, clock } = setup;
    const line = (id: string, n: number, time: string) =>
      `${archivedClick(id, { sequenceNumber: String(n), arrivedMs: T0 - 600_000 + n }, time)}\n`;
    const others = Array.from({ length: 150 }, (_, i) => line(`o${i}`, 100 + i, '2026-11-24T09:30:00Z'));
    const early = 'events/dt=2026-11-24/hour=09/shardId-000000000000-9-9.ndjson';
    const late = 'events/dt=2026-11-24/hour=09/shardId-000000000000-10-99.ndjson';
    archive.put(early, line('x', 9, '2026-11-24T09:59:59.900Z'));
    archive.put(late, line('x', 99, '2026-11-24T10:00:00.100Z') + others.join(''));
    const started = await startReplay({}, deps);
    setup.time.now = started.handoffMs + 1;
    expect((await replayReady(started.replayId, deps)).ready).toBe(true);

    // WHEN the later copy is offered and folded first, each child runs twice, and an object
    // archived after the first map listed the archive (another copy of x, a new id) is folded too
    for (const key of [late, early, late]) await offerChunkCopies(started.replayId, [key], deps);
    for (const key of [late, early, late])
      await replayChunk(started.replayId, [key], { chunkId: key, sole: false }, deps);
    const unlisted = 'events/dt=2026-11-24/hour=09/shardId-000000000001-1-2.ndjson';
    archive.put(unlisted, line('x', 5, '2026-11-24T11:00:00Z') + line('fresh', 6, '2026-11-24T09:30:00Z'));
    expect(
      (await replayChunk(started.replayId, [unlisted], { chunkId: unlisted, sole: false }, deps)).events,
    ).toBe(1);
    await finishReplay(started.replayId, deps);

    // THEN x counts once, in the hour of its earliest copy (the batch layer's), and every other id once
    const answer = await queryKappaView(
      'clicks',
      { page: '/a', from: '2026-11-24T00:00:00Z', to: '2026-11-25T00:00:00Z' },
      { views: VIEWS, cells, control, clock },
    );
    expect((answer.body as { buckets: unknown[] }).buckets).toEqual([
      { start: '2026-11-24T09:00:00.000Z', measures: { n: 152 } },
    ]);
  });
});
