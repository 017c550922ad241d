import type { KinesaliteDb } from './kinesalite-sequences';

/** The parts of a levelup 4 sublevel (kinesalite's per-stream database) the trim uses. */
interface SubLevel {
  createKeyStream(options: { gte: string; lt: string; limit: number }): NodeJS.ReadableStream;
  batch(operations: Array<{ type: 'del'; key: string }>, callback: (error?: Error) => void): void;
}

/** What kinesalite's db.create() returns (kinesalite/db/index.js), as far as the trim reads it. */
export interface KinesaliteStore {
  readonly metaDb: { createKeyStream(): NodeJS.ReadableStream };
  getStreamDb(name: string): SubLevel;
  getStream(
    name: string,
    callback: (error: Error | null, stream?: { RetentionPeriodHours: number; Shards: unknown[] }) => void,
  ): void;
}

/** kinesalite/db with the factory the trim wraps to reach the store of each server it starts. */
export type KinesaliteDbModule = KinesaliteDb & { create(options: unknown): KinesaliteStore };

const CAPTURE = Symbol.for('streamfold.kinesalite.captureStore');
let captured: KinesaliteStore | undefined;

/**
 * Runs `start` (which calls kinesalite(...)) and returns the store kinesalite created in it:
 * kinesalite keeps its LevelDB out of reach of the API but for GetRecords, and the trim needs it.
 */
export function withKinesaliteStore<T>(
  db: KinesaliteDbModule,
  start: () => T,
): { value: T; store: KinesaliteStore } {
  const module = db as KinesaliteDbModule & { [CAPTURE]?: true };
  if (!module[CAPTURE]) {
    module[CAPTURE] = true;
    const create = db.create.bind(db);
    db.create = (options: unknown) => (captured = create(options));
  }
  captured = undefined;
  const value = start();
  const store = captured as KinesaliteStore | undefined;
  if (!store)
    throw new Error(
      'kinesalite did not create its store through kinesalite/db: a version this code does not know; pin kinesalite to package-lock.json',
    );
  return { value, store };
}

function collect(stream: NodeJS.ReadableStream): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const keys: string[] = [];
    stream.on('data', (key: Buffer | string) => keys.push(String(key)));
    stream.once('error', reject);
    stream.once('end', () => resolve(keys));
  });
}

const PAGE = 10_000;

/**
 * Deletes the records of every stream that are older than the stream's retention period, as
 * Kinesis does by itself ("A Kinesis data stream stores records from 24 hours by default":
 * https://docs.aws.amazon.com/streams/latest/dev/kinesis-extended-retention.html).
 * kinesalite hides such records from GetRecords but deletes only those a GetRecords happens to
 * scan, from the trim horizon: consumers that keep up never ask there, so on disk the stream
 * grew with every record ever put. Records are keyed `<shard hex>/<sequence number>`, and a
 * shard's sequence numbers grow with the time they were put, so each shard is trimmed from its
 * start up to its first record still retained. Returns the number of records deleted.
 */
export async function trimExpiredRecords(
  store: KinesaliteStore,
  db: Pick<KinesaliteDb, 'parseSequence' | 'shardIxToHex'>,
  nowMs: number = Date.now(),
): Promise<number> {
  const names = await collect(store.metaDb.createKeyStream());
  let deleted = 0;
  for (const name of names) {
    const stream = await new Promise<{ RetentionPeriodHours: number; Shards: unknown[] } | undefined>(
      (resolve, reject) => store.getStream(name, (error, s) => (error ? reject(error) : resolve(s))),
    );
    if (!stream) continue;
    const cutoffMs = nowMs - stream.RetentionPeriodHours * 3_600_000;
    const streamDb = store.getStreamDb(name);
    for (let shardIx = 0; shardIx < stream.Shards.length; shardIx++) {
      const from = `${db.shardIxToHex(shardIx)}/`;
      const to = db.shardIxToHex(shardIx + 1);
      for (;;) {
        const keys = await collect(streamDb.createKeyStream({ gte: from, lt: to, limit: PAGE }));
        const expired: string[] = [];
        for (const key of keys) {
          if ((db.parseSequence(key.slice(from.length)).seqTime ?? Infinity) >= cutoffMs) break;
          expired.push(key);
        }
        if (expired.length > 0)
          await new Promise<void>((resolve, reject) =>
            streamDb.batch(
              expired.map((key) => ({ type: 'del', key })),
              (error) => (error ? reject(error) : resolve()),
            ),
          );
        deleted += expired.length;
        if (expired.length < PAGE) break;
      }
    }
  }
  return deleted;
}
