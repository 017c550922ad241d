import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lockDataDir } from '../../local/data-dir-lock';

/**
 * `npm start` twice on one data dir: found by a black-box check, where the second runtime died
 * on LevelDB's lock with a stack trace instead of saying what was wrong.
 */
let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'streamfold-lock-'));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const pidFile = () => path.join(dir, 'streamfold.pid');

/** A process that runs until killed, and its id. */
function sleeper() {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' });
  return child;
}

describe('lockDataDir', () => {
  it('refuses a data dir another running process holds, naming it and what to do', async () => {
    const other = sleeper();
    try {
      await fs.writeFile(pidFile(), String(other.pid));
      await expect(lockDataDir(dir)).rejects.toThrow(
        `data dir ${dir} is in use by another streamfold (pid ${other.pid}): stop that one, or start this one with another --data-dir`,
      );
      expect(await fs.readFile(pidFile(), 'utf8')).toBe(String(other.pid));
    } finally {
      other.kill('SIGKILL');
    }
  });

  it('takes over the file of a killed runtime (kill -9 leaves it behind), and releases it', async () => {
    const gone = sleeper();
    gone.kill('SIGKILL');
    await new Promise((resolve) => gone.once('exit', resolve));
    await fs.writeFile(pidFile(), String(gone.pid));
    const release = await lockDataDir(dir);
    expect(await fs.readFile(pidFile(), 'utf8')).toBe(String(process.pid));
    await release();
    await expect(fs.access(pidFile())).rejects.toThrow();
  });

  it('is taken again by the same process (a runtime restarted in it) and twice in a row', async () => {
    const first = await lockDataDir(dir);
    const second = await lockDataDir(dir);
    await second();
    await first();
    await expect(fs.access(pidFile())).rejects.toThrow();
  });

  it('leaves a file another process took over in place when released', async () => {
    const release = await lockDataDir(dir);
    await fs.writeFile(pidFile(), '12345678');
    await release();
    expect(await fs.readFile(pidFile(), 'utf8')).toBe('12345678');
  });
});
