import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { AwsEndpoints } from '../lambdas/runtime/clients';
import {
  EMULATOR_KINDS,
  startEmulatorServers,
  type EmulatorKind,
  type EmulatorServerOptions,
  type EmulatorServers,
} from './emulator-servers';
import { EmulatorThread } from './emulator-thread';

export type { EmulatorKind } from './emulator-servers';

/** Where the emulators run, by name (`--emulator-threads`): see `EmulatorOptions.workers`. */
export const EMULATOR_THREADS = {
  /** Every emulator on the calling thread, the default: ADR 017 found the threads slower on a loaded 2-core machine. */
  none: [],
  /** Each emulator in a worker thread of its own. */
  each: [['kinesis'], ['dynamodb'], ['s3']],
  /** The three in one worker thread. */
  shared: [['kinesis', 'dynamodb', 's3']],
} as const satisfies Record<string, readonly (readonly EmulatorKind[])[]>;
export type EmulatorThreads = keyof typeof EMULATOR_THREADS;

export interface EmulatorOptions {
  /** Folder the emulators persist to (kinesis/, dynamodb/, s3/ below it); in memory when absent. */
  readonly dataDir?: string;
  /** Ports; 0 or absent picks a free one (the emulators' own defaults collide, so never rely on them). */
  readonly ports?: { readonly kinesis?: number; readonly dynamodb?: number; readonly s3?: number };
  /** Interface to listen on. Loopback only: the emulators check no credentials. @default '127.0.0.1' */
  readonly host?: '127.0.0.1';
  /**
   * How often records past the stream's retention are deleted from kinesalite (see
   * kinesalite-retention.ts); 0 never.
   * @default 600_000 (10 minutes)
   */
  readonly trimStreamEveryMs?: number;
  /**
   * Which emulators run in worker threads, one thread per group (`[['kinesis', 'dynamodb', 's3']]`
   * shares one); an emulator in no group runs on the calling thread, `[]` runs all three there
   * (what ADR 017 measured as the faster placement on a loaded 2-core machine). Each emulator may
   * appear once.
   * @default [] (every emulator on the calling thread)
   */
  readonly workers?: readonly (readonly EmulatorKind[])[];
}

export interface Emulators {
  /** Endpoints of the three emulators, ready for the client factory (`s3Flavor: 's3rver'`). */
  readonly endpoints: AwsEndpoints;
  /** The folder s3rver keeps buckets in: `<s3Dir>/<bucket>/<key>._S3rver_object` (DuckDB reads it). */
  readonly s3Dir: string;
  /** The worker threads the emulators run in (memory and heap snapshots of the status); none when all run here. */
  readonly threads: readonly EmulatorThread[];
  /** Deletes the stream records older than the stream's retention now; resolves to how many. */
  trimStream(nowMs?: number): Promise<number>;
  /** LevelDB iterators dynalite opened and has not closed (local/level-iterators.ts), in its thread. */
  openLevelIterators(): Promise<number>;
  /** Closes the three servers, their open connections and their databases, and ends their threads. */
  stop(): Promise<void>;
}

/** The groups of `workers`, checked, and the emulators left for the calling thread. */
function placement(workers: readonly (readonly EmulatorKind[])[]): {
  groups: EmulatorKind[][];
  here: EmulatorKind[];
} {
  const seen = new Set<EmulatorKind>();
  const groups = workers
    .map((group) =>
      group.map((kind) => {
        if (!EMULATOR_KINDS.includes(kind))
          throw new Error(`unknown emulator "${kind}" in workers: use ${EMULATOR_KINDS.join(', ')}`);
        if (seen.has(kind)) throw new Error(`emulator "${kind}" is in two worker groups: give it one`);
        seen.add(kind);
        return kind;
      }),
    )
    .filter((group) => group.length > 0);
  return { groups, here: EMULATOR_KINDS.filter((kind) => !seen.has(kind)) };
}

/**
 * A worker whose emulator died (an uncaught exception in it) takes its endpoint with it, and every
 * request after would fail with ECONNREFUSED far from the cause. Before ADR 017 such an exception
 * ended the process; it still does, with the reason.
 */
function crash(name: string) {
  return (error: Error) =>
    process.nextTick(() => {
      throw new Error(
        `the ${name} emulator's worker thread died (${error.message}): its endpoint is gone. ` +
          'Start streamfold again; what the data dir holds is kept.',
      );
    });
}

/**
 * Starts kinesalite, dynalite and s3rver on loopback, on the calling thread or in worker threads
 * (`workers`). They speak the AWS wire protocol, so handlers use the unmodified SDK
 * clients with only the endpoint changed. With a `dataDir`, streams, tables and objects survive a
 * restart on the same folder (LevelDB for kinesalite and dynalite, plain files for s3rver);
 * without it, everything lives in memory and s3rver's folder is a temporary one deleted by stop().
 */
export async function startEmulators(options: EmulatorOptions = {}): Promise<Emulators> {
  const host = options.host ?? '127.0.0.1';
  const { groups, here } = placement(options.workers ?? EMULATOR_THREADS.none);
  const dir = options.dataDir ? path.resolve(options.dataDir) : undefined;
  if (dir) mkdirSync(dir, { recursive: true });
  const s3Dir = dir ? path.join(dir, 's3') : mkdtempSync(path.join(tmpdir(), 'streamfold-s3-'));
  mkdirSync(s3Dir, { recursive: true });
  const common = {
    ...(dir ? { dir } : {}),
    s3Dir,
    host,
    ports: options.ports ?? {},
    trimStreamEveryMs: options.trimStreamEveryMs ?? 600_000,
  };
  const threads = groups.map((kinds) => new EmulatorThread({ ...common, kinds }, crash(kinds.join('+'))));
  const starting: Promise<EmulatorServers>[] = [
    ...threads.map((thread) => thread.start().then(() => thread)),
    ...(here.length > 0
      ? [startEmulatorServers({ ...common, kinds: here } satisfies EmulatorServerOptions)]
      : []),
  ];
  const outcomes = await Promise.allSettled(starting);
  const started = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
  const failure = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
  if (failure) {
    // A port in use must not leave the emulators that did start holding their ports and databases.
    await Promise.allSettled([...started, ...threads].map((s) => s.stop()));
    if (!dir) rmSync(s3Dir, { recursive: true, force: true });
    throw new Error(
      `could not start the emulators on ${host}: ${(failure.reason as Error).message}. ` +
        'Choose other ports (0 picks free ones) or stop what holds them.',
    );
  }
  const holding = (kind: EmulatorKind): EmulatorServers =>
    started.find((s) => s.ports[kind] !== undefined) as EmulatorServers;
  const port = (kind: EmulatorKind) => holding(kind).ports[kind]!;
  let stopped: Promise<void> | undefined;
  return {
    endpoints: {
      // s3rver's continuation tokens only accept us-east-1.
      region: 'us-east-1',
      kinesis: `http://${host}:${port('kinesis')}`,
      dynamodb: `http://${host}:${port('dynamodb')}`,
      s3: `http://${host}:${port('s3')}`,
      s3Flavor: 's3rver',
    },
    s3Dir,
    threads,
    trimStream: (nowMs) => holding('kinesis').trimStream(nowMs),
    openLevelIterators: () => holding('dynamodb').openLevelIterators(),
    stop() {
      stopped ??= (async () => {
        await Promise.all(started.map((s) => s.stop()));
        if (!dir) rmSync(s3Dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}
