import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { removeAbandoned } from '../temp-dir-per-run';

describe("the test run's temporary folder (test/temp-dir-per-run.ts)", () => {
  it('is where os.tmpdir() points during the run, so cdk.out folders land in it', () => {
    expect(path.basename(tmpdir())).toMatch(/^streamfold-test-\d+-/);
  });

  it("removes the folders of runs whose process is gone, and keeps a live run's", () => {
    const parent = mkdtempSync(path.join(tmpdir(), 'abandoned-'));
    // 2^22 + 1 is above Linux's largest pid (pid_max is at most 2^22).
    const gone = path.join(parent, `streamfold-test-${2 ** 22 + 1}-abc`);
    const live = path.join(parent, `streamfold-test-${process.pid}-def`);
    const other = path.join(parent, 'streamfold-other');
    for (const dir of [gone, live, other]) mkdirSync(path.join(dir, 'cdk.out'), { recursive: true });
    removeAbandoned(parent);
    expect([existsSync(gone), existsSync(live), existsSync(other)]).toEqual([false, true, true]);
  });
});
