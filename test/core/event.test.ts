import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  eventProblems,
  flattenEnvelope,
  fromArchiveLine,
  normalizeStreamRecord,
  PoisonRecordError,
  toArchiveLine,
  type StreamPosition,
} from '../../lambdas/core/event';
import { inexactNumberPaths } from '../../lambdas/core/json-numbers';
import {
  bucketStart,
  MAX_TIME_MS,
  parseDuration,
  parseTime,
  parseTimeGenerally,
  toIso,
} from '../../lambdas/core/time';
import { validateViews } from '../../lambdas/core/view';

const RUNS = { numRuns: 200 };

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
      basket: { kind: 'avg', field: 'items' },
      fastest: { kind: 'min', field: 'latency' },
      buyers: { kind: 'distinct', field: 'customer' },
    },
  },
  {
    name: 'visits',
    eventType: 'visit',
    key: 'page',
    granularity: '1h',
    measures: { n: { kind: 'count' } },
  },
]);
const ok = {
  type: 'order',
  time: '2026-11-24T10:00:00Z',
  shop: 's1',
  geo: { country: 'DE' },
  amount: 12.5,
  items: 3,
  latency: 0.25,
  customer: 'c1',
};
const T = Date.UTC(2026, 10, 24, 10, 0, 0);

const problemsOf = (raw: unknown) => eventProblems(raw, views).problems;
const fieldsOf = (raw: unknown) => problemsOf(raw).map((p) => p.field);
const messageOf = (raw: unknown, field: string) => problemsOf(raw).find((p) => p.field === field)?.message;

const position: StreamPosition = {
  shardId: 'shardId-000000000001',
  sequenceNumber: '49590338271490256608559692538361571095921575989136588818',
  partitionKey: 'pk',
  arrivedMs: 1_795_500_000_123,
};

describe('eventProblems: the envelope', () => {
  it('accepts a flat event and returns it with its time in epoch ms', () => {
    const checked = eventProblems(ok, views);
    expect(checked.problems).toEqual([]);
    expect(checked.flat).toEqual(ok);
    expect(checked.timeMs).toBe(T);
  });

  it('accepts events of types no view reads, whatever their fields', () => {
    expect(fieldsOf({ type: 'something.else', time: T, anything: [1, { a: 2 }], amount: 'x' })).toEqual([]);
    expect(fieldsOf({ type: 'orders', time: T })).toEqual([]); // not "order": the view does not read it
  });

  it.each([
    ['2026-11-24T10:00:00Z', T],
    ['2026-11-24T10:00Z', T],
    ['2026-11-24T12:00:00+02:00', T],
    ['2026-11-24T04:30:00-05:30', T],
    ['2026-11-24T12:00:00+0200', T],
    ['2026-11-24T10:00:00.5Z', T + 500],
    ['2026-11-24T10:00:00.123456789Z', T + 123],
    ['2024-02-29T00:00:00Z', Date.UTC(2024, 1, 29)],
    ['1970-01-01T00:00:00Z', 0],
    ['9999-12-31T23:59:59.999Z', MAX_TIME_MS],
    [T, T],
    [1e11, 1e11],
    [MAX_TIME_MS, MAX_TIME_MS],
  ])('accepts the time %j', (time, ms) => {
    const checked = eventProblems({ ...ok, time }, views);
    expect(checked.problems).toEqual([]);
    expect(checked.timeMs).toBe(ms);
  });

  it.each([
    ['an ISO time without zone', '2026-11-24T10:00:00', /must be ISO-8601 with a zone/],
    ['a date without time', '2026-11-24', /must be ISO-8601 with a zone/],
    ['a space instead of T', '2026-11-24 10:00:00Z', /must be ISO-8601 with a zone/],
    ['garbage', 'yesterday', /must be ISO-8601 with a zone.*given "yesterday"/],
    ['a number as text', '1795500000000', /must be ISO-8601/],
    ['the 13th month', '2026-13-01T00:00:00Z', /is not a valid date/],
    ['February 30th', '2026-02-30T00:00:00Z', /is not a valid date/],
    ['February 29th of a common year', '2100-02-29T00:00:00Z', /is not a valid date/],
    ['April 31st', '2026-04-31T00:00:00Z', /is not a valid date/],
    ['the 61st second', '2026-11-24T10:00:60Z', /is not a valid date/],
    ['a time before 1970', '1969-12-31T23:59:59Z', /is out of range 1970\.\.9999/],
    ['a time after 9999 once in UTC', '9999-12-31T23:30:00-01:00', /is out of range/],
    ['fractional epoch ms', 1.5, /must be an integer of epoch milliseconds \(given 1\.5\)/],
    ['fractional epoch ms near now', T + 0.5, /must be an integer of epoch milliseconds/],
    ['negative epoch ms', -1, /is out of range 1970\.\.9999 \(given -1\)/],
    ['epoch ms after 9999', MAX_TIME_MS + 1, /is out of range/],
    ['epoch seconds', 1_795_500_000, /looks like epoch seconds/],
    ['no time', undefined, /^is required$/],
    ['a null time', null, /^is required$/],
    ['a boolean time', true, /must be an ISO-8601 string or epoch milliseconds \(given boolean\)/],
    ['an object time', { s: 1 }, /given object/],
  ])('refuses %s', (_, time, message) => {
    expect(fieldsOf({ ...ok, time })).toEqual(['time']);
    expect(messageOf({ ...ok, time }, 'time')).toMatch(message);
  });

  it.each([
    ['a missing type', undefined],
    ['an empty type', ''],
    ['a numeric type', 7],
    ['a type of 257 characters', 'x'.repeat(257)],
  ])('refuses %s', (_, type) => {
    expect(fieldsOf({ ...ok, type })).toEqual(['type']);
    expect(messageOf({ ...ok, type }, 'type')).toMatch(
      /must be a non-empty string of at most 256 characters/,
    );
  });

  it('accepts a producer id of up to 256 characters, and refuses others', () => {
    expect(fieldsOf({ ...ok, id: 'x'.repeat(256) })).toEqual([]);
    for (const id of ['', 'x'.repeat(257), 42, null, { a: 1 }]) {
      expect(fieldsOf({ ...ok, id })).toEqual(['id']);
      expect(messageOf({ ...ok, id }, 'id')).toMatch(
        /must be a non-empty string of at most 256 characters when given/,
      );
    }
  });

  it.each(['_tm', '_am', '_shard', '_seq', '_pk', '_', '_private'])(
    'refuses the top-level field %s',
    (field) => {
      expect(fieldsOf({ ...ok, [field]: 1 })).toEqual([field]);
      expect(messageOf({ ...ok, [field]: 1 }, field)).toBe(
        'fields starting with "_" are reserved for the pipeline',
      );
    },
  );

  it('refuses text that is not valid Unicode (an unpaired surrogate), wherever it is', () => {
    expect(fieldsOf({ ...ok, note: 'a\ud800' })).toEqual(['note']);
    expect(fieldsOf({ ...ok, note: '\udc00b' })).toEqual(['note']);
    expect(fieldsOf({ ...ok, customer: '\ud83d' })).toEqual(['customer']);
    expect(fieldsOf({ ...ok, meta: { tags: ['fine', 'x\udfff'] } })).toEqual(['meta.tags[1]']);
    expect(fieldsOf({ ...ok, ['k\ud800']: 1 })).toEqual(['k\ud800']);
    expect(messageOf({ ...ok, note: '\ud800' }, 'note')).toMatch(/must be valid Unicode text/);
    // Paired surrogates are fine: 😀 is \ud83d\ude00.
    expect(fieldsOf({ ...ok, note: '😀 \ud83d\ude00', customer: '😀', meta: { '😀': ['é'] } })).toEqual([]);
  });

  it('refuses what is not a JSON object', () => {
    expect(problemsOf([ok])).toEqual([
      {
        index: 0,
        field: 'event',
        message: 'must be a JSON object; send several events as {"events": [...]}',
      },
    ]);
    for (const raw of ['x', 3, null, true]) {
      expect(problemsOf(raw)).toEqual([
        { index: 0, field: 'event', message: `must be a JSON object (given ${JSON.stringify(raw)})` },
      ]);
    }
  });

  it('never throws, whatever JSON it is given (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.jsonValue(),
          fc.record({ type: fc.constantFrom('order', 'visit'), time: fc.jsonValue() }),
          fc.dictionary(
            fc.constantFrom('type', 'time', 'shop', 'geo', 'amount', 'customer', 'specversion', 'data', 'id'),
            fc.jsonValue(),
          ),
        ),
        (raw) => {
          const { problems } = eventProblems(raw, views, 3);
          for (const p of problems) {
            expect(p.index).toBe(3);
            expect(p.message.length).toBeGreaterThan(0);
          }
        },
      ),
      RUNS,
    );
  });
});

describe('eventProblems: CloudEvents 1.0', () => {
  const cloud = {
    specversion: '1.0',
    id: 'ce-1',
    source: '/shop',
    subject: 'order/1',
    datacontenttype: 'application/json',
    type: 'order',
    time: '2026-11-24T11:00:00+01:00',
    data: { shop: 's1', geo: { country: 'FR' }, amount: 3, type: 'ignored', id: 'ignored too' },
  };

  it('flattens data onto the top level and keeps id, type and time from the envelope', () => {
    const checked = eventProblems(cloud, views);
    expect(checked.problems).toEqual([]);
    expect(checked.flat).toEqual({
      shop: 's1',
      geo: { country: 'FR' },
      amount: 3,
      type: 'order',
      time: '2026-11-24T11:00:00+01:00',
      id: 'ce-1',
    });
    expect(checked.timeMs).toBe(T);
  });

  it("reads data's fields only: the envelope's source, subject and extensions are not fields (README)", () => {
    expect(
      flattenEnvelope({
        ...cloud,
        source: '/shop',
        subject: 'x',
        k: 'top',
        data: { shop: 's1', k: 'inner' },
      }),
    ).toEqual({ shop: 's1', k: 'inner', type: 'order', time: cloud.time, id: 'ce-1' });
    expect(flattenEnvelope({ ...cloud, k: 'top', data: { shop: 's1' } })).not.toHaveProperty('k');
  });

  it('leaves the id out when the envelope has none, and reads no data as no fields', () => {
    const { id: _id, ...withoutId } = cloud;
    expect(flattenEnvelope({ ...withoutId, data: { shop: 's1' } })).not.toHaveProperty('id');
    expect(flattenEnvelope({ specversion: '1.0', type: 'visit', time: T })).toEqual({
      type: 'visit',
      time: T,
    });
    expect(fieldsOf({ specversion: '1.0', type: 'visit', time: T })).toEqual(['page']);
  });

  it("drops data's id when the envelope has none: unrelated events must not become copies of each other", () => {
    const { id: _id, ...withoutId } = cloud;
    const a = eventProblems({ ...withoutId, data: { shop: 'a', geo: { country: 'FR' }, id: 'same' } }, views);
    const b = eventProblems({ ...withoutId, data: { shop: 'b', geo: { country: 'FR' }, id: 'same' } }, views);
    expect(a.problems).toEqual([]);
    expect(a.flat).not.toHaveProperty('id');
    expect(b.flat).not.toHaveProperty('id');
  });

  it('returns flat events unchanged', () => {
    expect(flattenEnvelope(ok)).toBe(ok);
  });

  it('checks the data fields like flat ones', () => {
    expect(fieldsOf({ ...cloud, data: { ...cloud.data, shop: null, amount: '3', _x: 1 } })).toEqual([
      '_x',
      'shop',
      'amount', // read by the sum "revenue"
      'amount', // and by the max "top": each complaint names its measure
    ]);
  });

  it.each([
    [
      'another specversion',
      { ...cloud, specversion: '0.3' },
      'specversion',
      /must be "1.0" for CloudEvents \(given "0.3"\)/,
    ],
    ['data that is text', { ...cloud, data: 'text' }, 'data', /must be a JSON object when given/],
    ['data that is an array', { ...cloud, data: [1] }, 'data', /must be a JSON object/],
    ['no time', { ...cloud, time: undefined }, 'time', /is required/],
    ['no type', { ...cloud, type: undefined }, 'type', /must be a non-empty string/],
  ])('refuses %s', (_, raw, field, message) => {
    expect(fieldsOf(raw)).toContain(field);
    expect(messageOf(raw, field)).toMatch(message);
  });
});

describe('eventProblems: only the views an event feeds', () => {
  const filtered = validateViews([
    {
      name: 'paid',
      eventType: 'order',
      key: 'shop',
      granularity: '1m',
      where: { status: 200 },
      measures: { revenue: { kind: 'sum', field: 'amount' } },
    },
  ]);
  const order = { type: 'order', time: '2026-11-24T10:00:00Z' };

  it("checks an event the view's where admits against the view's rules", () => {
    expect(
      eventProblems({ ...order, status: 200, amount: '12.50' }, filtered).problems.map((p) => p.field),
    ).toEqual(['shop', 'amount']);
  });

  it("accepts an event the view's where leaves out, whatever the fields the view would read", () => {
    for (const status of [500, '200', undefined])
      expect(eventProblems({ ...order, status, amount: '12.50' }, filtered).problems).toEqual([]);
  });
});

describe('eventProblems: the fields the views read', () => {
  it.each([
    ['a missing key field', { shop: undefined }, 'shop', /is required by view "orders" \(its key\)/],
    ['a null key field', { shop: null }, 'shop', /is required by view "orders"/],
    ['a missing nested key field', { geo: {} }, 'geo.country', /is required by view "orders"/],
    ['a nested key under a non-object', { geo: 'DE' }, 'geo.country', /is required by view "orders"/],
    [
      'an object as key',
      { shop: { a: 1 } },
      'shop',
      /must be a string, a boolean or an integer within ±\(2\^53 − 1\): it is part of view "orders"'s key \(given \{"a":1\}\)/,
    ],
    ['an array as key', { shop: ['a'] }, 'shop', /part of view "orders"'s key/],
    ['a float as key', { shop: 1.5 }, 'shop', /part of view "orders"'s key \(given 1\.5\)/],
    ['an unsafe integer as key', { shop: 2 ** 53 }, 'shop', /part of view "orders"'s key/],
    [
      'a text amount',
      { amount: '12' },
      'amount',
      /must be a number for view "orders" measure "revenue" \(sum\) \(given "12"\)/,
    ],
    ['a boolean amount', { amount: true }, 'amount', /must be a number/],
    [
      'an amount with 10 decimals',
      { amount: 0.1234567891 },
      'amount',
      /has more than 9 digits after the decimal point .*measure "revenue" \(sum\)/,
    ],
    ['an amount of 1e18', { amount: 1e18 }, 'amount', /must be smaller than 1e18 in magnitude/],
    ['an amount of -1e18', { amount: -1e18 }, 'amount', /must be smaller than 1e18/],
    ['an amount of 1e21', { amount: 1e21 }, 'amount', /must be smaller than 1e18/],
    [
      'an amount of 1.5e-10 (10 decimals in exponent form)',
      { amount: 1.5e-10 },
      'amount',
      /more than 9 digits after the decimal point \(given 1.5e-10\)/,
    ],
    ['an avg value with 10 decimals', { items: 1.0000000001 }, 'items', /measure "basket" \(avg\)/],
    [
      'a text min value',
      { latency: '5' },
      'latency',
      /must be a number for view "orders" measure "fastest" \(min\)/,
    ],
    [
      'an object to count distinct',
      { customer: { id: 1 } },
      'customer',
      /must be a string, a boolean or an integer within ±\(2\^53 − 1\) for view "orders" measure "buyers" \(distinct\)/,
    ],
    [
      'a float to count distinct',
      { customer: 0.5 },
      'customer',
      /measure "buyers" \(distinct\) \(given 0\.5\)/,
    ],
    ['an array to count distinct', { customer: [1] }, 'customer', /measure "buyers"/],
  ])('refuses %s, naming the field and the view', (_, change, field, message) => {
    const raw = { ...ok, ...change };
    expect(new Set(fieldsOf(raw))).toEqual(new Set([field]));
    expect(messageOf(raw, field)).toMatch(message);
  });

  it.each([
    ['a boolean key', { shop: true }],
    ['an integer key', { shop: -42 }],
    ['the largest safe integer as key', { shop: Number.MAX_SAFE_INTEGER }],
    ['an empty text key', { shop: '' }],
    ['no measured fields at all', { amount: undefined, items: null, latency: undefined, customer: null }],
    ['9 decimals', { amount: 0.123456789 }],
    ['just under 1e18', { amount: 999_999_999_999_999_900 / 1000 }],
    ['a min value with many decimals (min and max are doubles)', { latency: 0.12345678901234 }],
    ['a tiny min value', { latency: 1e-300 }],
    ['an integer or boolean to count distinct', { customer: 7 }],
    ['a boolean to count distinct', { customer: false }],
    ['an amount of 1e-7 (7 decimals, printed in exponent form)', { amount: 1e-7 }],
    ['an amount of 0.000000001', { amount: 0.000000001 }],
    ['an amount of -0.000000001', { amount: -0.000000001 }],
    ['an amount of 1.23e-7', { amount: 1.23e-7 }],
    ['a key of 1,000 bytes as stored', { shop: 'x'.repeat(1024 - '["","DE"]'.length) }],
  ])('accepts %s', (_, change) => {
    expect(problemsOf({ ...ok, ...change })).toEqual([]);
  });

  it.each([
    ['3,000 ASCII characters', 'x'.repeat(3000)],
    ['one byte over the limit as stored', 'x'.repeat(1025 - '["","DE"]'.length)],
    ['600 three-byte characters (1,800 bytes)', '\u20ac'.repeat(600)],
    ['quotes that JSON escapes (2 bytes each as stored)', '"'.repeat(520)],
  ])('refuses a key that cannot be stored: %s', (_, shop) => {
    const problems = problemsOf({ ...ok, shop });
    expect(problems.map((p) => p.field)).toEqual(['shop,geo.country']);
    expect(problems[0].message).toMatch(/view "orders"'s key \d+ bytes long as stored .* the limit is 1024/);
  });

  it('refuses a summed number with more significant digits than a double holds, found in the JSON text', () => {
    const text =
      '{"type":"order","time":"2026-11-24T10:00:00Z","shop":"s1","geo":{"country":"DE"},"amount":123456789.123456789,"latency":0.12345678901234567}';
    const { problems } = eventProblems(JSON.parse(text), views, 0, inexactNumberPaths(text));
    // amount is summed (refused); latency is a min (a double, as in every layer: accepted).
    expect(problems.map((p) => p.field)).toEqual(['amount']);
    expect(problems[0].message).toMatch(
      /more significant digits than a double holds .* measure "revenue" \(sum\)/,
    );
  });

  it("finds inexact numbers below a CloudEvent's data", () => {
    const text =
      '{"specversion":"1.0","id":"c1","type":"order","time":"2026-11-24T10:00:00Z","data":{"shop":"s1","geo":{"country":"DE"},"amount":1.00000000000000001}}';
    const { problems } = eventProblems(JSON.parse(text), views, 0, inexactNumberPaths(text));
    expect(problems.map((p) => p.field)).toEqual(['amount']);
  });

  it('reads a field named like an Object method only when the event has it', () => {
    const [view] = validateViews([
      {
        name: 'odd',
        eventType: 'odd',
        key: 'constructor',
        granularity: '1m',
        measures: { n: { kind: 'count' }, s: { kind: 'sum', field: 'valueOf' } },
      },
    ]);
    expect(eventProblems({ type: 'odd', time: T }, [view]).problems.map((p) => p.message)).toEqual([
      'is required by view "odd" (its key)',
    ]);
    expect(eventProblems({ type: 'odd', time: T, constructor: 'c' }, [view]).problems).toEqual([]);
  });

  it('checks the key only for the views that read the event type', () => {
    expect(fieldsOf({ type: 'visit', time: T })).toEqual(['page']);
    expect(messageOf({ type: 'visit', time: T }, 'page')).toMatch(/view "visits"/);
    expect(fieldsOf({ type: 'visit', time: T, page: '/', amount: 'x', shop: {} })).toEqual([]);
  });

  it('reports every problem of an event at once, with the index given and each field', () => {
    const raw = {
      type: 'order',
      time: 'x',
      id: '',
      _seq: 1,
      geo: { country: 1.5 },
      amount: 'y',
      customer: {},
    };
    const { problems, timeMs } = eventProblems(raw, views, 7);
    expect(timeMs).toBeUndefined();
    expect(problems.map((p) => [p.index, p.field])).toEqual([
      [7, 'time'],
      [7, 'id'],
      [7, '_seq'],
      [7, 'shop'],
      [7, 'geo.country'],
      [7, 'amount'],
      [7, 'amount'],
      [7, 'customer'],
    ]);
    // amount is read by a sum and a max: one complaint per measure, each naming it.
    const amount = problems.filter((p) => p.field === 'amount').map((p) => p.message);
    expect(amount[0]).toMatch(/view "orders" measure "revenue" \(sum\)/);
    expect(amount[1]).toMatch(/view "orders" measure "top" \(max\)/);
  });
});

describe('normalizeStreamRecord', () => {
  it('throws PoisonRecordError for data that is not JSON, naming the record', () => {
    for (const data of ['not json', '{"type":', '', '\u0000']) {
      let thrown: unknown;
      try {
        normalizeStreamRecord(data, position, views);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(PoisonRecordError);
      expect((thrown as PoisonRecordError).message).toContain(
        `record ${position.shardId}/${position.sequenceNumber} is not JSON`,
      );
      expect((thrown as PoisonRecordError).problems).toEqual([]);
    }
  });

  it('throws PoisonRecordError with the problems of an invalid event', () => {
    let thrown: unknown;
    try {
      normalizeStreamRecord(JSON.stringify({ ...ok, amount: 'x', time: 'later' }), position, views);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(PoisonRecordError);
    const poison = thrown as PoisonRecordError;
    expect(poison.name).toBe('PoisonRecordError');
    expect(poison.message).toMatch(/is invalid: time must be ISO-8601.*; amount must be a number/);
    expect(poison.problems.map((p) => p.field)).toEqual(['time', 'amount', 'amount']);
    expect(() => normalizeStreamRecord('[1]', position, views)).toThrow(PoisonRecordError);
    expect(() =>
      normalizeStreamRecord('{"type":"x","time":1795500000000,"v":"\\ud800"}', position, views),
    ).toThrow(/v must be valid Unicode text/);
  });

  it('gives an event without id the id <shardId>:<sequenceNumber>, the same on every delivery', () => {
    const a = normalizeStreamRecord(JSON.stringify(ok), position, views);
    const b = normalizeStreamRecord(
      JSON.stringify(ok),
      { ...position, arrivedMs: position.arrivedMs + 5 },
      views,
    );
    expect(a.id).toBe('shardId-000000000001:49590338271490256608559692538361571095921575989136588818');
    expect(a.body.id).toBe(a.id);
    expect(b.id).toBe(a.id);
  });

  it('keeps a producer id and the stream position, and normalizes the times in the body', () => {
    const event = normalizeStreamRecord(
      JSON.stringify({
        ...ok,
        id: 'mine',
        time: '2026-11-24T11:00:00+01:00',
        ingestedAt: '2026-11-24T10:00:01.000Z',
      }),
      position,
      views,
    );
    expect(event).toEqual({
      id: 'mine',
      type: 'order',
      timeMs: T,
      arrivedMs: position.arrivedMs,
      shardId: position.shardId,
      seq: position.sequenceNumber,
      partitionKey: 'pk',
      body: {
        ...ok,
        id: 'mine',
        time: '2026-11-24T10:00:00.000Z',
        ingestedAt: '2026-11-24T10:00:01.000Z',
        arrivedAt: toIso(position.arrivedMs),
      },
    });
  });

  it('carries a CloudEvent as its flat shape', () => {
    const event = normalizeStreamRecord(
      JSON.stringify({
        specversion: '1.0',
        id: 'ce',
        source: '/s',
        type: 'visit',
        time: T,
        data: { page: '/p' },
      }),
      position,
      views,
    );
    expect(event.id).toBe('ce');
    expect(event.body).toEqual({
      page: '/p',
      type: 'visit',
      time: toIso(T),
      id: 'ce',
      arrivedAt: toIso(position.arrivedMs),
    });
  });
});

describe('archive lines', () => {
  const extraArb = fc.dictionary(
    fc
      .string({ minLength: 1, maxLength: 8 })
      .filter((k) => !k.startsWith('_') && !['id', 'type', 'time', 'arrivedAt', '__proto__'].includes(k)),
    fc.jsonValue({ maxDepth: 2 }),
    { maxKeys: 5 },
  );

  it('round-trip: fromArchiveLine(toArchiveLine(e)) is e (property)', () => {
    fc.assert(
      fc.property(
        extraArb,
        fc.option(fc.string({ minLength: 1, maxLength: 20 }), { nil: undefined }),
        fc.record({
          shardId: fc.string({ minLength: 1, maxLength: 30 }),
          sequenceNumber: fc.stringMatching(/^[1-9][0-9]{0,128}$/),
          partitionKey: fc.string({ maxLength: 30 }),
          arrivedMs: fc.integer({ min: 0, max: MAX_TIME_MS }),
        }),
        fc.integer({ min: 1e11, max: MAX_TIME_MS }),
        (extra, id, where, timeMs) => {
          const raw = { ...extra, ...ok, time: timeMs, ...(id === undefined ? {} : { id }) };
          const event = normalizeStreamRecord(JSON.stringify(raw), where, views);
          const line = toArchiveLine(event);
          expect(line).not.toContain('\n');
          expect(fromArchiveLine(line)).toEqual(event);
        },
      ),
      RUNS,
    );
  });

  it('holds the columns the batch SQL reads', () => {
    const event = normalizeStreamRecord(JSON.stringify(ok), position, views);
    expect(JSON.parse(toArchiveLine(event))).toMatchObject({
      _tm: T,
      _am: position.arrivedMs,
      _shard: position.shardId,
      _seq: position.sequenceNumber,
      _pk: 'pk',
      type: 'order',
      shop: 's1',
    });
  });

  it('refuses a line without the stream columns', () => {
    expect(() => fromArchiveLine(JSON.stringify({ ...ok, _am: 1, _shard: 's', _seq: '1' }))).toThrow(
      /archive line lacks _tm\/_am\/_shard\/_seq/,
    );
    expect(() => fromArchiveLine(JSON.stringify({ ...ok, _tm: 1, _am: 1, _shard: 's', _seq: 1 }))).toThrow(
      /lacks/,
    );
    expect(
      fromArchiveLine(JSON.stringify({ ...ok, _tm: 1, _am: 1, _shard: 's', _seq: '1' })).partitionKey,
    ).toBe('');
  });
});

describe('time helpers', () => {
  it('put a time on a bucket boundary in the bucket starting there', () => {
    expect(bucketStart(T, 60_000)).toBe(T);
    expect(bucketStart(T - 1, 60_000)).toBe(T - 60_000);
    expect(bucketStart(T + 59_999, 60_000)).toBe(T);
    expect(bucketStart(0, 86_400_000)).toBe(0);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: MAX_TIME_MS }),
        fc.constantFrom(60_000, 300_000, 900_000, 3_600_000, 86_400_000),
        (t, w) => {
          const start = bucketStart(t, w);
          expect(start % w).toBe(0);
          expect(start <= t && t < start + w).toBe(true);
        },
      ),
      RUNS,
    );
  });

  it('parse and print times', () => {
    expect(parseTime('2026-11-24T10:00:00Z')).toBe(T);
    expect(toIso(T)).toBe('2026-11-24T10:00:00.000Z');
  });

  it('print every time as Date does, whatever the order of the seconds (toIso keeps two)', () => {
    // Seconds close together, so the cached seconds are hit, missed and swapped in every order.
    const stamp = fc.oneof(
      fc.integer({ min: T - 3_000, max: T + 3_000 }),
      fc.integer({ min: -8.64e15, max: 8.64e15 }),
      fc.double({ min: T - 3_000, max: T + 3_000, noNaN: true }),
    );
    fc.assert(
      fc.property(fc.array(stamp, { maxLength: 40 }), (stamps) => {
        for (const ms of stamps) expect(toIso(ms)).toBe(new Date(ms).toISOString());
      }),
      RUNS,
    );
  });

  it('read durations and name the option when malformed', () => {
    expect(parseDuration('500ms', 'x')).toBe(500);
    expect(parseDuration(' 10s ', 'x')).toBe(10_000);
    expect(parseDuration('5m', 'x')).toBe(300_000);
    expect(parseDuration('1h', 'x')).toBe(3_600_000);
    expect(parseDuration('2d', 'x')).toBe(172_800_000);
    for (const text of ['', '5', '1.5h', '-1s', '1w', 'ms']) {
      expect(() => parseDuration(text, '--cutoff-lag')).toThrow(/--cutoff-lag must be a duration like/);
    }
  });
});

describe('parseTime: the hand-read canonical form', () => {
  const two = (n: number) => String(n).padStart(2, '0');
  it('answers as the general path does, for valid and invalid dates alike', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.integer({ min: 1890, max: 2110 }), fc.constantFrom(0, 1969, 1970, 2000, 2100, 9999)),
        fc.integer({ min: 0, max: 13 }),
        fc.integer({ min: 0, max: 32 }),
        fc.integer({ min: 0, max: 25 }),
        fc.integer({ min: 0, max: 61 }),
        fc.integer({ min: 0, max: 61 }),
        fc.integer({ min: 0, max: 999 }),
        (year, month, day, hour, minute, second, ms) => {
          const text = `${String(year).padStart(4, '0')}-${two(month)}-${two(day)}T${two(hour)}:${two(minute)}:${two(second)}.${String(ms).padStart(3, '0')}Z`;
          expect(parseTime(text)).toEqual(parseTimeGenerally(text));
          const parsed = parseTime(text);
          if (typeof parsed === 'number') expect(parsed).toBe(Date.parse(text));
        },
      ),
      { numRuns: 2000 },
    );
    // Every instant toIso prints reads back as itself.
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_TIME_MS }), (t) => {
        expect(parseTime(toIso(t))).toBe(t);
        expect(parseTimeGenerally(toIso(t))).toBe(t);
      }),
      RUNS,
    );
  });

  it('leaves other forms to the general path', () => {
    for (const text of [
      '2026-11-24T10:00:00.000+00:00',
      '2026-11-24T10:00:00Z',
      '2026-11-24t10:00:00.000Z',
      '2026-11-24T10:00:00.000z',
      '２026-11-24T10:00:00.000Z',
      '2026-02-29T10:00:00.000Z',
      '2024-02-29T24:00:00.000Z',
    ]) {
      expect(parseTime(text)).toEqual(parseTimeGenerally(text));
    }
  });
});
