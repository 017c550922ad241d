import { describe, expect, it } from 'vitest';
import {
  nextLineage,
  selectionOf,
  viewFingerprint,
  viewsNeedingFull,
  type PublishedLineage,
} from '../../lambdas/core/batch-lineage';
import { validateViews } from '../../lambdas/core/view';

const viewsNamed = (...names: string[]) =>
  validateViews(
    names.map((name) => ({
      name,
      eventType: 'click',
      key: ['page'],
      granularity: '1h',
      measures: { n: { kind: 'count' } },
    })),
  );

/** As the control store keeps it: JSON text in the pointer item. */
const stored = (lineage: PublishedLineage): PublishedLineage =>
  JSON.parse(JSON.stringify(lineage)) as PublishedLineage;

describe('batch lineage of views named like Object.prototype members', () => {
  // Lower case only: view names are [a-z0-9_]+.
  it.each(['__proto__', 'constructor'])(
    'keeps a view named %s through the pointer, selects it and builds on it',
    (name) => {
      const views = viewsNamed(name, 'pages');
      const first = stored(nextLineage(undefined, null, 1, views, new Set([name, 'pages'])));
      expect(Object.keys(first.views).sort()).toEqual([name, 'pages'].sort());
      expect(first.views[name]).toEqual({ base: 1, definition: viewFingerprint(views[0]) });
      expect(selectionOf(first, name)).toEqual({ base: 1, skip: [] });
      expect([...viewsNeedingFull(views, first, false)]).toEqual([]);
      const second = stored(nextLineage(first, 1, 2, views, new Set()));
      expect(second.views[name]).toEqual({ base: 1, definition: viewFingerprint(views[0]) });
    },
  );

  it.each(['__proto__', 'constructor'])(
    'treats a view named %s that the lineage does not hold as new',
    (name) => {
      const lineage = stored(nextLineage(undefined, null, 1, viewsNamed('pages'), new Set(['pages'])));
      expect(selectionOf(lineage, name)).toBeUndefined();
      expect([...viewsNeedingFull(viewsNamed(name, 'pages'), lineage, false)]).toEqual([name]);
    },
  );
});
