/**
 * The body of an emulator worker thread (local/emulator-thread.ts starts it): starts the
 * emulators named in `workerData` in this thread, reports their ports, then answers the main
 * thread's calls until it asks to stop. Every message is plain data.
 */
import { getHeapStatistics } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import { startEmulatorServers, type EmulatorServerOptions, type EmulatorServers } from './emulator-servers';

/** A call from the main thread; `id` pairs it with its answer. */
export type EmulatorCall =
  | { readonly id: number; readonly call: 'trimStream'; readonly nowMs?: number }
  | { readonly id: number; readonly call: 'openLevelIterators' | 'memoryUsage' | 'stop' };

/** What the worker posts: once `started` or `failed`, then one answer per call. */
export type EmulatorWorkerMessage =
  | { readonly started: EmulatorServers['ports'] }
  | { readonly failed: string }
  | { readonly id: number; readonly result: unknown }
  | { readonly id: number; readonly error: string };

async function answer(servers: EmulatorServers, message: EmulatorCall): Promise<unknown> {
  switch (message.call) {
    case 'trimStream':
      return servers.trimStream(message.nowMs);
    case 'openLevelIterators':
      return servers.openLevelIterators();
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
    case 'stop':
      return servers.stop();
  }
}

function serve(port: NonNullable<typeof parentPort>, options: EmulatorServerOptions): void {
  const post = (message: EmulatorWorkerMessage) => port.postMessage(message);
  startEmulatorServers(options).then(
    (servers) => {
      port.on('message', (message: EmulatorCall) => {
        answer(servers, message).then(
          (result) => post({ id: message.id, result }),
          (error: Error) => post({ id: message.id, error: error.message }),
        );
      });
      post({ started: servers.ports });
    },
    (error: Error) => post({ failed: error.message }),
  );
}

if (parentPort) serve(parentPort, workerData as EmulatorServerOptions);
