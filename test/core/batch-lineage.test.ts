import { describe, expect, it } from 'vitest';
import {
  COPY_TIME_HORIZON_MS,
  copyTimeRanges,
  nextLineage,
  selectionOf,
  viewFingerprint,
  viewsNeedingFull,
  type PublishedLineage,
} from '../../lambdas/core/batch-lineage';
import { athenaSource } from '../../lambdas/core/archive-source-sql';
import { MAX_TIME_MS, MIN_TIME_MS } from '../../lambdas/core/time';
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

describe('copyTimeRanges (ADR 023)', () => {
  const HOUR = 3_600_000;
  it('widens each range by the copy horizon on both sides and joins what then overlaps', () => {
    expect(COPY_TIME_HORIZON_MS).toBe(HOUR);
    const day = Date.UTC(2026, 0, 2);
    expect(
      copyTimeRanges([
        { fromMs: day, toMs: day + 60_000 },
        { fromMs: day + 90 * 60_000, toMs: day + 91 * 60_000 },
        { fromMs: day + 10 * HOUR, toMs: day + 10 * HOUR + 60_000 },
      ]),
    ).toEqual([
      { fromMs: day - HOUR, toMs: day + 151 * 60_000 },
      { fromMs: day + 9 * HOUR, toMs: day + 11 * HOUR + 60_000 },
    ]);
  });

  it('stays within the times an event can have, so a bucket of 9999-12-31 still selects its own hour', () => {
    const last = Date.UTC(9999, 11, 31, 23, 59);
    expect(copyTimeRanges([{ fromMs: last, toMs: last + 60_000 }])).toEqual([
      { fromMs: last - HOUR, toMs: MAX_TIME_MS + 1 },
    ]);
    expect(copyTimeRanges([{ fromMs: 0, toMs: 60_000 }])).toEqual([
      { fromMs: MIN_TIME_MS, toMs: 60_000 + HOUR },
    ]);
    // The cloud's partition filter over it still holds that hour (a `+010000` bound sorted before every date).
    const sql = athenaSource(
      'db',
      'events',
      last + 60_000,
      undefined,
      {
        uncovered: { ranges: [], keys: [] },
        generations: ['g1'],
        tables: { database: 'db', compactedTable: 'compacted', rawLocation: 's3://b/events/' },
      } as unknown as Parameters<typeof athenaSource>[4],
      copyTimeRanges([{ fromMs: last, toMs: last + 60_000 }]),
    );
    expect(sql).not.toContain('+010000');
    expect(sql).toContain(`'9999-12-31'`);
  });
});
