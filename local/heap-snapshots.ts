import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { writeHeapSnapshot } from 'node:v8';
import type { WorkerThread } from './handler-host';

/**
 * Writes a heap snapshot of the main thread and of every worker given into `dir`, named
 * `<label>-<thread>.heapsnapshot`; resolves to the files written. Finding what grows in a
 * long-running runtime is a diff of two such sets (bench/heap-diff.ts). Each thread pauses while
 * its heap is walked, and the snapshot of a large heap takes about as much memory again.
 */
export async function writeHeapSnapshots(
  dir: string,
  label: string,
  hosts: readonly WorkerThread[],
): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const files = [path.join(dir, `${label}-main.heapsnapshot`)];
  writeHeapSnapshot(files[0]);
  // One at a time: each snapshot is assembled in the main thread's memory as it streams.
  for (const host of hosts) {
    const file = path.join(dir, `${label}-${host.name}.heapsnapshot`);
    await host.writeHeapSnapshot(file);
    files.push(file);
  }
  return files;
}
