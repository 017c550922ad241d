import { describe, expect, it } from 'vitest';
import { liveTargets } from '../../lambdas/core/kappa';
import { validateViews } from '../../lambdas/core/view';
import { startReplay, type ReplayDeps } from '../../lambdas/services/kappa-replay';
import { InMemoryEventClaims } from './in-memory-stores';
import { InMemoryArchive, InMemoryKappaCellStore, InMemoryKappaControlStore } from './in-memory-kappa';

/**
 * Found by the hostile-input suite (test/integ/hostile-input.test.ts): a view named `constructor`
 * (a valid name) made the first replay store a pointer built from Object.prototype's
 * `constructor`, with `active` and `previous` missing; the Kappa processor then threw on every
 * batch (`Cannot read properties of undefined (reading 'version')`) and dead-lettered it.
 */
describe('Kappa pointers of views named like Object.prototype members', () => {
  it.each(['constructor', '__proto__'])(
    'starts a replay of a view named %s with clean pointers',
    async (name) => {
      const views = validateViews([
        { name, eventType: 'click', key: ['page'], granularity: '1h', measures: { n: { kind: 'count' } } },
      ]);
      const control = new InMemoryKappaControlStore();
      const deps: ReplayDeps = {
        views,
        cells: new InMemoryKappaCellStore(),
        control,
        claims: new InMemoryEventClaims(),
        archive: new InMemoryArchive(),
        watermark: { archivedBeforeMs: async () => null },
        clock: { now: () => Date.UTC(2026, 10, 24, 10) },
        handoffDelayMs: 1000,
        archivePrefix: 'events/',
      };
      await startReplay({}, deps);
      const pointers = await control.read();
      expect(Object.keys(pointers.views)).toEqual([name]);
      expect(pointers.views[name].active).toBeNull();
      expect(pointers.views[name].previous).toBeNull();
      expect(() => liveTargets(pointers)).not.toThrow();
      expect(liveTargets(pointers).map((v) => v.definition.name)).toEqual([name]);
    },
  );
});
