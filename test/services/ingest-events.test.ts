import { describe, expect, it } from 'vitest';
import { validateViews } from '../../lambdas/core/view';
import { ingestEvents, type IngestDeps } from '../../lambdas/services/ingest-events';
import { InMemoryEventStream, ManualClock } from './in-memory-stores';

const views = validateViews([
  {
    name: 'clicks',
    eventType: 'click',
    key: ['page'],
    granularity: '1m',
    measures: { n: { kind: 'count' }, amount: { kind: 'sum', field: 'amount' } },
  },
]);
const NOW = Date.UTC(2026, 0, 31, 12, 0, 0, 250);
const click = { type: 'click', time: '2026-01-31T11:59:00Z', page: '/home', amount: 2.5 };

interface Body {
  error?: string;
  accepted?: number | string[];
  ids?: string[];
  problems?: { index: number; field: string; message: string }[];
  failed?: { index: number; id: string }[];
}

function setup(overrides: Partial<IngestDeps> = {}) {
  const stream = new InMemoryEventStream();
  const sleeps: number[] = [];
  let n = 0;
  const deps: IngestDeps = {
    views,
    stream,
    clock: new ManualClock(NOW),
    maxBodyBytes: 1_000_000,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    newId: () => `id-${n++}`,
    ...overrides,
  };
  const ingest = async (body: unknown) => {
    const result = await ingestEvents(typeof body === 'string' ? body : JSON.stringify(body), deps);
    return { status: result.status, body: result.body as Body };
  };
  const written = () => stream.accepted.map((e) => JSON.parse(e.data) as Record<string, unknown>);
  return { stream, sleeps, ingest, written };
}

describe('ingestEvents: accepted shapes', () => {
  it('accepts a single event: stamps id and ingestedAt, normalizes time, partitions by id', async () => {
    const { stream, ingest, written } = setup();
    const res = await ingest(click);
    expect(res).toEqual({ status: 202, body: { accepted: 1, ids: ['id-0'] } });
    expect(stream.accepted.map((e) => e.partitionKey)).toEqual(['id-0']);
    expect(written()).toEqual([
      {
        type: 'click',
        time: '2026-01-31T11:59:00.000Z',
        page: '/home',
        amount: 2.5,
        id: 'id-0',
        ingestedAt: '2026-01-31T12:00:00.250Z',
      },
    ]);
  });

  it('accepts {events: [...]}, keeps given ids and stamps the others, in order', async () => {
    const { stream, ingest, written } = setup();
    const res = await ingest({
      events: [click, { ...click, id: 'producer-7' }, { ...click, time: 1769860800000 }],
    });
    expect(res).toEqual({ status: 202, body: { accepted: 3, ids: ['id-0', 'producer-7', 'id-1'] } });
    expect(stream.accepted.map((e) => e.partitionKey)).toEqual(['id-0', 'producer-7', 'id-1']);
    expect(written().map((e) => [e.id, e.time, e.ingestedAt])).toEqual([
      ['id-0', '2026-01-31T11:59:00.000Z', '2026-01-31T12:00:00.250Z'],
      ['producer-7', '2026-01-31T11:59:00.000Z', '2026-01-31T12:00:00.250Z'],
      ['id-1', '2026-01-31T12:00:00.000Z', '2026-01-31T12:00:00.250Z'],
    ]);
    expect(stream.calls).toHaveLength(1);
  });

  it('stamps ingestedAt from the clock of each request', async () => {
    const clock = new ManualClock(NOW);
    const { ingest, written } = setup({ clock });
    await ingest(click);
    clock.advance(90_000);
    await ingest(click);
    expect(written().map((e) => e.ingestedAt)).toEqual([
      '2026-01-31T12:00:00.250Z',
      '2026-01-31T12:01:30.250Z',
    ]);
  });

  it('accepts CloudEvents 1.0 (alone or in a batch), flattening data and keeping the id', async () => {
    const { stream, ingest, written } = setup();
    const cloudEvent = {
      specversion: '1.0',
      id: 'ce-1',
      source: 'urn:shop:web',
      type: 'click',
      time: '2026-01-31T11:58:30Z',
      datacontenttype: 'application/json',
      data: { page: '/cart', amount: 4 },
    };
    expect((await ingest(cloudEvent)).body).toEqual({ accepted: 1, ids: ['ce-1'] });
    const { id: _id, ...noId } = cloudEvent;
    expect((await ingest({ events: [noId, click] })).body).toEqual({ accepted: 2, ids: ['id-0', 'id-1'] });
    expect(written()[0]).toEqual({
      page: '/cart',
      amount: 4,
      type: 'click',
      time: '2026-01-31T11:58:30.000Z',
      id: 'ce-1',
      ingestedAt: '2026-01-31T12:00:00.250Z',
    });
    expect(written()[1]).toMatchObject({ id: 'id-0', page: '/cart', amount: 4 });
    expect(stream.accepted.map((e) => e.partitionKey)).toEqual(['ce-1', 'id-0', 'id-1']);
  });

  it('accepts 500 events in one request', async () => {
    const { stream, ingest } = setup();
    const res = await ingest({ events: Array.from({ length: 500 }, () => click) });
    expect(res.status).toBe(202);
    expect(stream.accepted).toHaveLength(500);
  });
});

describe('ingestEvents: refusals (nothing written)', () => {
  it('is all or nothing: 400 naming every bad event and field, and nothing reaches the stream', async () => {
    const { stream, ingest } = setup();
    const res = await ingest({
      events: [
        click,
        { ...click, amount: 'ten' },
        { type: 'click', page: '/x' },
        click,
        { ...click, page: { nested: true }, _seq: '1', time: 1769860800 },
        'just text',
      ],
    });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid events: nothing was accepted');
    expect(res.body.problems?.map((p) => `${p.index}:${p.field}`)).toEqual([
      '1:amount',
      '2:time',
      '4:time',
      '4:_seq',
      '4:page',
      '5:event',
    ]);
    expect(res.body.problems?.[0].message).toMatch(/must be a number for view "clicks" measure "amount"/);
    expect(res.body.problems?.[2].message).toMatch(/epoch seconds/);
    expect(stream.calls).toEqual([]);
    expect(stream.accepted).toEqual([]);
  });

  it('answers 413 over maxBodyBytes, counting UTF-8 bytes rather than characters', async () => {
    const body = JSON.stringify({ ...click, page: 'ü'.repeat(60) }); // 60 characters, 120 bytes
    const { stream, ingest } = setup({ maxBodyBytes: Buffer.byteLength(body, 'utf8') - 1 });
    expect(body.length).toBeLessThan(Buffer.byteLength(body, 'utf8') - 1);
    const res = await ingest(body);
    expect(res.status).toBe(413);
    expect(res.body.error).toMatch(new RegExp(`request body is ${Buffer.byteLength(body, 'utf8')} bytes`));
    expect(stream.calls).toEqual([]);
    const exact = setup({ maxBodyBytes: Buffer.byteLength(body, 'utf8') });
    expect((await exact.ingest(body)).status).toBe(202);
  });

  it.each([
    ['not JSON', '{"type": "click",', /request body is not JSON/],
    ['an empty batch', '{"events": []}', /1 to 500 events \(given 0\)/],
    ['501 events', JSON.stringify({ events: Array.from({ length: 501 }, () => click) }), /given 501/],
    ['events that is not an array', '{"events": {"type": "click"}}', /"events" must be an array/],
  ])('answers 400 to %s', async (_, body, message) => {
    const { stream, ingest } = setup();
    const res = await ingest(body);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(message);
    expect(stream.calls).toEqual([]);
  });

  it('tells a top-level JSON array to be wrapped in {"events": [...]}', async () => {
    const { stream, ingest } = setup();
    const res = await ingest([click]);
    expect(res.status).toBe(400);
    expect(res.body.problems?.[0]).toMatchObject({ index: 0, field: 'event' });
    expect(res.body.problems?.[0].message).toMatch(/\{"events": \[\.\.\.\]\}/);
    expect(stream.calls).toEqual([]);
  });

  it('refuses an event larger than a Kinesis record', async () => {
    const { stream, ingest } = setup({ maxBodyBytes: 3_000_000 });
    const res = await ingest({ events: [click, { ...click, note: 'x'.repeat(1_000_000) }] });
    expect(res.status).toBe(400);
    expect(res.body.problems).toEqual([
      {
        index: 1,
        field: 'event',
        message: expect.stringMatching(
          /^is \d+ bytes as a stream record \(the event with its id and ingestedAt, and the id as its partition key\); the limit is 1000000, under a Kinesis record's 1 MiB: make it smaller$/,
        ) as string,
      },
    ]);
    expect(stream.calls).toEqual([]);
  });
});

describe('ingestEvents: entries the stream refuses', () => {
  it('resends only the refused entries until the stream accepts them, backing off between rounds', async () => {
    const { stream, sleeps, ingest } = setup();
    stream.refuse('id-1', 2).refuse('id-3', 1);
    const res = await ingest({ events: [click, click, click, click] });
    expect(res).toEqual({ status: 202, body: { accepted: 4, ids: ['id-0', 'id-1', 'id-2', 'id-3'] } });
    expect(stream.calls).toEqual([['id-0', 'id-1', 'id-2', 'id-3'], ['id-1', 'id-3'], ['id-1']]);
    expect(stream.accepted.map((e) => e.partitionKey)).toEqual(['id-0', 'id-2', 'id-3', 'id-1']);
    expect(sleeps).toHaveLength(2);
    expect(sleeps[0]).toBeGreaterThanOrEqual(50);
    expect(sleeps[0]).toBeLessThanOrEqual(100);
    expect(sleeps[1]).toBeGreaterThanOrEqual(100);
    expect(sleeps[1]).toBeLessThanOrEqual(200);
  });

  it('answers 503 listing the accepted ids and the failed ones when the stream keeps refusing', async () => {
    const { stream, ingest } = setup({ putAttempts: 3 });
    stream.refuse('id-0').refuse('given-2');
    const res = await ingest({ events: [click, click, { ...click, id: 'given-2' }] });
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({
      accepted: ['id-1'],
      failed: [
        { index: 0, id: 'id-0' },
        { index: 2, id: 'given-2' },
      ],
    });
    expect(res.body.error).toMatch(
      /refused 2 of 3 events after 3 attempts; resend the failed ones with the same ids/,
    );
    expect(stream.calls).toEqual([
      ['id-0', 'id-1', 'given-2'],
      ['id-0', 'given-2'],
      ['id-0', 'given-2'],
    ]);
  });

  it('answers 503 naming every stamped id in time when a PutRecords call hangs (API Gateway cuts at 29 s with a 504 that names none)', async () => {
    const hung = { putRecords: () => new Promise<number[]>(() => undefined) };
    const { ingest } = setup({ stream: hung, answerWithinMs: 50 });
    const started = Date.now();
    const res = await ingest({ events: [click, { ...click, id: 'given-1' }] });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({
      accepted: [],
      failed: [
        { index: 0, id: 'id-0' },
        { index: 1, id: 'given-1' },
      ],
    });
    expect(res.body.error).toMatch(
      /after 1 attempts \(last error: the stream did not answer within 50 ms\); resend the failed ones with the same ids/,
    );
  });

  it('keeps retrying when a whole PutRecords call fails', async () => {
    const { stream, ingest } = setup();
    stream.failNextCalls(2);
    const res = await ingest({ events: [click, click] });
    expect(res).toEqual({ status: 202, body: { accepted: 2, ids: ['id-0', 'id-1'] } });
    expect(stream.calls).toHaveLength(3);
  });

  it('still names every stamped id when a later call fails as a whole (so a resend keeps the ids)', async () => {
    const { stream, ingest } = setup({ putAttempts: 3 });
    stream.refuse('id-1', 1);
    const put = stream.putRecords.bind(stream);
    let call = 0;
    stream.putRecords = async (entries) => {
      if (call++ > 0) throw new Error('InternalFailure: service unavailable');
      return put(entries);
    };
    const res = await ingest({ events: [click, click] });
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ accepted: ['id-0'], failed: [{ index: 1, id: 'id-1' }] });
    expect(res.body.error).toMatch(/last error: InternalFailure: service unavailable/);
  });
});
