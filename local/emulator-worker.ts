/**
 * The body of an emulator worker thread (local/emulator-thread.ts starts it): starts the
 * emulators it is asked for in this thread, reports their ports, answers the main thread's calls,
 * stops them when asked, and waits to be asked again (a restart reuses the thread and the modules
 * it loaded). Every message is plain data.
 */
import { getHeapStatistics } from 'node:v8';
import { parentPort } from 'node:worker_threads';
import { startEmulatorServers, type EmulatorServerOptions, type EmulatorServers } from './emulator-servers';

/** A call from the main thread; `id` pairs it with its answer. */
export type EmulatorCall =
  | { readonly id: number; readonly call: 'start'; readonly options: EmulatorServerOptions }
  | { readonly id: number; readonly call: 'trimStream'; readonly nowMs?: number }
  | { readonly id: number; readonly call: 'openLevelIterators' | 'memoryUsage' | 'stop' };

/** What the worker posts: one answer per call. */
export type EmulatorWorkerMessage =
  { readonly id: number; readonly result: unknown } | { readonly id: number; readonly error: string };

let servers: EmulatorServers | undefined;

function running(): EmulatorServers {
  if (!servers) throw new Error('no emulator runs in this worker: start them first');
  return servers;
}

async function answer(message: EmulatorCall): Promise<unknown> {
  switch (message.call) {
    case 'start':
      if (servers) throw new Error('emulators already run in this worker: stop them first');
      servers = await startEmulatorServers(message.options);
      return servers.ports;
    case 'trimStream':
      return running().trimStream(message.nowMs);
    case 'openLevelIterators':
      return running().openLevelIterators();
    case 'memoryUsage': {
      const heap = getHeapStatistics();
      const usage = process.memoryUsage();
      return {
        heapUsed: heap.used_heap_size,
        heapTotal: heap.total_heap_size,
        external: usage.external,
        arrayBuffers: usage.arrayBuffers,
      };
    }
    case 'stop': {
      const stopping = servers;
      await stopping?.stop();
      if (servers === stopping) servers = undefined;
      return undefined;
    }
  }
}

parentPort?.on('message', (message: EmulatorCall) => {
  answer(message).then(
    (result) => parentPort!.postMessage({ id: message.id, result } satisfies EmulatorWorkerMessage),
    (error: Error) =>
      parentPort!.postMessage({ id: message.id, error: error.message } satisfies EmulatorWorkerMessage),
  );
});
