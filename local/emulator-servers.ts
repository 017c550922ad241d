import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { trimExpiredRecords, withKinesaliteStore, type KinesaliteDbModule } from './kinesalite-retention';
import { cacheDynaliteExpressions } from './dynalite-expression-cache';
import { useBigintNumbers } from './kinesalite-sequences';
import { closeEndedLevelIterators, openLevelIterators } from './level-iterators';
import { compareMemdownKeysNatively } from './memdown-key-compare';
import { loadS3rver } from './s3rver-patches';

/** The three emulators, by the service each stands in for. */
export type EmulatorKind = 'kinesis' | 'dynamodb' | 's3';
export const EMULATOR_KINDS: readonly EmulatorKind[] = ['kinesis', 'dynamodb', 's3'];

/** What startEmulatorServers() needs; plain data, so it can be posted to a worker thread. */
export interface EmulatorServerOptions {
  /** The emulators to start here. */
  readonly kinds: readonly EmulatorKind[];
  /** Absolute folder of the LevelDB databases (kinesis/, dynamodb/ below it); in memory when absent. */
  readonly dir?: string;
  /** The folder s3rver keeps its buckets in (always on disk). */
  readonly s3Dir: string;
  readonly host: string;
  /** Port per emulator; 0 or absent picks a free one. */
  readonly ports: Partial<Record<EmulatorKind, number>>;
  /** How often records past the stream's retention are deleted; 0 never. */
  readonly trimStreamEveryMs: number;
}

/** The emulators one thread runs. */
export interface EmulatorServers {
  /** The port each started emulator listens on. */
  readonly ports: Partial<Record<EmulatorKind, number>>;
  /** Deletes the stream records older than the stream's retention now (kinesis only); resolves to how many. */
  trimStream(nowMs?: number): Promise<number>;
  /** LevelDB iterators dynalite opened and has not closed yet, in this thread (level-iterators.ts). */
  openLevelIterators(): Promise<number>;
  /** Closes the servers, their open connections and their databases. */
  stop(): Promise<void>;
}

/* eslint-disable @typescript-eslint/no-require-imports -- these emulators ship as CommonJS without types */
// Required only by the thread that runs each: a module loaded in a thread serves no other thread.
function loadKinesalite(): { start: (options: Record<string, unknown>) => Server; db: KinesaliteDbModule } {
  const db = require('kinesalite/db') as KinesaliteDbModule;
  // Same values, computed with BigInt instead of bignumber.js (see kinesalite-sequences.ts).
  useBigintNumbers(db);
  // The same key order, compared natively (see memdown-key-compare.ts).
  compareMemdownKeysNatively();
  return { start: require('kinesalite') as (options: Record<string, unknown>) => Server, db };
}
function loadDynalite(): (options: Record<string, unknown>) => Server {
  // Without this, every Query and Scan leaves a LevelDB iterator open (see level-iterators.ts).
  closeEndedLevelIterators();
  // The same expressions arrive again and again with new values (see dynalite-expression-cache.ts).
  cacheDynaliteExpressions();
  return require('dynalite') as (options: Record<string, unknown>) => Server;
}
/* eslint-enable @typescript-eslint/no-require-imports */

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/**
 * Closes a server and every connection to it. The SDK keeps connections alive, and an HTTP server
 * waits for open connections before it reports closed (dynalite closes its database only then):
 * without closing them, stop() would hang until the clients' idle sockets time out.
 */
function close(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    const sweep = setInterval(() => server.closeAllConnections(), 20);
    server.close((error?: Error & { code?: string }) => {
      clearInterval(sweep);
      if (error && error.code !== 'ERR_SERVER_NOT_RUNNING') reject(error);
      else resolve();
    });
    server.closeAllConnections();
  });
}

/**
 * Starts the given emulators in the calling thread, on `host`. A failure (a port in use) closes
 * those that did start, databases included, and rethrows.
 */
export async function startEmulatorServers(o: EmulatorServerOptions): Promise<EmulatorServers> {
  const started: Array<() => Promise<void>> = [];
  const ports: Partial<Record<EmulatorKind, number>> = {};
  let trim: ((nowMs?: number) => Promise<number>) | undefined;
  try {
    if (o.kinds.includes('kinesis')) {
      const kinesalite = loadKinesalite();
      const { value: server, store } = withKinesaliteStore(kinesalite.db, () =>
        kinesalite.start({
          // Streams become ACTIVE at once: AWS takes seconds, and nothing here depends on the wait.
          createStreamMs: 0,
          deleteStreamMs: 0,
          updateStreamMs: 0,
          shardLimit: 100,
          ...(o.dir ? { path: path.join(o.dir, 'kinesis') } : {}),
        }),
      );
      // kinesalite opens its database when created: closing the server closes it, listening or not.
      started.push(() => close(server));
      ports.kinesis = await listen(server, o.ports.kinesis ?? 0, o.host);
      trim = (nowMs) => trimExpiredRecords(store, kinesalite.db, nowMs);
    }
    if (o.kinds.includes('dynamodb')) {
      const server = loadDynalite()({
        createTableMs: 0,
        deleteTableMs: 0,
        updateTableMs: 0,
        ...(o.dir ? { path: path.join(o.dir, 'dynamodb') } : {}),
      });
      started.push(() => close(server));
      ports.dynamodb = await listen(server, o.ports.dynamodb ?? 0, o.host);
    }
    if (o.kinds.includes('s3')) {
      const S3rver = loadS3rver();
      const s3 = new S3rver({
        address: o.host,
        port: o.ports.s3 ?? 0,
        directory: o.s3Dir,
        silent: true,
        // Signatures are checked against S3RVER/S3RVER; a mismatch is logged, not refused.
        allowMismatchedSignatures: true,
      });
      ports.s3 = (await s3.run()).port;
      started.push(() => close(s3.httpServer!));
    }
  } catch (error) {
    // A port in use must not leave the emulators that did start holding their ports and databases.
    await Promise.allSettled(started.map((stop) => stop()));
    throw error;
  }

  let stopped: Promise<void> | undefined;
  let trimming: Promise<number> | undefined;
  const trimStream = (nowMs?: number): Promise<number> => {
    if (!trim) return Promise.reject(new Error('this thread runs no kinesis emulator: nothing to trim'));
    const run = trim;
    return (trimming ??= run(nowMs).finally(() => (trimming = undefined)));
  };
  const trimTimer =
    trim && o.trimStreamEveryMs > 0
      ? setInterval(() => void trimStream().catch(() => undefined), o.trimStreamEveryMs).unref() // retried next time
      : undefined;
  return {
    ports,
    trimStream,
    openLevelIterators: async () => openLevelIterators(),
    stop() {
      stopped ??= (async () => {
        clearInterval(trimTimer);
        await trimming?.catch(() => undefined);
        await Promise.all(started.map((stop) => stop()));
      })();
      return stopped;
    },
  };
}
