import { describe, expect, it } from 'vitest';
import { parseReplayRequest, parseRollbackRequest } from '../../lambdas/adapters/codecs/replay-request';
import { feeds } from '../../lambdas/core/kappa';
import { finalizeRow, foldEvents, identityRow } from '../../lambdas/core/measures';
import { toArchiveLine, normalizeStreamRecord } from '../../lambdas/core/event';
import { validateViews, type ViewDefinition } from '../../lambdas/core/view';
import { processKappaBatch } from '../../lambdas/services/kappa-processor';
import { queryKappaView } from '../../lambdas/services/kappa-query';
import {
  dropReplayCells,
  failReplay,
  finishReplay,
  replayReady,
  rollback,
  startReplay,
  abandonStart,
  type ReplayDeps,
} from '../../lambdas/services/kappa-replay';
import { offerChunkCopies, replayChunk } from '../../lambdas/services/kappa-replay-chunks';
import type { SpeedRecord } from '../../lambdas/services/speed-layer';
import { InMemoryArchive, InMemoryKappaCellStore, InMemoryKappaControlStore } from './in-memory-kappa';
import { InMemoryEventClaims } from './in-memory-stores';

const CLICKS = {
  name: 'clicks',
  eventType: 'click',
  key: ['page'],
  granularity: '1h',
  measures: { n: { kind: 'count' }, amount: { kind: 'sum', field: 'amount' } },
};
const v1 = validateViews([CLICKS]);
const T0 = Date.UTC(2026, 10, 24, 10);
const EVENT_TIME = '2026-11-24T10:10:00Z';
const RANGE = { page: '/a', from: '2026-11-24T00:00:00Z', to: '2026-11-25T00:00:00Z' };

function setup(views: ViewDefinition[] = v1) {
  let now = T0;
  let archived: number | null = null;
  const cells = new InMemoryKappaCellStore();
  const control = new InMemoryKappaControlStore();
  const claims = new InMemoryEventClaims();
  const archive = new InMemoryArchive();
  const deps: ReplayDeps = {
    views,
    cells,
    control,
    claims,
    archive,
    watermark: { archivedBeforeMs: async () => archived },
    clock: { now: () => now },
    handoffDelayMs: 1000,
    archivePrefix: 'events/',
  };
  return {
    deps,
    cells,
    control,
    claims,
    archive,
    at: (ms: number) => (now = ms),
    archiveUpTo: (ms: number) => (archived = ms),
    processor: (views2: ViewDefinition[] = views) => ({
      views: views2,
      cells,
      control,
      claims,
      fenceBy: 'shard' as const,
    }),
    query: (view: string, views2: ViewDefinition[] = views) =>
      queryKappaView(view, RANGE, { views: views2, cells, control, clock: { now: () => now } }),
  };
}

let seq = 0;
function record(body: Record<string, unknown>, arrivedMs: number, sequence = ++seq): SpeedRecord {
  return {
    data: JSON.stringify(body),
    position: {
      shardId: 'shardId-000000000000',
      sequenceNumber: String(sequence),
      partitionKey: String(body.id),
      arrivedMs,
    },
  };
}
const click = (id: string, amount = 1, page = '/a') => ({
  id,
  type: 'click',
  time: EVENT_TIME,
  page,
  amount,
});

async function buildVersion(s: ReturnType<typeof setup>, request = {}): Promise<number> {
  const started = await startReplay(request, s.deps);
  s.archiveUpTo(started.handoffMs);
  expect((await replayReady(started.replayId, s.deps)).ready).toBe(true);
  await replayChunk(started.replayId, await s.archive.list(), { chunkId: 'all', sole: true }, s.deps);
  const { drop } = await finishReplay(started.replayId, s.deps);
  // The drop step, as the state machine loops on it.
  for (let progress = drop; !progress.done;)
    progress = await dropReplayCells(started.replayId, progress.cursor, s.deps);
  return started.version;
}

function measures(body: unknown): Record<string, unknown>[] {
  return ((body as { buckets: { measures: Record<string, unknown> }[] }).buckets ?? []).map(
    (b) => b.measures,
  );
}

describe('Kappa query', () => {
  it('answers 404 for an unknown view and 409 for a declared view with no built version', async () => {
    const s = setup();
    expect((await s.query('nope')).status).toBe(404);
    const answer = await s.query('clicks');
    expect(answer.status).toBe(409);
    expect(JSON.stringify(answer.body)).toMatch(/defined but not built yet: run POST \/admin\/replay/);
  });

  it('serves the active version with the definition it was built with, flagging a changed module', async () => {
    const s = setup();
    await buildVersion(s);
    s.at(T0 + 5000);
    await processKappaBatch([record(click('a', 2), T0 + 5000)], s.processor());
    const changed = validateViews([{ ...CLICKS, measures: { n: { kind: 'count' } } }]);
    const answer = await s.query('clicks', changed);
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ version: 1, architecture: 'kappa' });
    expect(measures(answer.body)).toEqual([{ n: 1, amount: 2 }]);
    expect((answer.body as { definitionChanged?: string }).definitionChanged).toMatch(/POST \/admin\/replay/);
    expect((await s.query('clicks')).body).not.toHaveProperty('definitionChanged');
  });

  it('answers 400 when the key is missing', async () => {
    const s = setup();
    await buildVersion(s);
    const answer = await queryKappaView('clicks', {}, { ...s.deps, clock: { now: () => T0 } });
    expect(answer.status).toBe(400);
  });
});

describe('Kappa processor', () => {
  it('writes only arrivals at or after a version handoff, and a redelivered batch changes nothing', async () => {
    const s = setup();
    await buildVersion(s); // handoff T0 + 1000
    const batch = [record(click('early'), T0 + 999), record(click('late', 5), T0 + 1000)];
    await processKappaBatch(batch, s.processor());
    const writes = s.cells.writes;
    const again = await processKappaBatch(batch, s.processor());
    expect(again.failedFrom).toBeUndefined();
    expect(s.cells.writes).toBe(writes);
    expect(measures((await s.query('clicks')).body)).toEqual([{ n: 1, amount: 5 }]);
  });

  it('isolates a poison record and reports the lowest failed sequence number', async () => {
    const s = setup();
    await buildVersion(s);
    const result = await processKappaBatch(
      [record(click('ok'), T0 + 2000, 10), { ...record({}, T0 + 2000, 11), data: 'not json' }],
      s.processor(),
    );
    expect(result.failedFrom).toBe('11');
    expect(result.poison).toHaveLength(1);
    expect(measures((await s.query('clicks')).body)).toEqual([{ n: 1, amount: 1 }]);
  });

  it('retries a failed cell write from its lowest record; the retry applies it once', async () => {
    const s = setup();
    await buildVersion(s);
    const batch = [record(click('x', 3), T0 + 2000, 20)];
    s.cells.failNextWrites(1);
    expect((await processKappaBatch(batch, s.processor())).failedFrom).toBe('20');
    expect((await processKappaBatch(batch, s.processor())).failedFrom).toBeUndefined();
    expect(measures((await s.query('clicks')).body)).toEqual([{ n: 1, amount: 3 }]);
  });

  it('keeps out events whose key an older version definition cannot read, and counts the rest', () => {
    const [view] = validateViews([{ ...CLICKS, key: ['section'] }]);
    expect(feeds(view, { type: 'click', page: '/a' })).toBe(false);
    expect(feeds(view, { type: 'click', section: { a: 1 } })).toBe(false);
    expect(feeds(view, { type: 'click', section: 'x'.repeat(1100) })).toBe(false); // too long to store
    // A measure value the definition cannot take is missing for that measure only (as in batch):
    // the event still counts. The replay left such events out whole before (found by a probe).
    expect(feeds(view, { type: 'click', section: 's', amount: 'lots' })).toBe(true);
    expect(feeds(view, { type: 'click', section: 's', amount: 1e-10 })).toBe(true);
    expect(feeds(view, { type: 'click', section: 's', amount: 1.5 })).toBe(true);
    const row = foldEvents(view, identityRow(view), [
      { type: 'click', section: 's', amount: 'lots' },
      { type: 'click', section: 's', amount: 1e-10 },
      { type: 'click', section: 's', amount: 1.5 },
    ]);
    expect(finalizeRow(view, row)).toEqual({ n: 3, amount: 1.5 });
  });
});

describe('replay lifecycle', () => {
  it('refuses a second replay while one runs (ReplayInProgress) and an unknown view (400)', async () => {
    const s = setup();
    await startReplay({}, s.deps);
    await expect(startReplay({}, s.deps)).rejects.toMatchObject({ name: 'ReplayInProgress' });
    const t = setup();
    await expect(startReplay({ views: ['nope'] }, t.deps)).rejects.toMatchObject({
      name: 'ReplayRequestError',
    });
  });

  it('starts a replay whose control write landed though its answer was lost (the SDK retried it)', async () => {
    const s = setup();
    s.control.loseNextWriteAnswer();
    // The retry meets the replay it just recorded: that is this start, not another replay running.
    const started = await startReplay({}, s.deps);
    expect((await s.control.read()).replay).toMatchObject({ replayId: started.replayId, status: 'running' });
  });

  it('rolls back once when the control write landed though its answer was lost', async () => {
    const s = setup();
    for (let i = 0; i < 2; i++) {
      const started = await startReplay({}, s.deps);
      s.archiveUpTo(started.handoffMs + 1);
      s.at(started.handoffMs + 2);
      await finishReplay(started.replayId, s.deps);
    }
    const before = (await s.control.read()).views;
    s.control.loseNextWriteAnswer();
    const answer = await rollback({}, s.deps);
    const after = (await s.control.read()).views;
    for (const [name, pointer] of Object.entries(after)) {
      expect(pointer.active?.version).toBe(before[name].previous?.version);
      expect(answer.views[name].active).toBe(pointer.active?.version);
    }
  });

  it('two rollbacks at once both apply: the second rolls forward, and each answer says what it did', async () => {
    // GIVEN versions 1 (previous) and 2 (active)
    const s = setup();
    await buildVersion(s);
    s.at(T0 + 60_000);
    await buildVersion(s);
    // WHEN two rollbacks read the same revision and write the same change (a black-box probe:
    // both answered 200 "active 1" and the pointers swapped once)
    const answers = await Promise.all([rollback({}, s.deps), rollback({}, s.deps)]);
    // THEN one rolled back and the other, refused, read again and rolled forward
    const final = (await s.control.read()).views.clicks;
    expect(answers.map((a) => a.views.clicks.active).sort()).toEqual([1, 2]);
    expect(final).toMatchObject({ active: { version: 2 }, previous: { version: 1 } });
  });

  it('rolls a view named twice back once, and refuses a named view with no previous version, changing nothing', async () => {
    const s = setup();
    await buildVersion(s);
    s.at(T0 + 60_000);
    await buildVersion(s);
    expect((await rollback({ views: ['clicks', 'clicks'] }, s.deps)).views.clicks).toEqual({
      active: 1,
      previous: 2,
    });
    // A second view that was never built: nothing changes, and the answer names it.
    const withNew = { ...s.deps, control: s.control };
    const pointers = await s.control.read();
    await s.control.write(
      {
        views: {
          ...pointers.views,
          fresh: { active: pointers.views.clicks.active, previous: null, building: null },
        },
        replay: pointers.replay,
      },
      pointers.revision,
    );
    await expect(rollback({ views: ['clicks', 'fresh'] }, withNew)).rejects.toMatchObject({
      name: 'NothingToRollBack',
      message: expect.stringMatching(
        /view fresh has no previous version.*nothing was rolled back/,
      ) as unknown,
    });
    expect((await s.control.read()).views.clicks).toMatchObject({ active: { version: 1 } });
    // Without names, the views that have a previous version roll back.
    expect(Object.keys((await rollback({}, s.deps)).views)).toEqual(['clicks']);
  });

  it('is not ready until the archive watermark passes the handoff', async () => {
    const s = setup();
    const started = await startReplay({}, s.deps);
    s.archiveUpTo(started.handoffMs - 1);
    expect((await replayReady(started.replayId, s.deps)).ready).toBe(false);
    s.archiveUpTo(started.handoffMs);
    expect((await replayReady(started.replayId, s.deps)).ready).toBe(true);
  });

  it('gives up waiting for the archive after maxWaitMs with ArchiveNotReady, so the state machine fails the replay', async () => {
    const s = setup();
    const started = await startReplay({}, s.deps);
    const maxWaitMs = 2 * 3_600_000;
    s.archiveUpTo(started.handoffMs - 1);
    s.at(T0 + maxWaitMs);
    expect((await replayReady(started.replayId, s.deps, maxWaitMs)).ready).toBe(false);
    s.at(T0 + maxWaitMs + 1);
    await expect(replayReady(started.replayId, s.deps, maxWaitMs)).rejects.toMatchObject({
      name: 'ArchiveNotReady',
      message: expect.stringContaining('archive delivery is behind') as unknown,
    });
    // Without a bound (the local runner) it keeps waiting; once the archive holds the handoff it is ready
    expect((await replayReady(started.replayId, s.deps)).ready).toBe(false);
    s.archiveUpTo(started.handoffMs);
    expect((await replayReady(started.replayId, s.deps, maxWaitMs)).ready).toBe(true);
  });

  it('a failed replay leaves the active version served and clears its building version', async () => {
    const s = setup();
    await buildVersion(s);
    const second = await startReplay({}, s.deps);
    s.at(T0 + 10_000);
    await processKappaBatch([record(click('live'), T0 + 10_000)], s.processor());
    await processKappaBatch([record(click('live2', 1, '/b'), T0 + 10_001)], s.processor());
    const { drop } = await failReplay(second.replayId, 'boom', s.deps);
    const pointers = await s.control.read();
    expect(pointers.views.clicks.active?.version).toBe(1);
    expect(pointers.views.clicks.building).toBeNull();
    expect(pointers.replay).toMatchObject({
      status: 'failed',
      error: 'boom',
      dropped: [{ view: 'clicks', version: second.version }],
    });
    // A retried fail step hands over the same drops.
    expect((await failReplay(second.replayId, 'boom', s.deps)).drop).toEqual(drop);
    // The building version's cells go in the drop step, one page an invocation here (a page of
    // one cell, no time budget), each going on from the last one's cursor.
    const building = s.cells.cellsOf(second.version, v1[0]).length;
    expect(building).toBeGreaterThan(1);
    s.cells.pageSize = 1;
    let invocations = 0;
    for (let progress = drop; !progress.done; invocations++)
      progress = await dropReplayCells(second.replayId, progress.cursor, s.deps, 0);
    expect(invocations).toBe(building);
    expect(s.cells.cellsOf(second.version, v1[0])).toHaveLength(0);
    expect(s.cells.cellsOf(1, v1[0]).length).toBeGreaterThan(0);
    expect((await s.control.read()).replay?.dropped).toEqual([]);
    await expect(finishReplay(second.replayId, s.deps)).rejects.toThrow(/failed/);
  });

  it('a backfill range counts only arrivals inside it, from the archive and live', async () => {
    const s = setup();
    const lines = [
      toArchiveLine(normalizeStreamRecord(JSON.stringify(click('before', 1)), pos(T0 - 7_200_000, 1), v1)),
      toArchiveLine(normalizeStreamRecord(JSON.stringify(click('inside', 10)), pos(T0 - 1_800_000, 2), v1)),
    ];
    s.archive.put('events/dt=2026-11-24/hour=08/shardId-000000000000-1-1.ndjson', lines[0] + '\n');
    s.archive.put('events/dt=2026-11-24/hour=09/shardId-000000000000-2-2.ndjson', lines[1] + '\n');
    await buildVersion(s, { fromMs: T0 - 3_600_000, toMs: T0 + 60_000 });
    s.at(T0 + 120_000);
    // Arrives after the range's end: the backfilled version does not take it.
    await processKappaBatch([record(click('after', 100), T0 + 120_000)], s.processor());
    expect(measures((await s.query('clicks')).body)).toEqual([{ n: 1, amount: 10 }]);
  });

  it.each([
    ['one sole chunk (local)', true],
    ["the state machine's children (cloud)", false],
  ])(
    'a backfill range leaves out a retry of an event first sent before from, within the dedupe window: %s',
    async (_, sole) => {
      // GIVEN `early` first sent at 08:00 and its retry at 09:30, inside a range from 09:00, and
      // `inside` sent once at 09:30 (a black-box probe: the range version counted the retry, while
      // the live processor, whose claims know the first copy, drops such a retry after the handoff)
      const line = (id: string, amount: number, arrivedMs: number, seq: number) =>
        toArchiveLine(normalizeStreamRecord(JSON.stringify(click(id, amount)), pos(arrivedMs, seq), v1)) +
        '\n';
      const run = async (copyWindowMs: number | undefined) => {
        const s = setup();
        s.archive.put(
          'events/dt=2026-11-24/hour=08/shardId-000000000000-1-1.ndjson',
          line('early', 1, T0 - 7_200_000, 1),
        );
        s.archive.put(
          'events/dt=2026-11-24/hour=09/shardId-000000000000-2-3.ndjson',
          line('inside', 10, T0 - 1_800_000, 2) + line('early', 1, T0 - 1_799_000, 3),
        );
        const deps = { ...s.deps, copyWindowMs };
        const started = await startReplay({ fromMs: T0 - 3_600_000, toMs: T0 + 60_000 }, deps);
        s.archiveUpTo(started.handoffMs);
        expect((await replayReady(started.replayId, deps)).ready).toBe(true);
        const keys = await s.archive.list();
        if (sole) await replayChunk(started.replayId, keys, { chunkId: 'all', sole: true }, deps);
        else {
          for (const key of [...keys].reverse()) await offerChunkCopies(started.replayId, [key], deps);
          for (const key of [...keys].reverse())
            await replayChunk(started.replayId, [key], { chunkId: key, sole: false }, deps);
        }
        await finishReplay(started.replayId, deps);
        return measures((await s.query('clicks')).body);
      };
      // WHEN the range is replayed (the default window: the processor's 7 days)
      // THEN only `inside` counts
      expect(await run(undefined)).toEqual([{ n: 1, amount: 10 }]);
      // and with a window shorter than the 2 hours between the copies, the retry counts, as the
      // processor counts a retry its expired claim no longer knows
      expect(await run(1_000_000)).toEqual([{ n: 2, amount: 11 }]);
    },
  );

  it('rollback swaps active and previous in one write, a second one rolls forward; nothing to roll back is refused', async () => {
    const s = setup();
    await expect(rollback({}, s.deps)).rejects.toMatchObject({ name: 'NothingToRollBack' });
    await buildVersion(s);
    s.at(T0 + 60_000);
    await buildVersion(s);
    expect((await rollback({}, s.deps)).views.clicks).toEqual({ active: 1, previous: 2 });
    expect((await s.query('clicks')).body).toMatchObject({ version: 1 });
    expect((await rollback({ views: ['clicks'] }, s.deps)).views.clicks).toEqual({ active: 2, previous: 1 });
  });

  it('drops the version that falls off at the next flip', async () => {
    const s = setup();
    await buildVersion(s);
    s.at(T0 + 5_000);
    await processKappaBatch([record(click('a'), T0 + 5_000)], s.processor());
    s.at(T0 + 60_000);
    await buildVersion(s);
    s.at(T0 + 120_000);
    const third = await startReplay({}, s.deps);
    s.archiveUpTo(third.handoffMs);
    expect((await replayReady(third.replayId, s.deps)).ready).toBe(true);
    await replayChunk(third.replayId, await s.archive.list(), { chunkId: 'all', sole: true }, s.deps);
    const finished = await finishReplay(third.replayId, s.deps);
    expect(finished.dropped).toEqual([{ view: 'clicks', version: 1 }]);
    // The flip does not delete: the drop step does, after it (a retried finish hands over the same drops).
    expect(s.cells.cellsOf(1, v1[0]).length).toBeGreaterThan(0);
    expect((await finishReplay(third.replayId, s.deps)).drop).toEqual(finished.drop);
    const dropped = await dropReplayCells(third.replayId, finished.drop.cursor, s.deps);
    expect(dropped).toMatchObject({ done: true, deleted: expect.any(Number) as unknown });
    expect(s.cells.cellsOf(1, v1[0])).toHaveLength(0);
    expect((await s.control.read()).views.clicks).toMatchObject({
      active: { version: 3 },
      previous: { version: 2 },
    });
  });
});

function pos(arrivedMs: number, n: number) {
  return { shardId: 'shardId-000000000000', sequenceNumber: String(n), partitionKey: 'p', arrivedMs };
}

describe('POST /admin/replay body', () => {
  /** When the request is answered: after every time the cases below give. */
  const NOW_MS = Date.parse('2026-11-25T00:00:00Z');

  it.each([
    ['{', /must be JSON/],
    ['[]', /must be a JSON object/],
    ['{"views": "clicks"}', /views must be an array/],
    ['{"views": ["nope"]}', /unknown view\(s\) nope; declared: clicks/],
    ['{"views": []}', /views is empty: name at least one view, or leave views out for every view/],
    ['{"from": "yesterday"}', /from must be ISO-8601/],
    ['{"from": "2026-11-24T10:00:00Z", "to": "2026-11-24T09:00:00Z"}', /to must be after from/],
    // A misspelt range must not start a replay of the whole archive.
    ['{"fromMs": 1764547200000}', /unknown field\(s\) fromMs: the body is/],
    // Nothing has arrived after now: the new version of every view would be empty, and served.
    [
      '{"from": "2026-11-25T00:00:00.001Z"}',
      /from \(2026-11-25T00:00:00.001Z\) is in the future: .* serve empty views/,
    ],
  ])('refuses %s', (body, message) => {
    const parsed = parseReplayRequest(body, ['clicks'], NOW_MS);
    expect('error' in parsed && parsed.error).toMatch(message);
  });

  it('a rollback body holds views only: a range is refused, not ignored; a view named twice is one', () => {
    expect(parseRollbackRequest('{"views":["clicks"],"from":"2026-11-24T10:00:00Z"}', ['clicks'])).toEqual({
      error: 'unknown field(s) from: the body is {"views"?: [...]}',
    });
    expect(parseRollbackRequest('{"views":["clicks","clicks"]}', ['clicks'])).toEqual({ views: ['clicks'] });
    expect(parseRollbackRequest('', ['clicks'])).toEqual({ views: undefined });
  });

  it('reads views and an arrival range', () => {
    expect(parseReplayRequest('', ['clicks'], NOW_MS)).toEqual({
      views: undefined,
      fromMs: undefined,
      toMs: undefined,
    });
    expect(
      parseReplayRequest('{"views":["clicks"],"from":"2026-11-24T10:00:00Z"}', ['clicks'], NOW_MS),
    ).toEqual({
      views: ['clicks'],
      fromMs: T0,
      toMs: undefined,
    });
    // Up to the moment the request is answered.
    expect(parseReplayRequest('{"from":"2026-11-25T00:00:00Z"}', ['clicks'], NOW_MS)).toMatchObject({
      fromMs: NOW_MS,
    });
  });
});

describe('replay start', () => {
  it('fails the replay when its handoff passed before the control write finished', async () => {
    const s = setup();
    const slow = s.deps.control.write.bind(s.deps.control);
    s.deps.control.write = async (next, revision) => {
      s.at(T0 + 5_000); // the write took longer than the handoff delay (1 s)
      return slow(next, revision);
    };
    // Named, so the local admin route answers 503 with it rather than a bare handler failure.
    await expect(startReplay({}, s.deps)).rejects.toMatchObject({
      name: 'HandoffTooLate',
      message: expect.stringMatching(/could not record its handoff in time/) as unknown,
    });
    const pointers = await s.control.read();
    expect(pointers.replay?.status).toBe('failed');
    expect(pointers.views.clicks.building).toBeNull();
  });

  it("goes on with the replay its own execution recorded when run again, and refuses another execution's", async () => {
    const s = setup();
    const first = await startReplay({ executionId: 'exec-1' }, s.deps);
    // The step retried after its answer was lost, even after the handoff: its progress write shows
    // the first start got past the handoff check.
    s.at(T0 + 5_000);
    expect(await startReplay({ executionId: 'exec-1' }, s.deps)).toEqual(first);
    expect((await s.control.read()).replay).toMatchObject({ replayId: first.replayId, status: 'running' });
    await expect(startReplay({ executionId: 'exec-2' }, s.deps)).rejects.toMatchObject({
      name: 'ReplayInProgress',
    });
  });

  it('fails the replay on a retried start that cannot tell whether its handoff was recorded in time', async () => {
    const s = setup();
    // The first start died between its control write and its progress write.
    const setProgress = s.deps.control.setProgress.bind(s.deps.control);
    s.deps.control.setProgress = async () => {
      throw new Error('the function died');
    };
    await expect(startReplay({ executionId: 'exec-1' }, s.deps)).rejects.toThrow('the function died');
    s.deps.control.setProgress = setProgress;
    // Run again before the handoff: the write certainly came before it, the replay goes on.
    const again = await startReplay({ executionId: 'exec-1' }, s.deps);
    expect((await s.control.read()).replay).toMatchObject({ replayId: again.replayId, status: 'running' });
    expect((await s.control.readProgress(again.replayId)).phase).toBe('waiting-for-archive');

    const t = setup();
    const tSetProgress = t.deps.control.setProgress.bind(t.deps.control);
    t.deps.control.setProgress = async () => {
      throw new Error('the function died');
    };
    await expect(startReplay({ executionId: 'exec-1' }, t.deps)).rejects.toThrow('the function died');
    t.deps.control.setProgress = tSetProgress;
    // Run again after the handoff: unknown, so failed as the first start would have failed it.
    t.at(T0 + 5_000);
    await expect(startReplay({ executionId: 'exec-1' }, t.deps)).rejects.toThrow(/retried after the handoff/);
    expect((await t.control.read()).replay?.status).toBe('failed');
    expect((await t.control.read()).views.clicks.building).toBeNull();
  });

  it('abandons the replay a failed start recorded, and only that one', async () => {
    const s = setup();
    expect(await abandonStart('exec-0', 'nothing recorded', s.deps)).toMatchObject({ replayId: null });
    const started = await startReplay({ executionId: 'exec-1' }, s.deps);
    expect(await abandonStart('exec-2', 'another execution', s.deps)).toMatchObject({ replayId: null });
    expect((await s.control.read()).replay?.status).toBe('running');
    expect(await abandonStart('exec-1', 'lost', s.deps)).toMatchObject({
      replayId: started.replayId,
      failed: true,
    });
    expect((await s.control.read()).replay).toMatchObject({
      status: 'failed',
      error: expect.stringContaining('lost'),
    });
  });
});
