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

/**
 * Emulators running in a worker thread of their own: their HTTP servers, request parsing and
 * LevelDB work leave the main thread's event loop, where the event source, the archiver and the
 * HTTP gateway run (ADR 017). Clients reach them over loopback TCP as before; only the control
 * calls (trim, iterator count, memory, stop) are messages. A worker is a thread of this process:
 * `kill -9` ends it with the process, and no orphan keeps a port or a LevelDB lock.
 */
export class EmulatorThread implements EmulatorServers, WorkerThread {
  /** kinesalite, dynalite, s3rver, or several joined by '+': the thread's name in the status. */
  readonly name: string;
  /** The worker's last memory answer, also one that came after its caller stopped waiting. */
  lastMemory: HeapUsage | undefined;
  ports: EmulatorServers['ports'] = {};
  private readonly worker: Worker;
  private readonly started: Promise<void>;
  private nextId = 0;
  /** Ids of memory calls not answered yet: a late answer still updates lastMemory. */
  private readonly memoryCalls = new Set<number>();
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private stopped: Promise<void> | undefined;
  /** Set once the emulators listen: a worker that failed to start has not crashed. */
  private running = false;
  private exited = false;

  /**
   * Starts the worker; start() resolves once its emulators listen. `onCrash` is told when the
   * worker dies before stop() (an emulator's uncaught exception): its emulators are gone.
   */
  constructor(
    options: EmulatorServerOptions,
    private readonly onCrash: (error: Error) => void,
  ) {
    this.name = options.kinds.map((k) => EMULATOR_NAMES[k]).join('+');
    const tsxCjs = createRequire(__filename).resolve('tsx/cjs/api');
    const entry = path.join(__dirname, 'emulator-worker.ts');
    // tsx loads the TypeScript entry in the worker, as HandlerHost does for handlers.
    const bootstrap = `require(${JSON.stringify(tsxCjs)}).register(); require(${JSON.stringify(entry)});`;
    this.worker = new Worker(bootstrap, { eval: true, workerData: options });
    this.started = new Promise((resolve, reject) => {
      const onMessage = (message: EmulatorWorkerMessage) => {
        if ('started' in message) {
          this.ports = message.started;
          this.running = true;
          resolve();
        } else if ('failed' in message) reject(new Error(message.failed));
        else return;
        this.worker.off('message', onMessage);
      };
      this.worker.on('message', onMessage);
      this.worker.once('error', reject);
      this.worker.once('exit', (code) => reject(new Error(`the ${this.name} worker exited (code ${code})`)));
    });
    this.worker.on('message', (message: EmulatorWorkerMessage) => {
      if (!('id' in message)) return;
      if (this.memoryCalls.delete(message.id) && 'result' in message)
        this.lastMemory = message.result as HeapUsage;
      const waiter = this.pending.get(message.id);
      this.pending.delete(message.id);
      if ('error' in message) waiter?.reject(new Error(message.error));
      else waiter?.resolve(message.result);
    });
    this.worker.on('error', (error) => this.fail(error));
    this.worker.once('exit', (code) => {
      this.exited = true;
      this.fail(new Error(`the ${this.name} worker exited (code ${code})`));
    });
  }

  private fail(error: Error): void {
    for (const waiter of this.pending.values()) waiter.reject(error);
    this.pending.clear();
    if (this.running && this.stopped === undefined) this.onCrash(error);
  }

  /** Resolves once every emulator of the thread listens; rejects with the reason it did not start. */
  start(): Promise<void> {
    return this.started;
  }

  private call(message: CallWithoutId, timeoutMs?: number): Promise<unknown> {
    if (this.exited) return Promise.reject(new Error(`the ${this.name} worker has exited`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              this.pending.delete(id);
              reject(
                new Error(`the ${this.name} worker did not answer ${message.call} within ${timeoutMs} ms`),
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

  trimStream(nowMs?: number): Promise<number> {
    return this.call({ call: 'trimStream', ...(nowMs === undefined ? {} : { nowMs }) }) as Promise<number>;
  }

  openLevelIterators(): Promise<number> {
    return this.call({ call: 'openLevelIterators' }) as Promise<number>;
  }

  /** The worker's own V8 heap (a separate isolate, outside the main thread's memoryUsage()). */
  memoryUsage(timeoutMs = 5_000): Promise<HeapUsage> {
    // The id call() is about to take (it takes none once the worker has exited).
    if (!this.exited) this.memoryCalls.add(this.nextId);
    return this.call({ call: 'memoryUsage' }, timeoutMs) as Promise<HeapUsage>;
  }

  /** Writes a V8 heap snapshot of the worker's isolate to `file`. */
  async writeHeapSnapshot(file: string): Promise<void> {
    await pipeline(await this.worker.getHeapSnapshot(), createWriteStream(file));
  }

  /**
   * Closes the emulators (servers, connections, databases: LevelDB's lock is released only by a
   * close) and ends the worker; idempotent. A worker that crashed or failed to start is only ended.
   */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      try {
        // A worker that failed to start answers no call: its emulators are closed already.
        if (this.running && !this.exited) await this.call({ call: 'stop' });
      } finally {
        await this.worker.terminate();
      }
    })();
    return this.stopped;
  }
}
