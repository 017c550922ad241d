import { describe, expect, it } from 'vitest';
import {
  count,
  defineView,
  distinct,
  sum,
  validateViews,
  ViewDefinitionError,
} from '../../lambdas/core/view';

const good = {
  name: 'page_views',
  eventType: 'page.view',
  key: ['page'],
  granularity: '1m',
  measures: { views: { kind: 'count' } },
};

describe('defineView', () => {
  it('normalizes a single key to a list and an absent filter to {}', () => {
    const view = defineView({
      name: 'v1',
      eventType: 't',
      key: 'geo.country',
      granularity: '1h',
      measures: { n: count(), s: sum('amount'), u: distinct('user') },
    });
    expect(view.key).toEqual(['geo.country']);
    expect(view.where).toEqual({});
    expect(JSON.parse(JSON.stringify(view))).toEqual(view);
  });

  it.each([
    [
      'a bad view name',
      { ...good, name: 'Page-Views' },
      /view name must match \[a-z0-9_\]\+ \(given "Page-Views"\)/,
    ],
    ['an empty key', { ...good, key: [] }, /view "page_views": key must name one or more event fields/],
    [
      'a duplicated key field',
      { ...good, key: ['page', 'page'] },
      /view "page_views": key lists a field twice/,
    ],
    [
      'an unknown granularity',
      { ...good, granularity: '2m' },
      /view "page_views": granularity must be one of 1m, 5m, 15m, 1h, 1d \(given "2m"\)/,
    ],
    [
      'an unknown measure',
      { ...good, measures: { p: { kind: 'median', field: 'x' } } },
      /view "page_views": measure "p" has unknown kind "median"/,
    ],
    [
      'no measures',
      { ...good, measures: {} },
      /view "page_views": measures must declare at least one measure/,
    ],
    [
      'a bad measure name',
      { ...good, measures: { '1x': { kind: 'count' } } },
      /view "page_views": measure name "1x"/,
    ],
    [
      'count with a field',
      { ...good, measures: { n: { kind: 'count', field: 'x' } } },
      /measure "n": count\(\) takes no field/,
    ],
    [
      'sum without a field',
      { ...good, measures: { s: { kind: 'sum' } } },
      /view "page_views": measure "s" \(sum\) must be a field path/,
    ],
    [
      'a field path with a quote',
      { ...good, key: ["a'b"] },
      /view "page_views": key must be a field path .*given "a'b"/,
    ],
    [
      'a field path with SQL',
      { ...good, key: ['a;drop table x'] },
      /view "page_views": key must be a field path/,
    ],
    [
      'a reserved field',
      { ...good, key: ['time'] },
      /view "page_views": key uses the reserved envelope field "time"/,
    ],
    [
      'a where on a float',
      { ...good, where: { score: 1.5 } },
      /view "page_views": where.score must be a string, a boolean or an integer \(given 1.5\)/,
    ],
    ['a where that is not an object', { ...good, where: 'DE' }, /view "page_views": where must be an object/],
    ['an unknown property', { ...good, filter: {} }, /view "page_views": unknown property "filter"/],
    [
      'an empty eventType',
      { ...good, eventType: '' },
      /view "page_views": eventType must be a non-empty string/,
    ],
    ['a non-object', 42, /a view must be an object/],
  ])('fails with %s, naming the view and the field', (_, input, message) => {
    expect(() => validateViews([input])).toThrow(ViewDefinitionError);
    expect(() => validateViews([input])).toThrow(message);
  });

  it('fails when two views share a name', () => {
    expect(() => validateViews([good, good])).toThrow(/view "page_views" is declared twice/);
  });

  it('fails when views are not an array or empty', () => {
    expect(() => validateViews({})).toThrow(/views must be an array/);
    expect(() => validateViews([])).toThrow(/at least one view/);
  });
});
