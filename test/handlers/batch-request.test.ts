import { describe, expect, it } from 'vitest';
import { parseBatchRequest } from '../../lambdas/adapters/codecs/batch-request';

describe('parseBatchRequest (POST /admin/batch body, scheduled event detail)', () => {
  it.each([
    ['', {}],
    ['{}', { full: false }],
    [{}, { full: false }],
    [undefined, {}],
    ['{"full": true}', { full: true }],
    [
      '{"from": "2026-11-01T00:00:00Z", "to": 1793577600000}',
      { full: false, backfill: { fromMs: Date.UTC(2026, 10, 1), toMs: 1793577600000 } },
    ],
  ])('reads %j', (input, expected) => {
    expect(parseBatchRequest(input)).toEqual(expected);
  });

  it.each([
    ['not json', /must be JSON/],
    ['[1]', /must be a JSON object \(given array\)/],
    ['{"full": "yes"}', /full must be true or false/],
    ['{"fulll": true}', /unknown field\(s\) fulll/],
    ['{"from": "2026-11-02T00:00:00Z"}', /to is required/],
    ['{"from": "2026-11-02T00:00:00Z", "to": "2026-11-01T00:00:00Z"}', /from must be before to/],
    ['{"from": "2000-01-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"}', /at most 366 days/],
  ])('refuses %j, saying what is wrong', (input, message) => {
    const result = parseBatchRequest(input);
    expect('problems' in result && result.problems.join('; ')).toMatch(message);
  });
});
