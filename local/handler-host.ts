import { createWriteStream } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Worker } from 'node:worker_threads';

/**
 * The SDK warns once per client package, in every worker, that Node 20 support ends in 2027:
 * known (TOOLCHAIN.md) and harmless here, and it buries the progress line. Only that warning is
 * dropped; every other warning still prints.
 */
export function quietSdkNodeWarning(): void {
  const emit = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const text = typeof warning === 'string' ? warning : warning.message;
    if (text.startsWith('NodeVersionSupportWarning')) return;
    emit(warning, ...rest);
  }) as typeof process.emitWarning;
}

/** Bytes of one V8 isolate's heap and the off-heap memory its objects hold. */
export interface HeapUsage {
  readonly heapUsed: number;
  readonly heapTotal: number;
  readonly external: number;
  readonly arrayBuffers: number;
}

/** A worker thread whose memory the status reports and whose heap a snapshot can take (handlers, emulators). */
export interface WorkerThread {
  readonly name: string;
  /** The worker's last memory answer, also one that came after its caller stopped waiting. */
  readonly lastMemory: HeapUsage | undefined;
  memoryUsage(timeoutMs?: number): Promise<HeapUsage>;
  writeHeapSnapshot(file: string): Promise<void>;
}

/**
 * Runs one deployed handler module in its own worker thread, with its own environment set before
 * the module is imported: exactly what Lambda gives each function. Handlers read their
 * configuration at module scope, so sharing one process.env between handlers (or setting it after
 * the import) would silently mix their configurations.
 */
export class HandlerHost implements WorkerThread {
  private worker!: Worker;
  private nextId = 0;
  /** Invocations waiting for their answer, with the worker they were posted to. */
  private readonly pending = new Map<
    number,
    { resolve: (value: unknown) => void; reject: (error: Error) => void; worker: Worker }
  >();
  private readonly memoryWaiters = new Map<number, (usage: HeapUsage) => void>();
  /** The worker's last answer, also one that came after its caller stopped waiting. */
  lastMemory: HeapUsage | undefined;
  private ready!: Promise<void>;
  private exited = false;
  private stopping = false;
  /** Workers being terminated by `kill` (not a stop), with what their pending invocations fail with. */
  private readonly killedBecause = new Map<Worker, string>();
  /** Sandboxes killed by `kill` (each followed by a cold start). */
  kills = 0;
  invocations = 0;
  errors = 0;

  constructor(
    readonly name: string,
    private readonly entry: string,
    readonly env: Readonly<Record<string, string>>,
  ) {
    this.spawn();
  }

  /** Starts a worker: the function's execution environment, its module imported anew (a cold start). */
  private spawn(): void {
    const { name, entry, env } = this;
    // TypeScript sources need tsx's loader; a JavaScript bundle (the fault suite's) does not, and
    // registering it anyway cost each worker of a restart its load.
    const register = /\.[cm]?js$/.test(entry)
      ? ''
      : `require(${JSON.stringify(createRequire(__filename).resolve('tsx/cjs/api'))}).register();`;
    // The worker's code is tiny and fixed; the handler module itself is loaded from its file.
    const bootstrap = `
      const { parentPort } = require('node:worker_threads');
      (${quietSdkNodeWarning.toString()})();
      ${register}
      let mod;
      try { mod = require(${JSON.stringify(path.resolve(entry))}); parentPort.postMessage({ ready: true }); }
      catch (error) { parentPort.postMessage({ ready: false, error: String(error && error.stack || error) }); }
      parentPort.on('message', async ({ id, event, context, memory }) => {
        if (memory !== undefined) {
          const heap = require('node:v8').getHeapStatistics();
          const usage = process.memoryUsage();
          parentPort.postMessage({ memory, usage: { heapUsed: heap.used_heap_size, heapTotal: heap.total_heap_size, external: usage.external, arrayBuffers: usage.arrayBuffers } });
          return;
        }
        try {
          const result = await mod.handler(event, { ...context, getRemainingTimeInMillis: () => 900000 });
          parentPort.postMessage({ id, result });
        } catch (error) {
          parentPort.postMessage({ id, error: { name: error && error.name, message: String(error && error.message || error), stack: error && error.stack } });
        }
      });`;
    const worker = new Worker(bootstrap, { eval: true, env: { ...env } });
    this.worker = worker;
    this.ready = new Promise((resolve, reject) => {
      const onMessage = (message: { ready?: boolean; error?: string }) => {
        if (message.ready === undefined) return;
        worker.off('message', onMessage);
        if (message.ready) resolve();
        else reject(new Error(`handler ${name} (${entry}) failed to load: ${message.error}`));
      };
      worker.on('message', onMessage);
      worker.once('error', reject);
    });
    worker.on(
      'message',
      (message: {
        id?: number;
        result?: unknown;
        error?: { name: string; message: string; stack?: string };
        memory?: number;
        usage?: HeapUsage;
      }) => {
        if (message.memory !== undefined && message.usage) {
          this.lastMemory = message.usage;
          this.memoryWaiters.get(message.memory)?.(message.usage);
          this.memoryWaiters.delete(message.memory);
          return;
        }
        if (message.id === undefined) return;
        const waiter = this.pending.get(message.id);
        if (!waiter) return;
        this.pending.delete(message.id);
        if (message.error) {
          const error = new Error(message.error.message);
          error.name = message.error.name;
          error.stack = message.error.stack;
          waiter.reject(error);
        } else waiter.resolve(message.result);
      },
    );
    // An invocation the worker never answered (it was terminated: a stop that ran out of time, or
    // `kill`) must end, or whatever awaits it (a batch run, a replay step) waits for good.
    // Only this worker's invocations: after a `kill`, its replacement may already have some.
    const failPending = (error: Error) => {
      for (const [id, waiter] of this.pending)
        if (waiter.worker === worker) {
          this.pending.delete(id);
          waiter.reject(error);
        }
    };
    worker.once('exit', () => {
      const killed = this.killedBecause.get(worker);
      this.killedBecause.delete(worker);
      if (killed === undefined) this.exited = true;
      failPending(
        new Error(
          killed ??
            `the ${this.name} function's worker exited before it answered (the runtime is stopping): the invocation did not finish`,
        ),
      );
    });
    worker.on('error', failPending);
  }

  /** Resolves once the module is imported (its configuration was read and accepted). */
  async start(): Promise<void> {
    await this.ready;
  }

  async invoke<T>(event: unknown): Promise<T> {
    // After a `kill`, the worker to post to is the one that replaced it, once it has loaded.
    for (let ready = this.ready; ; ready = this.ready) {
      await ready;
      if (ready === this.ready) break;
    }
    if (this.exited)
      throw new Error(`the ${this.name} function's worker has exited (the runtime is stopping): not invoked`);
    const id = this.nextId++;
    this.invocations++;
    const context = {
      functionName: `streamfold-local-${this.name}`,
      functionVersion: '$LATEST',
      awsRequestId: `local-${this.name}-${id}`,
      memoryLimitInMB: '1024',
      invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:streamfold-local-${this.name}`,
      logGroupName: `/aws/lambda/streamfold-local-${this.name}`,
      logStreamName: 'local',
      callbackWaitsForEmptyEventLoop: false,
    };
    try {
      return await new Promise<T>((resolve, reject) => {
        this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, worker: this.worker });
        this.worker.postMessage({ id, event, context });
      });
    } catch (error) {
      this.errors++;
      throw error;
    }
  }

  /**
   * The worker's own V8 heap (each worker thread is a separate isolate, which the process's
   * memoryUsage() does not include) and the external memory its objects hold: what the soak
   * benchmark needs to tell which thread holds the memory.
   */
  async memoryUsage(timeoutMs = 5_000): Promise<HeapUsage> {
    await this.ready;
    if (this.exited) throw new Error(`handler ${this.name}'s worker has exited: no memory to report`);
    const id = this.nextId++;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await new Promise<HeapUsage>((resolve, reject) => {
        this.memoryWaiters.set(id, resolve);
        // A worker busy for longer (a long synchronous step) answers late: the status goes on without it.
        timer = setTimeout(
          () =>
            reject(
              new Error(`handler ${this.name}'s worker did not report its memory within ${timeoutMs} ms`),
            ),
          timeoutMs,
        );
        this.worker.postMessage({ memory: id });
      });
    } finally {
      clearTimeout(timer);
      this.memoryWaiters.delete(id);
    }
  }

  /**
   * Writes a V8 heap snapshot of the worker's isolate to `file` (Node's `--heapsnapshot-signal`
   * covers the main thread only). The worker pauses while its heap is walked.
   */
  async writeHeapSnapshot(file: string): Promise<void> {
    await this.ready;
    await pipeline(await this.worker.getHeapSnapshot(), createWriteStream(file));
  }

  /**
   * The function's execution environment dies mid-invocation, as Lambda ends one at its timeout,
   * when it runs out of memory or its runtime crashes: the invocations under way fail with
   * `reason` (whatever requests they had sent may or may not land), and a fresh worker imports
   * the module again for the next invocation (a cold start). The fault suite's way to kill a
   * batch run mid-publish without restarting the whole runtime.
   */
  async kill(reason: string): Promise<void> {
    if (this.exited || this.stopping) return;
    this.killedBecause.set(
      this.worker,
      `the ${this.name} function's execution environment was killed (${reason}): the invocation did not finish`,
    );
    this.kills++;
    await this.worker.terminate();
    this.spawn();
    // A module that no longer loads fails the next invocation, as a cold start would, not the kill.
    this.ready.catch(() => undefined);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.worker.terminate();
  }
}
