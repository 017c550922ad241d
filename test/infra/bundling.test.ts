import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { synth } from './stack-fixture';

describe('bundling (the one test that bundles for real)', () => {
  it('bundles every handler with the local esbuild, without Docker, and leaves DuckDB out', () => {
    // GIVEN bundling on / WHEN synthesized
    const { app } = synth({}, true);
    const assembly = app.synth();
    // THEN five code assets hold an index.js, and none contains the native DuckDB module
    const assets = readdirSync(assembly.directory)
      .filter(
        (name) => name.startsWith('asset.') && existsSync(path.join(assembly.directory, name, 'index.js')),
      )
      .map((name) => path.join(assembly.directory, name));
    expect(assets.length).toBe(5);
    for (const asset of assets) {
      const file = path.join(asset, 'index.js');
      expect(existsSync(file)).toBe(true);
      const code = readFileSync(file, 'utf8');
      expect(code).not.toContain('duckdb.node');
      expect(code.length).toBeGreaterThan(1000);
    }
  }, 120_000);
});
