import { defineConfig } from 'vitest/config';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(fileURLToPath(import.meta.url));

export default defineConfig({
  resolve: { alias: { streamfold: path.resolve(root, 'index.ts') } },
  test: {
    include: ['test/**/*.test.ts'],
    // A temporary folder per run, removed at its end (aws-cdk-lib leaves a cdk.out per synth).
    globalSetup: ['test/temp-dir-per-run.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration suites start emulators on their own ports; two cores do not gain from more workers.
    maxWorkers: 2,
  },
});
