import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { synthKappa } from './kappa-fixture';
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

describe('bundling the Kappa stack', () => {
  it('bundles its six handlers with the local esbuild, without Docker, and leaves DuckDB out', () => {
    // GIVEN bundling on / WHEN the Kappa stack is synthesized
    const { app } = synthKappa({}, true);
    const assembly = app.synth();
    // THEN six code assets (ingest, query, archive transform, processor, replay, admin) hold an index.js.
    // On this branch kappa-processor, replay and kappa-admin are placeholders (the handlers' branch
    // brings the real ones), so only the presence of each bundle is checked, not its size.
    const assets = readdirSync(assembly.directory)
      .filter(
        (name) => name.startsWith('asset.') && existsSync(path.join(assembly.directory, name, 'index.js')),
      )
      .map((name) => readFileSync(path.join(assembly.directory, name, 'index.js'), 'utf8'));
    expect(assets.length).toBe(6);
    for (const code of assets) {
      expect(code).not.toContain('duckdb.node');
      expect(code).toContain('handler');
    }
  }, 120_000);
});
