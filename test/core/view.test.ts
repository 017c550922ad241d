import { describe, expect, it } from 'vitest';
import {
  avg,
  count,
  defineView,
  distinct,
  max,
  min,
  RESERVED_FIELDS,
  sum,
  validateView,
  validateViews,
  ViewDefinitionError,
  type ViewInput,
} from '../../lambdas/core/view';

const good = {
  name: 'page_views',
  eventType: 'page.view',
  key: ['page'],
  granularity: '1m',
  measures: { views: { kind: 'count' } },
};

/** The error a definition fails with (and that it is a ViewDefinitionError). */
function failure(input: unknown): string {
  try {
    validateViews([input]);
  } catch (error) {
    expect(error).toBeInstanceOf(ViewDefinitionError);
    return (error as Error).message;
  }
  throw new Error(`accepted ${JSON.stringify(input)}`);
}

describe('defineView', () => {
  it('accepts every measure helper and normalizes a single key to a list and no filter to {}', () => {
    const view = defineView({
      name: 'v1',
      eventType: 't',
      key: 'geo.country',
      granularity: '1h',
      measures: {
        n: count(),
        s: sum('amount'),
        lo: min('latency'),
        hi: max('latency'),
        mean: avg('amount'),
        u: distinct('user.id'),
      },
    });
    expect(view).toEqual({
      name: 'v1',
      eventType: 't',
      key: ['geo.country'],
      granularity: '1h',
      measures: {
        n: { kind: 'count' },
        s: { kind: 'sum', field: 'amount' },
        lo: { kind: 'min', field: 'latency' },
        hi: { kind: 'max', field: 'latency' },
        mean: { kind: 'avg', field: 'amount' },
        u: { kind: 'distinct', field: 'user.id' },
      },
      where: {},
    });
  });

  it('keeps a filter on strings, booleans and integers, and several key fields in order', () => {
    const view = defineView({
      name: 'mobile_by_country_2',
      eventType: 'click',
      key: ['geo.country', 'page'],
      granularity: '5m',
      where: { device: 'mobile', beta: false, status: 200, delta: -3 },
      measures: { n: count() },
    });
    expect(view.key).toEqual(['geo.country', 'page']);
    expect(view.where).toEqual({ device: 'mobile', beta: false, status: 200, delta: -3 });
  });

  it('accepts every granularity', () => {
    for (const granularity of ['1m', '5m', '15m', '1h', '1d'] as const) {
      expect(defineView({ ...good, granularity } as ViewInput).granularity).toBe(granularity);
    }
  });

  it('keeps eventType and where text with control characters, quotes and paired surrogates', () => {
    const text = 'it\'s \\ "q" \u0001\n\t\u2028 \ud83d\ude00 %_?$1';
    const view = defineView({
      name: 'v',
      eventType: text,
      key: 'k',
      granularity: '1m',
      measures: { n: count() },
      where: { s: text },
    });
    expect([view.eventType, view.where.s]).toEqual([text, text]);
  });

  it('allows fields that only resemble the reserved ones', () => {
    const view = validateView({
      ...good,
      key: ['idx', 'types', 'geo.time', 'timeZone'],
      measures: { n: count(), s: sum('ids.total') },
      where: { typeName: 'x' },
    });
    expect(view.key).toEqual(['idx', 'types', 'geo.time', 'timeZone']);
  });

  it('returns a frozen definition that survives JSON (env vars, the CDK app)', () => {
    const view = validateView(good);
    expect(Object.isFrozen(view)).toBe(true);
    expect(Object.isFrozen(view.key)).toBe(true);
    expect(Object.isFrozen(view.measures)).toBe(true);
    expect(Object.isFrozen(view.where)).toBe(true);
    const views = validateViews([good, { ...good, name: 'other' }]);
    expect(validateViews(JSON.parse(JSON.stringify(views)))).toEqual(views);
    expect(views.map((v) => v.name)).toEqual(['page_views', 'other']);
  });
});

describe('malformed views fail with a message naming the view and the field', () => {
  const cases: [string, unknown, string[]][] = [
    // [what, definition, fragments the message must hold]
    [
      'an unknown measure kind',
      { ...good, measures: { p: { kind: 'median', field: 'x' } } },
      ['measure "p"', 'unknown kind "median"'],
    ],
    [
      'a measure kind in upper case',
      { ...good, measures: { p: { kind: 'COUNT' } } },
      ['measure "p"', '"COUNT"'],
    ],
    ['a measure that is a string', { ...good, measures: { p: 'count' } }, ['measure "p"', 'unknown kind']],
    ['a measure that is null', { ...good, measures: { p: null } }, ['measure "p"', 'unknown kind']],
    [
      'count with a field',
      { ...good, measures: { n: { kind: 'count', field: 'x' } } },
      ['measure "n"', 'count() takes no field'],
    ],
    [
      'sum without a field',
      { ...good, measures: { s: { kind: 'sum' } } },
      ['measure "s" (sum)', 'must be a field path'],
    ],
    [
      'distinct with a numeric field',
      { ...good, measures: { u: { kind: 'distinct', field: 3 } } },
      ['measure "u" (distinct)', 'given 3'],
    ],
    ['no measures', { ...good, measures: {} }, ['measures must declare at least one measure']],
    ['measures as an array', { ...good, measures: [{ kind: 'count' }] }, ['measures must declare']],
    ['measures missing', { ...good, measures: undefined }, ['measures must declare']],
    [
      'a measure name with a digit first',
      { ...good, measures: { '1x': { kind: 'count' } } },
      ['measure name "1x"'],
    ],
    [
      'a measure name with a dash',
      { ...good, measures: { 'a-b': { kind: 'count' } } },
      ['measure name "a-b"'],
    ],
    [
      'a measure name with an underscore first',
      { ...good, measures: { _x: { kind: 'count' } } },
      ['measure name "_x"'],
    ],
    ['an empty measure name', { ...good, measures: { '': { kind: 'count' } } }, ['measure name ""']],
    ['an empty key', { ...good, key: [] }, ['key must name one or more event fields', 'given []']],
    ['no key', { ...good, key: undefined }, ['key must name one or more event fields']],
    ['an empty key field', { ...good, key: '' }, ['key must be a field path', 'given ""']],
    ['a key that is a number', { ...good, key: [5] }, ['key must be a field path', 'given 5']],
    [
      'a duplicate key field',
      { ...good, key: ['page', 'geo.country', 'page'] },
      ['key lists a field twice', 'page, geo.country, page'],
    ],
    [
      'an unknown granularity',
      { ...good, granularity: '2m' },
      ['granularity must be one of 1m, 5m, 15m, 1h, 1d', 'given "2m"'],
    ],
    ['a granularity in upper case', { ...good, granularity: '1H' }, ['granularity', 'given "1H"']],
    ['a granularity in ms', { ...good, granularity: 60000 }, ['granularity', 'given 60000']],
    ['an empty eventType', { ...good, eventType: '' }, ['eventType must be a non-empty string']],
    ['no eventType', { ...good, eventType: undefined }, ['eventType must be a non-empty string']],
    [
      'an unknown property',
      { ...good, filter: { page: '/' } },
      ['unknown property "filter"', 'allowed: name, eventType, key, granularity, measures, where'],
    ],
    ['a misspelt property', { ...good, measure: {} }, ['unknown property "measure"']],
    ['where as a string', { ...good, where: 'DE' }, ['where must be an object', 'given "DE"']],
    ['where as an array', { ...good, where: ['DE'] }, ['where must be an object']],
    ['where as null', { ...good, where: null }, ['where must be an object', 'given null']],
    [
      'a where value that is a float',
      { ...good, where: { score: 1.5 } },
      ['where.score must be a string, a boolean or an integer within ±(2^53 − 1)', 'given 1.5'],
    ],
    [
      'a where value beyond safe integers',
      { ...good, where: { big: 2 ** 53 } },
      ['where.big must be a string, a boolean or an integer within ±(2^53 − 1)', 'given 9007199254740992'],
    ],
    ['a where value that is NaN', { ...good, where: { n: NaN } }, ['where.n']],
    ['a where value that is null', { ...good, where: { n: null } }, ['where.n', 'given null']],
    ['a where value that is an object', { ...good, where: { n: { eq: 1 } } }, ['where.n', 'given {"eq":1}']],
    // Text the batch layer's SQL cannot mean as the speed layer does (a NUL ended DuckDB's SQL text;
    // an unpaired surrogate became U+FFFD there and matched events the other layers did not).
    ['a NUL in eventType', { ...good, eventType: 'page\u0000view' }, ['eventType holds U+0000 (NUL)']],
    ['a NUL in a where value', { ...good, where: { s: 'a\u0000b' } }, ['where.s holds U+0000 (NUL)']],
    [
      'a lone high surrogate in eventType',
      { ...good, eventType: 'r\ud800' },
      ['eventType holds an unpaired UTF-16 surrogate'],
    ],
    [
      'a lone low surrogate in a where value',
      { ...good, where: { s: 'a\udc00b' } },
      ['where.s holds an unpaired UTF-16 surrogate'],
    ],
  ];

  const badPaths = [
    "a'b",
    'a;drop',
    "x'; DROP TABLE events; --",
    'a b',
    'a..b',
    '.a',
    'a.',
    '1a',
    'a-b',
    '$.a',
    'a[0]',
    'a"b',
    'a)',
    'ä',
  ];
  for (const path of badPaths) {
    cases.push(
      [
        `a key path ${JSON.stringify(path)}`,
        { ...good, key: [path] },
        ['key must be a field path', JSON.stringify(path)],
      ],
      [
        `a measure path ${JSON.stringify(path)}`,
        { ...good, measures: { s: { kind: 'sum', field: path } } },
        ['measure "s" (sum) must be a field path', JSON.stringify(path)],
      ],
      [
        `a where path ${JSON.stringify(path)}`,
        { ...good, where: { [path]: 'x' } },
        ['where must be a field path', JSON.stringify(path)],
      ],
    );
  }
  for (const reserved of [...RESERVED_FIELDS, 'time.zone']) {
    cases.push(
      [
        `the reserved key field ${reserved}`,
        { ...good, key: [reserved] },
        ['key uses the reserved envelope field', `"${reserved}"`],
      ],
      [
        `a measure of the reserved field ${reserved}`,
        { ...good, measures: { m: { kind: 'max', field: reserved } } },
        ['measure "m" (max) uses the reserved envelope field', `"${reserved}"`],
      ],
      [
        `a filter on the reserved field ${reserved}`,
        { ...good, where: { [reserved]: 'x' } },
        ['where uses the reserved envelope field', `"${reserved}"`],
      ],
    );
  }

  cases.push(
    [
      'a key field named like the query parameter from',
      { ...good, key: ['from'] },
      ['key field "from" has the name of a query parameter', 'x.from'],
    ],
    [
      'a key field named like the query parameter to',
      { ...good, key: ['page', 'to'] },
      ['key field "to" has the name of a query parameter'],
    ],
    [
      'nine distinct measures (a row would outgrow a DynamoDB item)',
      {
        ...good,
        measures: Object.fromEntries(
          Array.from({ length: 9 }, (_, i) => [`d${i}`, { kind: 'distinct', field: 'u' }]),
        ),
      },
      ['at most 8 distinct() measures per view (given 9)'],
    ],
  );

  it.each(cases)('%s', (_, input, fragments) => {
    const message = failure(input);
    expect(message).toContain('view "page_views"');
    for (const fragment of fragments) expect(message).toContain(fragment);
  });

  it.each([
    ['with a capital', 'Page_views'],
    ['with a dash', 'page-views'],
    ['with a quote', "page'views"],
    ['with a semicolon', 'a;drop'],
    ['empty', ''],
    ['missing', undefined],
    ['a number', 7],
    ['of 65 characters', 'v'.repeat(65)],
  ])('a view name %s, quoting the name given', (_, name) => {
    const message = failure({ ...good, name });
    expect(message).toContain('view name must match [a-z0-9_]+');
    expect(message).toContain(`(given ${JSON.stringify(name)})`);
  });

  it.each([42, null, 'page_views', [good]])('a view that is not an object (%j)', (input) => {
    expect(failure(input)).toContain('a view must be an object');
  });

  it('two views with the same name', () => {
    expect(() => validateViews([good, { ...good, eventType: 'other' }])).toThrow(
      new ViewDefinitionError('view "page_views" is declared twice; names must be unique'),
    );
  });

  it.each([{}, 'views', null, undefined, 3])('views that are not an array (%j)', (input) => {
    expect(() => validateViews(input)).toThrow(ViewDefinitionError);
    expect(() => validateViews(input)).toThrow(/views must be an array of defineView\(\.\.\.\) results/);
  });

  it('an empty list of views', () => {
    expect(() => validateViews([])).toThrow(/views must declare at least one view/);
  });

  it('names the second view when only it is malformed', () => {
    expect(() => validateViews([good, { ...good, name: 'second', key: ['a;b'] }])).toThrow(
      /view "second": key/,
    );
  });

  it('defineView fails at once, like validateView', () => {
    expect(() => defineView({ ...good, granularity: '1w' } as unknown as ViewInput)).toThrow(
      /view "page_views": granularity must be one of/,
    );
  });
});
