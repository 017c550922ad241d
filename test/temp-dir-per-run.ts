import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { processRunning } from '../lambdas/runtime/process-running';

/**
 * Vitest global setup: the run gets a temporary folder of its own, as `TMPDIR`, and removes it at
 * the end. aws-cdk-lib synthesizes every app without an `outdir` into a new
 * `mkdtemp(<tmpdir>/cdk.out)` it never removes (`Template.fromStack` does so for every stack a
 * test asserts on): 171 folders and 64 MB per `npx vitest run test/infra`, left in /tmp by every
 * run. Test files that make folders of their own and remove them in `afterAll` leave them behind
 * when the run is interrupted. The workers and the processes the tests start inherit `TMPDIR`,
 * and `os.tmpdir()` reads it at each call.
 *
 * `STREAMFOLD_KEEP_TEST_TMP=1` keeps the folder (its path is printed), to look at what a failed
 * test wrote.
 */
const PREFIX = 'streamfold-test-';

/** Folders of earlier runs whose process is gone (an interrupted run has no teardown). */
export function removeAbandoned(parent: string): void {
  for (const name of readdirSync(parent)) {
    if (!name.startsWith(PREFIX)) continue;
    const pid = Number(/^(\d+)-/.exec(name.slice(PREFIX.length))?.[1]);
    if (Number.isSafeInteger(pid) && pid !== process.pid && !processRunning(pid))
      rmSync(path.join(parent, name), { recursive: true, force: true });
  }
}

export default function setup(): () => void {
  const parent = tmpdir();
  removeAbandoned(parent);
  const dir = mkdtempSync(path.join(parent, `${PREFIX}${process.pid}-`));
  const before = process.env.TMPDIR;
  process.env.TMPDIR = dir;
  return () => {
    if (before === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = before;
    if (process.env.STREAMFOLD_KEEP_TEST_TMP === '1') console.log(`test temporary files kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  };
}
