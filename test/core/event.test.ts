import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  eventProblems,
  fromArchiveLine,
  normalizeStreamRecord,
  PoisonRecordError,
  toArchiveLine,
} from '../../lambdas/core/event';
import { validateViews } from '../../lambdas/core/view';

const views = validateViews([
  {
    name: 'orders',
    eventType: 'order',
    key: ['shop', 'geo.country'],
    granularity: '1m',
    measures: {
      n: { kind: 'count' },
      revenue: { kind: 'sum', field: 'amount' },
      top: { kind: 'max', field: 'amount' },
      buyers: { kind: 'distinct', field: 'customer' },
    },
  },
]);
const ok = {
  type: 'order',
  time: '2026-11-24T10:00:00Z',
  shop: 's1',
  geo: { country: 'DE' },
  amount: 12.5,
  customer: 'c1',
};
const fields = (raw: unknown) => eventProblems(raw, views).problems.map((p) => p.field);
const position = {
  shardId: 'shardId-000000000001',
  sequenceNumber: '49590338271490256608559692538361571095921575989136588818',
  partitionKey: 'pk',
  arrivedMs: 1_795_500_000_123,
};

describe('event validation', () => {
  it('accepts flat events, epoch ms times and events no view reads', () => {
    expect(fields(ok)).toEqual([]);
    expect(fields({ ...ok, time: 1_795_500_000_000 })).toEqual([]);
    expect(
      fields({ type: 'something.else', time: '2026-11-24T10:00:00+02:00', anything: [1, { a: 2 }] }),
    ).toEqual([]);
  });

  it('maps CloudEvents 1.0 onto the flat shape', () => {
    const cloud = {
      specversion: '1.0',
      id: 'ce-1',
      source: '/shop',
      type: 'order',
      time: '2026-11-24T10:00:00Z',
      data: { shop: 's1', geo: { country: 'FR' }, amount: 3 },
    };
    const checked = eventProblems(cloud, views);
    expect(checked.problems).toEqual([]);
    expect(checked.flat).toMatchObject({ id: 'ce-1', type: 'order', shop: 's1', amount: 3 });
    expect(fields({ ...cloud, specversion: '0.3' })).toContain('specversion');
    expect(fields({ ...cloud, data: 'text' })).toContain('data');
  });

  it.each([
    ['no type', { ...ok, type: undefined }, 'type'],
    ['a time without zone', { ...ok, time: '2026-11-24T10:00:00' }, 'time'],
    ['a time that is text', { ...ok, time: 'yesterday' }, 'time'],
    ['a fractional epoch time', { ...ok, time: 1.5 }, 'time'],
    ['a time before 1970', { ...ok, time: -1 }, 'time'],
    ['epoch seconds instead of milliseconds', { ...ok, time: 1_795_500_000 }, 'time'],
    ['a missing key field', { ...ok, shop: undefined }, 'shop'],
    ['a null key field', { ...ok, shop: null }, 'shop'],
    ['an object as key', { ...ok, shop: { a: 1 } }, 'shop'],
    ['a float as key', { ...ok, shop: 1.5 }, 'shop'],
    ['a missing nested key', { ...ok, geo: {} }, 'geo.country'],
    ['a text amount', { ...ok, amount: '12' }, 'amount'],
    ['an amount with 10 decimals', { ...ok, amount: 0.1234567891 }, 'amount'],
    ['an amount of 1e18', { ...ok, amount: 1e18 }, 'amount'],
    ['an amount in exponent form', { ...ok, amount: 1e-7 }, 'amount'],
    ['an object to count distinct', { ...ok, customer: { id: 1 } }, 'customer'],
    ['an empty id', { ...ok, id: '' }, 'id'],
    ['a reserved _field', { ...ok, _tm: 1 }, '_tm'],
  ])('refuses %s, naming the field', (_, raw, field) => {
    expect(fields(raw)).toContain(field);
  });

  it('refuses what is not an object', () => {
    expect(fields([ok])).toEqual(['event']);
    expect(fields('x')).toEqual(['event']);
  });

  it('reports every problem of an event at once, with its index', () => {
    const { problems } = eventProblems({ type: 'order', time: 'x', amount: 'y' }, views, 7);
    expect(problems.map((p) => [p.index, p.field])).toEqual(
      expect.arrayContaining([
        [7, 'time'],
        [7, 'shop'],
        [7, 'geo.country'],
        [7, 'amount'],
      ]),
    );
    // amount is read by two measures: reported once per distinct message, not per view
    expect(problems.filter((p) => p.field === 'amount').length).toBeLessThanOrEqual(2);
  });
});

describe('stream records', () => {
  it('gives a record without id the id <shard>:<sequence>, stable across deliveries', () => {
    const a = normalizeStreamRecord(JSON.stringify(ok), position, views);
    const b = normalizeStreamRecord(JSON.stringify(ok), position, views);
    expect(a.id).toBe(`${position.shardId}:${position.sequenceNumber}`);
    expect(b.id).toBe(a.id);
    expect(a.arrivedMs).toBe(position.arrivedMs);
    expect(a.body.time).toBe('2026-11-24T10:00:00.000Z');
  });

  it('keeps a producer id', () => {
    expect(normalizeStreamRecord(JSON.stringify({ ...ok, id: 'mine' }), position, views).id).toBe('mine');
  });

  it('throws PoisonRecordError for data that is not JSON or not valid', () => {
    expect(() => normalizeStreamRecord('not json', position, views)).toThrow(PoisonRecordError);
    expect(() => normalizeStreamRecord(JSON.stringify({ ...ok, amount: 'x' }), position, views)).toThrow(
      /amount must be a number/,
    );
  });

  it('round-trips through an archive line', () => {
    fc.assert(
      fc.property(
        fc.string(),
        fc.integer({ min: 0, max: 2 ** 40 }),
        fc.dictionary(fc.stringMatching(/^x[a-z]{0,4}$/), fc.jsonValue()),
        (shop, arrivedMs, extra) => {
          const raw = { ...extra, ...ok, shop };
          const event = normalizeStreamRecord(JSON.stringify(raw), { ...position, arrivedMs }, views);
          expect(fromArchiveLine(toArchiveLine(event))).toEqual(event);
        },
      ),
      { numRuns: 200 },
    );
  });
});
