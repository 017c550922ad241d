import { describe, expect, it } from 'vitest';
import { validateViews } from '../../lambdas/core/view';
import type { ArchiveReader } from '../../lambdas/ports/kappa';
import { KeyIndex } from '../../local/dashboard/key-index';

const views = validateViews([
  {
    name: 'by_page',
    eventType: 'page.view',
    key: ['page'],
    granularity: '1m',
    measures: { n: { kind: 'count' } },
  },
  {
    name: 'de_by_page_and_user',
    eventType: 'page.view',
    key: ['page', 'user'],
    granularity: '1h',
    measures: { n: { kind: 'count' } },
    where: { country: 'DE' },
  },
]);
const T0 = Date.UTC(2026, 11, 1, 10, 0, 0);

let seq = 0;
/** One archive line as the archiver writes it. */
function line(body: Record<string, unknown>, timeMs = T0): string {
  seq++;
  return JSON.stringify({
    id: `e${seq}`,
    type: 'page.view',
    ...body,
    _tm: timeMs,
    _am: timeMs,
    _shard: 's0',
    _seq: String(seq),
    _pk: 'p',
  });
}

/** An archive in memory that counts how often each object is read. */
class MemoryArchive implements ArchiveReader {
  readonly objects = new Map<string, string>();
  readonly reads = new Map<string, number>();
  async list(): Promise<string[]> {
    return [...this.objects.keys()].sort();
  }
  async read(key: string): Promise<string> {
    this.reads.set(key, (this.reads.get(key) ?? 0) + 1);
    return this.objects.get(key)!;
  }
}

function setup() {
  const archive = new MemoryArchive();
  let now = 0;
  const index = new KeyIndex({ archive, views, minRefreshMs: 1000, now: () => now });
  return { archive, index, advance: (ms: number) => (now += ms) };
}

describe('KeyIndex: the keys a view has data for, from the archive', () => {
  it('lists each view’s keys by the view’s own rule (type, where, key fields), most records first', async () => {
    const { archive, index } = setup();
    archive.objects.set(
      'events/a.ndjson',
      [
        line({ page: '/b', user: 'u1', country: 'DE' }),
        line({ page: '/a', user: 'u1', country: 'FR' }),
        line({ page: '/a', user: 'u2', country: 'DE' }, T0 + 60_000),
        line({ page: '/a', user: 'u2', country: 'DE' }),
        line({ type: 'other', page: '/c' }),
        line({ user: 'u3' }), // no key field: in no view
        line({ page: { nested: true } }), // not a scalar key: in no view
        '',
      ].join('\n'),
    );
    const byPage = await index.list('by_page', '', 50);
    expect(byPage).toMatchObject({ view: 'by_page', total: 2, matching: 2, objectsRead: 1 });
    expect(byPage!.keys).toEqual([
      { key: { page: '/a' }, records: 3, lastEventTime: new Date(T0 + 60_000).toISOString() },
      { key: { page: '/b' }, records: 1, lastEventTime: new Date(T0).toISOString() },
    ]);
    const de = await index.list('de_by_page_and_user', '', 50);
    expect(de!.keys.map((k) => [k.key, k.records])).toEqual([
      [{ page: '/a', user: 'u2' }, 2],
      [{ page: '/b', user: 'u1' }, 1],
    ]);
    expect(await index.list('nope', '', 50)).toBeUndefined();
  });

  it('filters by a case-insensitive substring of any key field and caps the answer at limit', async () => {
    const { archive, index } = setup();
    archive.objects.set(
      'events/a.ndjson',
      ['/Pricing', '/docs/pricing', '/blog', '/cart'].map((page) => line({ page })).join('\n'),
    );
    const hits = await index.list('by_page', 'PRIC', 1);
    expect(hits).toMatchObject({ total: 4, matching: 2 });
    expect(hits!.keys).toHaveLength(1);
    expect((await index.list('de_by_page_and_user', 'pric', 10))!.matching).toBe(0);
  });

  it('reads each archive object once, and new objects at the next refresh (not before minRefreshMs)', async () => {
    const { archive, index, advance } = setup();
    archive.objects.set('events/a.ndjson', line({ page: '/a' }));
    expect((await index.list('by_page', '', 10))!.total).toBe(1);
    archive.objects.set('events/b.ndjson', line({ page: '/b' }));
    expect((await index.list('by_page', '', 10))!.total).toBe(1); // within minRefreshMs: the last listing
    advance(1000);
    expect((await index.list('by_page', '', 10))!.total).toBe(2);
    advance(1000);
    await index.list('by_page', '', 10);
    expect([...archive.reads.values()]).toEqual([1, 1]);
  });

  it('shares one pass between callers that ask at once', async () => {
    const { archive, index } = setup();
    archive.objects.set('events/a.ndjson', line({ page: '/a' }));
    await Promise.all([index.list('by_page', '', 10), index.list('by_page', 'a', 10), index.refresh()]);
    expect(archive.reads.get('events/a.ndjson')).toBe(1);
  });

  it('counts a line that is not an event and goes on', async () => {
    const { archive, index } = setup();
    archive.objects.set('events/a.ndjson', ['{"no":"archive columns"}', line({ page: '/a' })].join('\n'));
    expect(await index.list('by_page', '', 10)).toMatchObject({ total: 1, unreadableLines: 1 });
  });

  it('answers 1,000 keys in a few milliseconds once indexed', async () => {
    const { archive, index } = setup();
    for (let o = 0; o < 10; o++)
      archive.objects.set(
        `events/${o}.ndjson`,
        Array.from({ length: 1000 }, (_, i) => line({ page: `/page-${(o * 1000 + i) % 1000}` })).join('\n'),
      );
    await index.refresh();
    const started = performance.now();
    const all = await index.list('by_page', '', 1000);
    const search = await index.list('by_page', 'page-99', 50);
    const ms = performance.now() - started;
    expect(all).toMatchObject({ total: 1000, matching: 1000 });
    expect(all!.keys.every((k) => k.records === 10)).toBe(true);
    expect(search!.matching).toBe(11); // page-99 and page-990..999
    expect(ms).toBeLessThan(200);
  });
});
