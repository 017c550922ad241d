import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbKappaControlStore } from '../../lambdas/adapters/aws/dynamodb-kappa-control-store';
import { finishReplay, replayReady, startReplay, type ReplayDeps } from '../../lambdas/services/kappa-replay';
import { replayChunk } from '../../lambdas/services/kappa-replay-chunks';
import { startEmulatedTables, type EmulatedTables } from '../fixtures/emulated-tables';
import { archivedClick, CLICKS_T0 as T0, CLICKS_VIEWS as VIEWS } from '../fixtures/kappa-clicks';
import { InMemoryArchive, InMemoryKappaCellStore } from '../services/in-memory-kappa';
import { InMemoryEventClaims } from '../services/in-memory-stores';

/**
 * A replay's progress stays exact when a chunk is run again: the local runner retries each step up
 * to 5 times and the cloud's state machine retries each archive object's task, and each attempt
 * reports its progress as it goes. With progress added as deltas, a chunk that failed after some
 * objects and then succeeded counted those objects twice, and the status showed more than 100%.
 */
const OBJECTS = 4;
const EVENTS_PER_OBJECT = 5;

/** The archive, whose object `failing` fails its next `times` reads (a cut download, S3 restarting). */
class FlakyArchive extends InMemoryArchive {
  failing = '';
  times = 0;
  override async read(key: string): Promise<string> {
    if (key === this.failing && this.times > 0) {
      this.times--;
      throw new Error(`read of ${key} cut`);
    }
    return super.read(key);
  }
}

describe('replay progress under retried chunks (control table in dynalite)', () => {
  let tables: EmulatedTables;

  beforeAll(async () => {
    tables = await startEmulatedTables('replayprogress');
  }, 60_000);
  afterAll(async () => {
    await tables.stop();
  });

  async function replay(): Promise<{
    deps: ReplayDeps;
    archive: FlakyArchive;
    replayId: string;
    keys: string[];
  }> {
    const archive = new FlakyArchive();
    for (let o = 0; o < OBJECTS; o++) {
      const lines = Array.from({ length: EVENTS_PER_OBJECT }, (_, i) => {
        const n = o * EVENTS_PER_OBJECT + i;
        return archivedClick(`e${n}`, { sequenceNumber: String(1000 + n), arrivedMs: T0 + n });
      });
      archive.put(`events/dt=2026-11-24/hour=10/shardId-000000000000-${o}.ndjson`, lines.join('\n') + '\n');
    }
    let now = T0 + 60_000;
    const deps: ReplayDeps = {
      views: VIEWS,
      cells: new InMemoryKappaCellStore(),
      control: new DynamoDbKappaControlStore(tables.doc, tables.names.controlTable),
      claims: new InMemoryEventClaims(),
      archive,
      watermark: { archivedBeforeMs: async () => now + 3_600_000 },
      // Every object's end is a progress report.
      clock: { now: () => (now += 1000) },
      // The clock moves 1 s per read: the handoff must stay ahead of the start's own reads.
      handoffDelayMs: 60_000,
      archivePrefix: 'events/',
    };
    const { replayId } = await startReplay({}, deps);
    expect((await replayReady(replayId, deps)).ready).toBe(true);
    return { deps, archive, replayId, keys: await archive.list() };
  }

  it('counts each object and event once when the sole chunk fails midway and is run again', async () => {
    const { deps, archive, replayId, keys } = await replay();
    archive.failing = keys[2];
    archive.times = 1;
    const chunk = () => replayChunk(replayId, keys, { chunkId: 'all', sole: true, progressEveryMs: 0 }, deps);
    await expect(chunk()).rejects.toThrow(/cut/);
    // The failed attempt's report stands until the retry replaces it: 2 objects were done.
    expect(await deps.control.readProgress(replayId)).toMatchObject({ objectsDone: 2, events: 10 });
    await chunk();
    expect(await deps.control.readProgress(replayId)).toMatchObject({
      objectsDone: OBJECTS,
      events: OBJECTS * EVENTS_PER_OBJECT,
      replayedToMs: T0 + OBJECTS * EVENTS_PER_OBJECT - 1,
    });
    // A chunk that succeeded but whose answer was lost runs again whole (a Step Functions retry).
    await chunk();
    expect(await deps.control.readProgress(replayId)).toMatchObject({
      objectsDone: OBJECTS,
      events: OBJECTS * EVENTS_PER_OBJECT,
    });
    await finishReplay(replayId, deps);
  });

  it('sums the chunks of a replay split per object, one of them retried', async () => {
    const { deps, archive, replayId, keys } = await replay();
    archive.failing = keys[1];
    archive.times = 1;
    const chunk = (key: string) =>
      replayChunk(replayId, [key], { chunkId: key, sole: false, progressEveryMs: 0 }, deps);
    const outcomes = await Promise.allSettled(keys.map(chunk));
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    await chunk(keys[1]);
    await chunk(keys[3]);
    expect(await deps.control.readProgress(replayId)).toMatchObject({
      objectsDone: OBJECTS,
      events: OBJECTS * EVENTS_PER_OBJECT,
    });
    await finishReplay(replayId, deps);
  });
});
