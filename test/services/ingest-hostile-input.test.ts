import { describe, expect, it } from 'vitest';
import { normalizeStreamRecord, PoisonRecordError } from '../../lambdas/core/event';
import { validateViews } from '../../lambdas/core/view';
import { ingestEvents, type IngestDeps } from '../../lambdas/services/ingest-events';
import { InMemoryEventStream, ManualClock } from './in-memory-stores';

/**
 * Regressions found by the hostile-input suite (test/integ/hostile-input.test.ts): each case
 * once crashed the ingest handler or was accepted and then dead-lettered.
 */
const views = validateViews([
  {
    name: 'clicks',
    eventType: 'click',
    key: ['page'],
    granularity: '1m',
    measures: { n: { kind: 'count' }, amount: { kind: 'sum', field: 'amount' } },
  },
]);
const T = '2026-01-31T11:59:00Z';
const DEEP = 100_000;

function setup() {
  const stream = new InMemoryEventStream();
  const deps: IngestDeps = {
    views,
    stream,
    clock: new ManualClock(Date.UTC(2026, 0, 31, 12)),
    maxBodyBytes: 3_000_000,
  };
  const ingest = async (body: string) => {
    const result = await ingestEvents(body, deps);
    return { status: result.status, body: result.body as { error?: string; problems?: unknown[] } };
  };
  return { stream, ingest };
}

describe('ingestEvents refuses what would crash a later step', () => {
  it.each([
    ['an array', `{"type":"click","time":"${T}","page":"/a","x":${'['.repeat(DEEP)}${']'.repeat(DEEP)}}`],
    [
      'an object',
      `{"type":"click","time":"${T}","page":"/a","x":${'{"a":'.repeat(DEEP)}1${'}'.repeat(DEEP)}}`,
    ],
    [
      'a batch',
      `{"events":[{"type":"click","time":"${T}","page":"/a","x":${'['.repeat(DEEP)}${']'.repeat(DEEP)}}]}`,
    ],
  ])(
    'refuses an event nesting %s 100,000 levels deep with a 400 (it overflowed the stack)',
    async (_, body) => {
      const { stream, ingest } = setup();
      const res = await ingest(body);
      expect(res.status).toBe(400);
      expect(res.body.error).toMatch(/nests deeper than 32 levels of objects and arrays/);
      expect(stream.accepted).toEqual([]);
    },
  );

  it('accepts 32 levels, the event object included', async () => {
    const { ingest } = setup();
    const field = `${'['.repeat(31)}${']'.repeat(31)}`;
    expect((await ingest(`{"type":"click","time":"${T}","page":"/a","x":${field}}`)).status).toBe(202);
    expect(
      (await ingest(`{"events":[{"type":"click","time":"${T}","page":"/a","x":${field}}]}`)).status,
    ).toBe(202);
    const deeper = `[${field}]`;
    expect((await ingest(`{"type":"click","time":"${T}","page":"/a","x":${deeper}}`)).status).toBe(400);
  });

  it('answers a deep body full of long numbers at once (finding inexact numbers once cost a path per number and level)', async () => {
    const { ingest } = setup();
    const numbers = Array.from({ length: 30_000 }, () => '12345678901234567890').join(',');
    const started = Date.now();
    const res = await ingest(
      `{"type":"click","time":"${T}","page":"/a","x":${'['.repeat(20_000)}${numbers}${']'.repeat(20_000)}}`,
    );
    expect(res.status).toBe(400);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('refuses a CloudEvent whose data has a field named specversion (it was accepted, then dead-lettered as an envelope)', async () => {
    const { stream, ingest } = setup();
    for (const specversion of ['1.0', '2']) {
      const res = await ingest(
        JSON.stringify({ specversion: '1.0', type: 'click', time: T, data: { page: '/a', specversion } }),
      );
      expect(res.status).toBe(400);
      expect(res.body.problems).toEqual([
        {
          index: 0,
          field: 'data.specversion',
          message: 'is reserved for the CloudEvents envelope; rename the field',
        },
      ]);
    }
    expect(stream.accepted).toEqual([]);
  });

  it('quotes at most 100 characters of a given value in an error, however long the value', async () => {
    const { ingest } = setup();
    const res = await ingest(
      JSON.stringify({ type: 'x'.repeat(1_000_000), time: 'y'.repeat(1_000_000), page: '/a' }),
    );
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body).length).toBeLessThan(1_000);
    expect(JSON.stringify(res.body)).toContain('(1000002 characters)');
  });

  it('names a number JSON cannot print as JavaScript does (1e999 was shown as null)', async () => {
    const { ingest } = setup();
    const res = await ingest('1e999');
    expect(res.body.problems).toEqual([
      { index: 0, field: 'event', message: 'must be a JSON object (given Infinity)' },
    ]);
  });
});

describe('normalizeStreamRecord (speed layer, archive) on a record put by another producer', () => {
  it('dead-letters a record nesting 100,000 levels deep as poison instead of overflowing the stack', () => {
    const data = `{"type":"click","time":"${T}","page":"/a","x":${'['.repeat(DEEP)}${']'.repeat(DEEP)}}`;
    const position = {
      shardId: 's',
      sequenceNumber: '1',
      partitionKey: 'p',
      arrivedMs: Date.UTC(2026, 0, 31, 12),
    };
    expect(() => normalizeStreamRecord(data, position, views)).toThrow(PoisonRecordError);
    expect(() => normalizeStreamRecord(data, position, views)).toThrow(/nests deeper than 32 levels/);
  });
});
