import { createWriteStream } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Worker } from 'node:worker_threads';
import type { EmulatorKind, EmulatorServerOptions, EmulatorServers } from './emulator-servers';
import type { EmulatorCall, EmulatorWorkerMessage } from './emulator-worker';
import type { HeapUsage, WorkerThread } from './handler-host';

const EMULATOR_NAMES: Record<EmulatorKind, string> = {
  kinesis: 'kinesalite',
  dynamodb: 'dynalite',
  s3: 's3rver',
};

/** Distributes Omit over a union (the built-in Omit flattens it). */
type CallWithoutId = EmulatorCall extends infer C ? (C extends EmulatorCall ? Omit<C, 'id'> : never) : never;

/** One worker thread and the calls in flight to it; it outlives the emulators it runs (see idleWorkers). */
class EmulatorWorker {
  readonly worker: Worker;
  exited = false;
  /** Told when the worker dies: set while it is lent to an EmulatorThread. */
  onExit: ((error: Error) => void) | undefined;
  lastMemory: HeapUsage | undefined;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  /** Ids of memory calls not answered yet: a late answer still updates lastMemory. */
  private readonly memoryCalls = new Set<number>();

  constructor(readonly key: string) {
    const tsxCjs = createRequire(__filename).resolve('tsx/cjs/api');
    const entry = path.join(__dirname, 'emulator-worker.ts');
    // tsx loads the TypeScript entry in the worker, as HandlerHost does for handlers.
    const bootstrap = `require(${JSON.stringify(tsxCjs)}).register(); require(${JSON.stringify(entry)});`;
    this.worker = new Worker(bootstrap, { eval: true });
    this.worker.on('message', (message: EmulatorWorkerMessage) => {
      if (this.memoryCalls.delete(message.id) && 'result' in message)
        this.lastMemory = message.result as HeapUsage;
      const waiter = this.pending.get(message.id);
      this.pending.delete(message.id);
      if ('error' in message) waiter?.reject(new Error(message.error));
      else waiter?.resolve(message.result);
    });
    const died = (error: Error) => {
      this.exited = true;
      for (const waiter of this.pending.values()) waiter.reject(error);
      this.pending.clear();
      this.onExit?.(error);
    };
    this.worker.on('error', died);
    this.worker.once('exit', (code) => died(new Error(`the ${key} worker exited (code ${code})`)));
  }

  call(message: CallWithoutId, timeoutMs?: number): Promise<unknown> {
    if (this.exited) return Promise.reject(new Error(`the ${this.key} worker has exited`));
    const id = this.nextId++;
    if (message.call === 'memoryUsage') this.memoryCalls.add(id);
    return new Promise((resolve, reject) => {
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              this.pending.delete(id);
              reject(
                new Error(`the ${this.key} worker did not answer ${message.call} within ${timeoutMs} ms`),
              );
            }, timeoutMs);
      const settle =
        <T>(done: (value: T) => void) =>
        (value: T) => {
          clearTimeout(timer);
          done(value);
        };
      this.pending.set(id, { resolve: settle(resolve), reject: settle(reject) });
      this.worker.postMessage({ ...message, id });
    });
  }
}

/**
 * Workers whose emulators were stopped, by the emulators they ran: the next start of the same
 * emulators reuses one. A new worker loads tsx and its emulator's modules again, about 1.5 s of
 * CPU for the three (5 s at a load average of 16), where a restart on the calling thread took
 * 30-90 ms; the fault suite restarts the emulators every few seconds. An idle worker holds no
 * port and no database (stop closed them) and does not keep the process alive (unref).
 */
const idleWorkers = new Map<string, EmulatorWorker[]>();

function lendWorker(key: string): EmulatorWorker {
  const idle = idleWorkers.get(key) ?? [];
  let worker = idle.pop();
  while (worker?.exited) worker = idle.pop();
  worker ??= new EmulatorWorker(key);
  worker.worker.ref();
  return worker;
}

function giveBack(worker: EmulatorWorker): void {
  worker.onExit = undefined;
  if (worker.exited) return;
  worker.worker.unref();
  idleWorkers.set(worker.key, [...(idleWorkers.get(worker.key) ?? []), worker]);
}

/**
 * Emulators running in a worker thread: their HTTP servers, request parsing and LevelDB work
 * leave the main thread's event loop, where the event source, the archiver and the HTTP gateway
 * run (ADR 017). Clients reach them over loopback TCP as before; only the control calls (start,
 * trim, iterator count, memory, stop) are messages. A worker is a thread of this process:
 * `kill -9` ends it with the process, and no orphan keeps a port or a LevelDB lock.
 */
export class EmulatorThread implements EmulatorServers, WorkerThread {
  /** kinesalite, dynalite, s3rver, or several joined by '+': the thread's name in the status. */
  readonly name: string;
  ports: EmulatorServers['ports'] = {};
  private readonly lent: EmulatorWorker;
  private readonly started: Promise<void>;
  private stopped: Promise<void> | undefined;
  /** Set once the emulators listen: a worker that failed to start has not crashed. */
  private running = false;

  /**
   * Starts the emulators in a worker (an idle one that ran the same emulators, or a new one);
   * start() resolves once they listen. `onCrash` is told when the worker dies before stop() (an
   * emulator's uncaught exception): its emulators are gone.
   */
  constructor(options: EmulatorServerOptions, onCrash: (error: Error) => void) {
    this.name = options.kinds.map((k) => EMULATOR_NAMES[k]).join('+');
    this.lent = lendWorker(this.name);
    this.lent.onExit = (error) => {
      if (this.running && this.stopped === undefined) onCrash(error);
    };
    this.started = this.lent.call({ call: 'start', options }).then((ports) => {
      this.ports = ports as EmulatorServers['ports'];
      this.running = true;
    });
  }

  /** The worker's thread id (a restart in the same process reuses the thread). */
  get threadId(): number {
    return this.lent.worker.threadId;
  }

  /** The worker's last memory answer, also one that came after its caller stopped waiting. */
  get lastMemory(): HeapUsage | undefined {
    return this.lent.lastMemory;
  }

  /** Resolves once every emulator of the thread listens; rejects with the reason it did not start. */
  start(): Promise<void> {
    return this.started;
  }

  private call(message: CallWithoutId, timeoutMs?: number): Promise<unknown> {
    if (this.stopped) return Promise.reject(new Error(`the ${this.name} emulators are stopped`));
    return this.lent.call(message, timeoutMs);
  }

  trimStream(nowMs?: number): Promise<number> {
    return this.call({ call: 'trimStream', ...(nowMs === undefined ? {} : { nowMs }) }) as Promise<number>;
  }

  openLevelIterators(): Promise<number> {
    return this.call({ call: 'openLevelIterators' }) as Promise<number>;
  }

  /** The worker's own V8 heap (a separate isolate, outside the main thread's memoryUsage()). */
  memoryUsage(timeoutMs = 5_000): Promise<HeapUsage> {
    return this.call({ call: 'memoryUsage' }, timeoutMs) as Promise<HeapUsage>;
  }

  /** Writes a V8 heap snapshot of the worker's isolate to `file`. */
  async writeHeapSnapshot(file: string): Promise<void> {
    await pipeline(await this.lent.worker.getHeapSnapshot(), createWriteStream(file));
  }

  /**
   * Closes the emulators (servers, connections, databases: LevelDB's lock is released only by a
   * close) and gives the worker back for the next start; idempotent. A worker whose start failed
   * is ended instead (dynalite leaves its database open when its port is taken; only the end of
   * the thread closes it), and one that crashed is gone already.
   */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      await this.started.catch(() => undefined);
      if (!this.running) {
        await this.lent.worker.terminate();
        return;
      }
      if (this.lent.exited) return;
      await this.lent.call({ call: 'stop' });
      giveBack(this.lent);
    })();
    return this.stopped;
  }
}
