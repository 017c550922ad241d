import { describe, expect, it, vi } from 'vitest';
import { nextLineage } from '../../lambdas/core/batch-lineage';
import { foldEvents, identityRow, type RowState } from '../../lambdas/core/measures';
import { validateViews, type ViewDefinition } from '../../lambdas/core/view';
import { MAX_BUCKETS_PER_QUERY, queryView, type QueryDeps } from '../../lambdas/services/query-view';
import {
  InMemoryBatchViewStore,
  InMemoryControlStore,
  InMemorySpeedRowStore,
  ManualClock,
} from './in-memory-stores';

const views = validateViews([
  {
    name: 'clicks',
    eventType: 'click',
    key: ['page'],
    granularity: '1m',
    measures: { n: { kind: 'count' }, amount: { kind: 'sum', field: 'amount' } },
  },
  {
    name: 'by_country',
    eventType: 'click',
    key: ['geo.country', 'page'],
    granularity: '1h',
    measures: { n: { kind: 'count' } },
  },
]);
const [clicks, byCountry] = views;
const MIN = 60_000;
const ARRIVAL_BUCKET_MS = MIN;
const T0 = Date.UTC(2026, 0, 31, 12, 0, 0); // 12:00
const iso = (ms: number) => new Date(ms).toISOString();

/** The state of `n` events with these amounts. */
function state(view: ViewDefinition, amounts: number[]): RowState {
  return foldEvents(
    view,
    identityRow(view),
    amounts.map((amount) => ({ type: 'click', amount })),
  );
}

interface Body {
  error?: string;
  views?: string[];
  problems?: { field: string; message: string }[];
  view?: string;
  key?: Record<string, string>;
  granularity?: string;
  from?: string;
  to?: string;
  cutoff?: string | null;
  batchVersion?: number | null;
  buckets?: { start: string; measures: Record<string, number | null> }[];
}

function setup(now = T0 + 30 * MIN) {
  const batch = new InMemoryBatchViewStore();
  const speed = new InMemorySpeedRowStore(views);
  const control = new InMemoryControlStore();
  const deps: QueryDeps = {
    views,
    batch,
    speed,
    control,
    clock: new ManualClock(now),
    arrivalBucketMs: ARRIVAL_BUCKET_MS,
  };
  const query = async (view: string, params: Record<string, string | undefined>) => {
    const result = await queryView(view, params, deps);
    return { status: result.status, body: result.body as Body };
  };
  return { batch, speed, control, query };
}

const range = { from: iso(T0), to: iso(T0 + 10 * MIN) };

describe('queryView: refusals', () => {
  it('answers 404 for an unknown view, listing the views', async () => {
    const { query } = setup();
    const res = await query('clickz', { page: '/home' });
    expect(res).toEqual({
      status: 404,
      body: { error: 'unknown view "clickz"', views: ['clicks', 'by_country'] },
    });
  });

  it('answers 400 naming every missing key field', async () => {
    const { query } = setup();
    const res = await query('by_country', { from: range.from });
    expect(res.status).toBe(400);
    expect(res.body.problems?.map((p) => p.field)).toEqual(['geo.country', 'page']);
    expect(res.body.problems?.[0].message).toBe(
      "query parameter geo.country is required (the view's key is geo.country, page; ?geo.country= asks for the empty value)",
    );
  });

  it('serves the empty key value, which events may carry, when the parameter is present but empty', async () => {
    const { query, speed } = setup();
    await speed.write(
      clicks,
      { view: 'clicks', key: [''], bucketMs: T0, arrivalBucketMs: T0 },
      { state: state(clicks, [2]), fences: {} },
      undefined,
    );
    const res = await query('clicks', { page: '', ...range });
    expect(res.status).toBe(200);
    expect(res.body.buckets).toEqual([{ start: iso(T0), measures: { n: 1, amount: 2 } }]);
  });

  it('reads no inherited property as a parameter (a map with Object.prototype, as a careless caller passes)', async () => {
    const { query } = setup();
    const res = await query('clicks', { toString: 'x', constructor: 'y' } as Record<string, string>);
    expect(res.status).toBe(400);
    expect(res.body.problems?.map((p) => p.field)).toEqual(['page', 'toString', 'constructor']);
  });

  it('answers 400 to an unknown parameter (a misspelt from was answered for the default range)', async () => {
    const { query } = setup();
    const res = await query('clicks', { page: '/home', form: range.from, to: range.to });
    expect(res.status).toBe(400);
    expect(res.body.problems).toEqual([
      { field: 'form', message: 'unknown query parameter "form": GET /views/clicks takes page, from, to' },
    ]);
    // SigV4 signed in the query string (a presigned URL) adds its own parameters.
    const signed = await query('clicks', {
      page: '/home',
      ...range,
      'X-Amz-Signature': 'abc',
      'X-Amz-Date': 'd',
    });
    expect(signed.status).toBe(200);
  });

  it.each([
    ['from', 'yesterday', /from must be ISO-8601 with a zone/],
    ['from', '2026-01-31 12:00', /from must be ISO-8601/],
    ['to', '1769860800', /to looks like epoch seconds/],
    ['to', '2026-02-30T00:00:00Z', /to is not a valid date|to must be/],
  ])('answers 400 to %s=%s', async (field, value, message) => {
    const { query } = setup();
    const res = await query('clicks', { page: '/home', ...range, [field]: value });
    expect(res.status).toBe(400);
    expect(res.body.problems).toHaveLength(1);
    expect(res.body.problems?.[0].field).toBe(field);
    expect(res.body.problems?.[0].message).toMatch(message);
  });

  it('answers 400 for a key too long to be stored, before asking DynamoDB (which refuses a partition key over 2,048 bytes)', async () => {
    const { query, speed, batch } = setup();
    // As DynamoDB answers a Query for such a key (a 5xx to the caller); dynalite does not check it.
    const refused = new Error(
      'ValidationException: One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes',
    );
    const speedQuery = vi.spyOn(speed, 'query').mockRejectedValue(refused);
    const batchQuery = vi.spyOn(batch, 'query').mockRejectedValue(refused);
    for (const page of ['x'.repeat(3000), '\u00e9'.repeat(1100)]) {
      const res = await query('clicks', { page, ...range });
      expect(res.status).toBe(400);
      expect(res.body.problems?.[0].field).toBe('page');
      expect(res.body.problems?.[0].message).toMatch(
        /the limit is 1024, so no event with this key can be accepted; shorten/,
      );
    }
    expect(speedQuery).not.toHaveBeenCalled();
    expect(batchQuery).not.toHaveBeenCalled();
    speedQuery.mockRestore();
    // The longest key the ingestion API accepts is served: ["x...x"] is 1,024 bytes.
    expect((await query('clicks', { page: 'x'.repeat(1020), ...range })).status).toBe(200);
  });

  it('answers 400 when from is not before to', async () => {
    const { query } = setup();
    for (const to of [range.from, iso(T0 - MIN)]) {
      const res = await query('clicks', { page: '/home', from: range.from, to });
      expect(res.status).toBe(400);
      expect(res.body.problems).toEqual([
        { field: 'from', message: `from must be before to (given ${range.from} and ${to})` },
      ]);
    }
  });

  it(`answers 400 above ${MAX_BUCKETS_PER_QUERY} buckets, and 200 at exactly that many`, async () => {
    const { query } = setup();
    const to = T0;
    const tooMany = await query('clicks', {
      page: '/home',
      from: iso(to - (MAX_BUCKETS_PER_QUERY + 1) * MIN),
      to: iso(to),
    });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.problems?.[0].message).toMatch(/more than 10000 buckets of 1m/);
    const most = await query('clicks', {
      page: '/home',
      from: iso(to - MAX_BUCKETS_PER_QUERY * MIN),
      to: iso(to),
    });
    expect(most.status).toBe(200);
  });

  it('counts the buckets an unaligned range overlaps against the cap, not its length', async () => {
    // Found by a probe: from and to half a minute into their buckets span exactly the cap in
    // length but overlap one bucket more, and were answered with 10,001 buckets.
    const { query } = setup();
    const half = 30_000;
    const overlapping = await query('clicks', {
      page: '/home',
      from: iso(T0 - MAX_BUCKETS_PER_QUERY * MIN + half),
      to: iso(T0 + half),
    });
    expect(overlapping.status).toBe(400);
    const within = await query('clicks', {
      page: '/home',
      from: iso(T0 - MAX_BUCKETS_PER_QUERY * MIN + half),
      to: iso(T0),
    });
    expect(within.status).toBe(200);
  });

  it('reports a missing key and a bad time together', async () => {
    const { query } = setup();
    const res = await query('clicks', { from: 'soon' });
    expect(res.status).toBe(400);
    expect(res.body.problems?.map((p) => p.field)).toEqual(['page', 'from']);
  });
});

describe('queryView: batch ⊕ speed at the cutoff', () => {
  async function seeded() {
    const s = setup();
    const cutoff = T0 + 5 * MIN;
    await s.batch.writeCells(2, clicks, [{ key: ['/home'], bucketMs: T0, state: state(clicks, [999]) }]); // old version
    await s.batch.writeCells(3, clicks, [
      { key: ['/home'], bucketMs: T0, state: state(clicks, [1, 2, 3]) },
      { key: ['/home'], bucketMs: T0 + MIN, state: state(clicks, [10]) },
      { key: ['/other'], bucketMs: T0, state: state(clicks, [50]) },
    ]);
    s.control.pointer = {
      version: 3,
      cutoffMs: cutoff,
      publishedAt: iso(cutoff + MIN),
      previous: { version: 2, cutoffMs: cutoff - 5 * MIN },
    };
    const row = (bucketMs: number, arrivalBucketMs: number, amounts: number[], page = '/home') =>
      s.speed.seed({ view: 'clicks', key: [page], bucketMs, arrivalBucketMs }, state(clicks, amounts));
    row(T0, cutoff - MIN, [1, 2, 3]); // arrived before the cutoff: the batch view holds it already
    row(T0, cutoff, [100]); // a late event, arrived at the cutoff: speed only
    row(T0 + 3 * MIN, cutoff + 2 * MIN, [7, 8]);
    row(T0 + 3 * MIN, cutoff + 3 * MIN, [5], '/other');
    return { ...s, cutoff };
  }

  it('adds the speed rows arrived at or after the cutoff to the published batch version, in time order', async () => {
    const { query, cutoff } = await seeded();
    const res = await query('clicks', { page: '/home', ...range });
    expect(res).toEqual({
      status: 200,
      body: {
        view: 'clicks',
        key: { page: '/home' },
        granularity: '1m',
        from: range.from,
        to: range.to,
        cutoff: iso(cutoff),
        batchVersion: 3,
        buckets: [
          { start: iso(T0), measures: { n: 4, amount: 106 } },
          { start: iso(T0 + MIN), measures: { n: 1, amount: 10 } },
          { start: iso(T0 + 3 * MIN), measures: { n: 2, amount: 15 } },
        ],
      },
    });
  });

  it('counts every speed row while no batch version is published', async () => {
    const { query, control } = await seeded();
    control.pointer = null;
    const res = await query('clicks', { page: '/home', ...range });
    expect(res.body).toMatchObject({ cutoff: null, batchVersion: null });
    expect(res.body.buckets).toEqual([
      { start: iso(T0), measures: { n: 4, amount: 106 } },
      { start: iso(T0 + 3 * MIN), measures: { n: 2, amount: 15 } },
    ]);
  });

  it('lists the buckets overlapping [from, to), starting at the bucket that holds from', async () => {
    const { query } = await seeded();
    const res = await query('clicks', { page: '/home', from: iso(T0 + MIN + 30_000), to: iso(T0 + 3 * MIN) });
    expect(res.body.from).toBe(iso(T0 + MIN));
    expect(res.body.buckets?.map((b) => b.start)).toEqual([iso(T0 + MIN)]);
  });

  it('accepts from and to as epoch milliseconds', async () => {
    const { query } = await seeded();
    const res = await query('clicks', {
      page: '/home',
      from: String(T0 + 3 * MIN),
      to: String(T0 + 4 * MIN),
    });
    expect(res.status).toBe(200);
    expect(res.body.buckets).toEqual([{ start: iso(T0 + 3 * MIN), measures: { n: 2, amount: 15 } }]);
  });

  it('reads a multi-field key', async () => {
    const { batch, control, query } = setup();
    await batch.writeCells(1, byCountry, [
      { key: ['DE', '/home'], bucketMs: T0, state: state(byCountry, [1, 1]) },
    ]);
    control.pointer = { version: 1, cutoffMs: T0, publishedAt: iso(T0), previous: null };
    const res = await query('by_country', { 'geo.country': 'DE', page: '/home', ...range });
    expect(res.body.key).toEqual({ 'geo.country': 'DE', page: '/home' });
    expect(res.body.buckets).toEqual([{ start: iso(T0), measures: { n: 2 } }]);
  });
});

describe('queryView: a publish and its deletion during a query (ADR 028)', () => {
  // A publish deletes the speed rows its cutoff covers right after the flip. Whenever that lands
  // among a query's reads, the answer holds every event once: the rows are read before the pointer.
  it.each([0, 1, 2, 3, 4])(
    'is exact when the publish lands before store call %i of the query',
    async (at) => {
      const s = setup();
      const cutoff = T0 + 5 * MIN;
      const next = T0 + 8 * MIN;
      await s.batch.writeCells(3, clicks, [
        { key: ['/home'], bucketMs: T0, state: state(clicks, [1, 2, 3]) },
        { key: ['/home'], bucketMs: T0 + MIN, state: state(clicks, [10]) },
      ]);
      // Version 4 holds what arrived up to its cutoff too.
      await s.batch.writeCells(4, clicks, [
        { key: ['/home'], bucketMs: T0, state: state(clicks, [1, 2, 3, 100]) },
        { key: ['/home'], bucketMs: T0 + MIN, state: state(clicks, [10]) },
        { key: ['/home'], bucketMs: T0 + 3 * MIN, state: state(clicks, [7, 8]) },
      ]);
      s.control.pointer = { version: 3, cutoffMs: cutoff, publishedAt: iso(cutoff + MIN), previous: null };
      const row = (bucketMs: number, arrivalBucketMs: number, amounts: number[]) =>
        s.speed.seed({ view: 'clicks', key: ['/home'], bucketMs, arrivalBucketMs }, state(clicks, amounts));
      row(T0, cutoff, [100]);
      row(T0 + 3 * MIN, cutoff + 2 * MIN, [7, 8]);
      row(T0 + 3 * MIN, next, [5]); // after both cutoffs: speed only

      let calls = 0;
      const publishAt = async () => {
        if (calls++ !== at) return;
        s.control.pointer = {
          version: 4,
          cutoffMs: next,
          publishedAt: iso(next + MIN),
          previous: { version: 3, cutoffMs: cutoff },
        };
        await s.speed.deleteArrivedBefore(next);
      };
      const deps: QueryDeps = {
        views,
        clock: new ManualClock(T0 + 30 * MIN),
        arrivalBucketMs: ARRIVAL_BUCKET_MS,
        speed: Object.assign(Object.create(s.speed) as InMemorySpeedRowStore, {
          query: async (...args: Parameters<InMemorySpeedRowStore['query']>) => {
            await publishAt();
            return s.speed.query(...args);
          },
        }),
        control: {
          readPointer: async () => {
            await publishAt();
            return s.control.readPointer();
          },
          publish: () => Promise.reject(new Error('not used')),
          nextVersion: () => Promise.reject(new Error('not used')),
        },
        batch: Object.assign(Object.create(s.batch) as InMemoryBatchViewStore, {
          query: async (...args: Parameters<InMemoryBatchViewStore['query']>) => {
            await publishAt();
            return s.batch.query(...args);
          },
        }),
      };
      const result = await queryView('clicks', { page: '/home', ...range }, deps);
      expect(result.status).toBe(200);
      expect((result.body as Body).buckets).toEqual([
        { start: iso(T0), measures: { n: 4, amount: 106 } },
        { start: iso(T0 + MIN), measures: { n: 1, amount: 10 } },
        { start: iso(T0 + 3 * MIN), measures: { n: 3, amount: 20 } },
      ]);
    },
  );
});

describe('queryView: default range', () => {
  it('serves the 24 hours up to the end of the current bucket', async () => {
    const now = T0 + 30 * MIN + 12_345; // 12:30:12.345
    const { speed, query } = setup(now);
    const row = (bucketMs: number) =>
      speed.seed({ view: 'clicks', key: ['/home'], bucketMs, arrivalBucketMs: bucketMs }, state(clicks, [1]));
    const end = T0 + 31 * MIN;
    row(end - 24 * 60 * MIN - MIN); // just before the range
    row(end - 24 * 60 * MIN); // the first bucket of the range
    row(T0 + 30 * MIN); // the current bucket
    const res = await query('clicks', { page: '/home' });
    expect(res.status).toBe(200);
    expect(res.body.from).toBe('2026-01-30T12:31:00.000Z');
    expect(res.body.to).toBe('2026-01-31T12:31:00.000Z');
    expect(res.body.buckets?.map((b) => b.start)).toEqual([
      '2026-01-30T12:31:00.000Z',
      '2026-01-31T12:30:00.000Z',
    ]);
  });

  it('takes the default from as 24 hours before a given to', async () => {
    const { query } = setup();
    const res = await query('clicks', { page: '/home', to: '2026-01-31T00:00:00Z' });
    expect(res.body).toMatchObject({
      from: '2026-01-30T00:00:00.000Z',
      to: '2026-01-31T00:00:00.000Z',
      buckets: [],
    });
  });
});

describe('queryView: a view whose definition is not the one the published batch version was computed with', () => {
  // Found by a black-box check: after a restart with a changed views module, the batch cells of
  // the old definition (another bucket width, another measure field) were served under the new
  // one until the next batch run recomputed the view.
  const [changed] = validateViews([
    {
      name: 'clicks',
      eventType: 'click',
      key: ['page'],
      granularity: '1h', // was 1m
      measures: { n: { kind: 'count' }, amount: { kind: 'sum', field: 'amount' } },
    },
  ]);
  const [added] = validateViews([
    {
      name: 'added',
      eventType: 'click',
      key: ['page'],
      granularity: '1m',
      measures: { n: { kind: 'count' } },
    },
  ]);

  async function published(servingViews: readonly ViewDefinition[]) {
    const s = setup();
    await s.batch.writeCells(3, clicks, [
      { key: ['/home'], bucketMs: T0 + MIN, state: state(clicks, [1, 2]) },
    ]);
    s.control.pointer = {
      version: 3,
      cutoffMs: T0 + 5 * MIN,
      publishedAt: iso(T0 + 6 * MIN),
      previous: null,
      lineage: nextLineage(undefined, null, 3, views, new Set(views.map((v) => v.name))),
    };
    const deps: QueryDeps = {
      views: servingViews,
      batch: s.batch,
      speed: s.speed,
      control: s.control,
      clock: new ManualClock(T0 + 30 * MIN),
      arrivalBucketMs: ARRIVAL_BUCKET_MS,
    };
    return async (view: string) => {
      const result = await queryView(view, { page: '/home', ...range }, deps);
      return { status: result.status, body: result.body as Body };
    };
  }

  it('answers 409 for a changed view until a batch run recomputes it, never the old cells', async () => {
    const query = await published([changed, byCountry]);
    const res = await query('clicks');
    expect(res.status).toBe(409);
    expect(res.body.error).toBe(
      'view "clicks" changed since batch version 3 was computed; the next batch run (POST /admin/batch) recomputes it from the archive',
    );
  });

  it('answers 409 for a view the published batch version does not hold yet', async () => {
    const query = await published([...views, added]);
    const res = await query('added');
    expect(res.status).toBe(409);
    expect(res.body.error).toBe(
      'view "added" is not in batch version 3 yet; the next batch run (POST /admin/batch) computes it from the archive',
    );
  });

  it('serves an unchanged view as before', async () => {
    const query = await published([...views, added]);
    const res = await query('clicks');
    expect(res.status).toBe(200);
    expect(res.body.buckets).toEqual([{ start: iso(T0 + MIN), measures: { n: 2, amount: 3 } }]);
  });
});
