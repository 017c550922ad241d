import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { processRunning } from '../lambdas/runtime/process-running';
import { StartRefusedError } from './stored-settings';

/**
 * Claims `dataDir` for this process with a `streamfold.pid` file, and returns its release. A
 * second `npm start` on the same data dir used to die on LevelDB's lock with a stack trace; one
 * whose emulators started elsewhere (`--endpoint`) would share the poller's and archiver's
 * checkpoints with the first. A file left by a killed runtime (`kill -9`) names a process that
 * is gone, and is taken over.
 */
export async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  const file = path.join(dataDir, 'streamfold.pid');
  const mine = String(process.pid);
  try {
    await fs.writeFile(file, mine, { flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const holder = Number((await fs.readFile(file, 'utf8').catch(() => '')).trim());
    if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && processRunning(holder))
      throw new StartRefusedError(
        `data dir ${dataDir} is in use by another streamfold (pid ${holder}): stop that one, or start this one with another --data-dir`,
      );
    await fs.writeFile(file, mine);
  }
  return async () => {
    const holder = await fs.readFile(file, 'utf8').catch(() => '');
    if (holder.trim() === mine) await fs.rm(file, { force: true });
  };
}
