import { describe, expect, it } from 'vitest';
import {
  BODY_NOT_UTF8,
  bodyNotUtf8Answer,
  jsonResponse,
  queryParams,
  queryRoute,
  repeatedQueryParamsAnswer,
  requestBody,
} from '../../lambdas/adapters/codecs/api-gateway';
import { transformFirehoseEvent } from '../../lambdas/adapters/codecs/firehose-transform';
import { decodeKinesisEvent } from '../../lambdas/adapters/codecs/kinesis-event';
import { fromArchiveLine, normalizeStreamRecord, toArchiveLine } from '../../lambdas/core/event';
import { validateViews } from '../../lambdas/core/view';
import { ingestEvents } from '../../lambdas/services/ingest-events';
import {
  apiGatewayGetView,
  apiGatewayPostEvents,
  b64,
  firehoseTransformationEvent,
  fixtures,
  fromB64,
  kinesisStreamEvent,
  sequenceNumber,
  SHARD_ID,
  type StreamRecordSpec,
} from '../fixtures/events/factories';
import { InMemoryEventStream, ManualClock } from '../services/in-memory-stores';

const views = validateViews([
  {
    name: 'clicks',
    eventType: 'click',
    key: ['page'],
    granularity: '1m',
    measures: { n: { kind: 'count' } },
  },
  {
    name: 'sales',
    eventType: 'purchase',
    key: ['page'],
    granularity: '1h',
    measures: { amount: { kind: 'sum', field: 'amount' } },
  },
]);
const FIXTURE_SEQUENCES = [
  '49647175826487437127946203371587063651926436553408200706',
  '49647175826487437127946203371588272577746051182582906882',
  '49647175826487437127946203371589481503565665811757613058',
];
const click = { type: 'click', time: '2023-11-14T22:13:19.900Z', page: '/ü/straße' };

/** The archive line Firehose would store for an Ok record. */
function archiveText(data: string | undefined): string {
  if (data === undefined) throw new Error('an Ok record carries data');
  return fromB64(data);
}

describe('decodeKinesisEvent', () => {
  it('cuts every record its own shard id out of eventID, also when the ids of a batch change or share a prefix', () => {
    const ids = [
      ':0',
      'shardId-000000000001:1',
      'shardId-000000000001:2',
      'shardId-0000000000010:3',
      'shardId-000000000001:x:4',
      'shardId-000000000001:5',
      ':6',
      ':7',
      'noSeparator',
      'shardId-000000000002:8',
      'shardId-000000000001:9',
    ];
    const event = fixtures.kinesis();
    const template = event.Records[0];
    const records = decodeKinesisEvent({ Records: ids.map((eventID) => ({ ...template, eventID })) });
    expect(records.map((r) => r.position.shardId)).toEqual(
      ids.map((id) => (id.lastIndexOf(':') > 0 ? id.slice(0, id.lastIndexOf(':')) : id)),
    );
  });

  it('reads the shard from eventID, the position, and UTF-8 data of every record', () => {
    const event = fixtures.kinesis();
    const records = decodeKinesisEvent(event);
    expect(records.map((r) => r.position)).toEqual([
      {
        shardId: SHARD_ID,
        sequenceNumber: FIXTURE_SEQUENCES[0],
        partitionKey: 'evt-0001',
        arrivedMs: 1700000000123,
      },
      {
        shardId: SHARD_ID,
        sequenceNumber: FIXTURE_SEQUENCES[1],
        partitionKey: 'sensor-7',
        arrivedMs: 1700000000456,
      },
      {
        shardId: SHARD_ID,
        sequenceNumber: FIXTURE_SEQUENCES[2],
        partitionKey: 'evt-0003',
        arrivedMs: 1700000001789,
      },
    ]);
    expect(JSON.parse(records[1].data)).toEqual({
      type: 'click',
      time: '2023-11-14T22:13:19.900Z',
      page: '/ü/straße',
      user: 'u2',
    });
  });

  it('turns seconds with millisecond decimals into exactly those milliseconds', () => {
    const [record] = decodeKinesisEvent({
      Records: [
        {
          ...fixtures.kinesis().Records[0],
          kinesis: { ...fixtures.kinesis().Records[0].kinesis, approximateArrivalTimestamp: 1700000000.123 },
        },
      ],
    });
    expect(record.position.arrivedMs).toBe(1700000000123);
    // Every millisecond of a second, and around bucket edges, comes back whole and exact.
    const base = Date.UTC(2026, 10, 24, 23, 59, 59);
    const specs: StreamRecordSpec[] = Array.from({ length: 1000 }, (_, i) => ({
      body: '{}',
      arrivedMs: base + i,
    }));
    const decoded = decodeKinesisEvent(kinesisStreamEvent(specs)).map((r) => r.position.arrivedMs);
    expect(decoded).toEqual(specs.map((s) => s.arrivedMs));
    expect(decoded.every(Number.isInteger)).toBe(true);
  });

  it('keeps multi-byte UTF-8 text intact', () => {
    const text = JSON.stringify({ ...click, note: 'naïve café 👍 日本語' });
    const [record] = decodeKinesisEvent(kinesisStreamEvent([{ body: text }]));
    expect(record.data).toBe(text);
  });

  it('reads the shard id of other shards', () => {
    const [record] = decodeKinesisEvent(
      kinesisStreamEvent([{ body: click, shardId: 'shardId-000000000017' }]),
    );
    expect(record.position.shardId).toBe('shardId-000000000017');
  });
});

describe('api-gateway codec', () => {
  it('routes a query by its resource, not its path: GET /views/health is the view named health', () => {
    const viewNamedHealth = apiGatewayGetView('health', { page: '/a' });
    expect(viewNamedHealth.path).toBe('/views/health');
    expect(queryRoute(viewNamedHealth)).toBe('view');
    const at = (resource: string, path: string) => queryRoute({ ...fixtures.getView(), resource, path });
    expect(at('/health', '/health')).toBe('health');
    expect(at('/kappa/health', '/kappa/health')).toBe('health');
    expect(at('/kappa/views/{view}', '/kappa/views/health')).toBe('view');
    expect(at('/views/{view}/parts', '/views/status/parts')).toBe('parts');
    expect(at('/admin/status', '/admin/status')).toBe('status');
    expect(at('/views', '/views')).toBe('views');
    expect(at('/events', '/events')).toBeUndefined();
  });

  it('reads plain and base64 bodies as UTF-8 text, and a missing body as empty', () => {
    const body = JSON.stringify({ events: [click] });
    expect(requestBody(apiGatewayPostEvents(body))).toBe(body);
    const encoded = apiGatewayPostEvents(body, { base64: true });
    expect(encoded.body).toBe(b64(body));
    expect(encoded.body).not.toBe(body);
    expect(requestBody(encoded)).toBe(body);
    expect(requestBody(apiGatewayPostEvents(null))).toBe('');
    expect(requestBody(fixtures.postEvents())).toBe(fixtures.postEvents().body);
  });

  it('refuses a base64 body that is not UTF-8 rather than decoding it to U+FFFD', () => {
    const valid = apiGatewayPostEvents({ events: [click] }, { base64: true });
    expect(bodyNotUtf8Answer(valid)).toBeUndefined();
    expect(bodyNotUtf8Answer(apiGatewayPostEvents('{"page":"\u00e9"}'))).toBeUndefined();
    const invalid = { ...valid, body: Buffer.from([0x7b, 0x22, 0xe9, 0x22, 0x7d]).toString('base64') };
    expect(bodyNotUtf8Answer(invalid)).toEqual(jsonResponse(400, { error: BODY_NOT_UTF8 }));
    // Unchecked, the body throws instead of arriving altered.
    expect(() => requestBody(invalid)).toThrow(TypeError);
  });

  it('hands a base64 body to the ingestion service intact', async () => {
    const stream = new InMemoryEventStream();
    const event = apiGatewayPostEvents({ events: [click, { ...click, id: 'given' }] }, { base64: true });
    const result = await ingestEvents(requestBody(event), {
      views,
      stream,
      clock: new ManualClock(Date.UTC(2023, 10, 14, 22, 13, 20)),
      maxBodyBytes: 10_000,
      newId: () => 'stamped',
    });
    expect(result).toEqual({ status: 202, body: { accepted: 2, ids: ['stamped', 'given'] } });
    expect(JSON.parse(stream.accepted[0].data)).toMatchObject({ page: '/ü/straße' });
  });

  it('reads query parameters, and none as an empty object', () => {
    expect(queryParams(fixtures.getView())).toEqual({
      page: '/home',
      from: '2023-11-14T22:00:00Z',
      to: '2023-11-14T23:00:00Z',
    });
    expect(queryParams(apiGatewayGetView('clicks', null))).toEqual({});
    const event = apiGatewayGetView('clicks', { page: '/a b' });
    expect(event.pathParameters).toEqual({ view: 'clicks' });
    expect(queryParams(event)).toEqual({ page: '/a b' });
  });

  it('refuses a repeated query parameter: API Gateway would pass only its last value', () => {
    // Found by a black-box check: ?symbol=MSFT&symbol=IBM was answered for one of the two.
    const event = {
      ...apiGatewayGetView('clicks', { page: '/b', from: '2023-11-14T22:00:00Z' }),
      multiValueQueryStringParameters: { page: ['/a', '/b'], from: ['2023-11-14T22:00:00Z'] },
    };
    const answer = repeatedQueryParamsAnswer(event);
    expect(answer?.statusCode).toBe(400);
    expect(JSON.parse(answer!.body)).toEqual({
      error: 'invalid query',
      problems: [
        {
          field: 'page',
          message: 'query parameter page is given 2 times; give it once (one key per request)',
        },
      ],
    });
    expect(repeatedQueryParamsAnswer(fixtures.getView())).toBeUndefined();
    expect(repeatedQueryParamsAnswer(apiGatewayGetView('clicks', null))).toBeUndefined();
  });

  it('answers JSON that is never cached', () => {
    const response = jsonResponse(400, { error: 'invalid', problems: [{ index: 0, field: 'time' }] });
    expect(response.statusCode).toBe(400);
    expect(response.headers).toEqual({
      'content-type': 'application/json; charset=utf-8',
      'cache-control': 'no-store',
    });
    expect(JSON.parse(response.body)).toEqual({ error: 'invalid', problems: [{ index: 0, field: 'time' }] });
  });
});

describe('transformFirehoseEvent', () => {
  it('turns each record into one base64 NDJSON line, partitioned by arrival day and hour (UTC)', () => {
    const event = fixtures.firehose();
    const out = transformFirehoseEvent(event).records;
    expect(out.map((r) => [r.recordId, r.result])).toEqual(event.records.map((r) => [r.recordId, 'Ok']));
    for (const record of out) {
      const text = archiveText(record.data);
      expect(text.endsWith('\n')).toBe(true);
      expect(text.indexOf('\n')).toBe(text.length - 1); // one line per record
      expect(record.metadata).toEqual({ partitionKeys: { dt: '2023-11-14', hour: '22' } });
    }
    const first = JSON.parse(archiveText(out[0].data)) as Record<string, unknown>;
    expect(first).toMatchObject({
      id: 'evt-0001',
      type: 'click',
      page: '/home',
      _tm: Date.parse('2023-11-14T22:13:19.500Z'),
      _am: 1700000000123,
      _shard: SHARD_ID,
      _seq: FIXTURE_SEQUENCES[0],
      _pk: 'evt-0001',
    });
  });

  it('partitions by arrival time, not event time, and in UTC', () => {
    const out = transformFirehoseEvent(
      firehoseTransformationEvent([
        {
          body: { ...click, time: '2024-01-01T05:00:00+05:00' },
          arrivedMs: Date.parse('2023-12-31T23:59:59.999Z'),
        },
        {
          body: { ...click, time: '2023-12-31T23:59:59Z' },
          arrivedMs: Date.parse('2024-01-01T00:00:00.000Z'),
        },
        {
          body: { ...click, time: '2020-02-29T12:00:00Z' },
          arrivedMs: Date.parse('2024-02-29T09:30:00.000Z'),
        },
      ]),
    ).records;
    expect(out.map((r) => r.metadata?.partitionKeys)).toEqual([
      { dt: '2023-12-31', hour: '23' },
      { dt: '2024-01-01', hour: '00' },
      { dt: '2024-02-29', hour: '09' },
    ]);
  });

  it('takes the arrival time from kinesisRecordMetadata, as the speed layer does', () => {
    const kinesisArrival = Date.parse('2023-11-14T22:59:59.950Z');
    const event = firehoseTransformationEvent([{ body: click, arrivedMs: kinesisArrival }]);
    event.records[0].approximateArrivalTimestamp = kinesisArrival + 120_000; // when Firehose read it
    const [record] = transformFirehoseEvent(event).records;
    expect(fromArchiveLine(archiveText(record.data).trimEnd()).arrivedMs).toBe(kinesisArrival);
    expect(record.metadata?.partitionKeys).toEqual({ dt: '2023-11-14', hour: '22' });
  });

  it('marks records the speed layer would dead-letter ProcessingFailed, with their original data', () => {
    const event = firehoseTransformationEvent([
      { body: click },
      { body: '{"type": "click", "page": ' }, // not JSON
      // Break a view's key and measure rules but not the rules every event obeys: archived (each
      // view reads them as it reads events archived before it existed), not failed.
      { body: { ...click, page: { nested: 1 } } },
      { body: { type: 'purchase', time: click.time, page: '/cart', amount: '12.50' } },
      { body: { ...click, _am: 1 } }, // a reserved field
      { body: click },
      { body: '' },
    ]);
    // A binary payload (a KPL aggregate starts with these bytes): kept byte for byte, not re-encoded.
    event.records[6].data = Buffer.from([0xf3, 0x89, 0x9a, 0xc2, 0x0a, 0xff, 0x00]).toString('base64');
    const out = transformFirehoseEvent(event).records;
    expect(out.map((r) => r.result)).toEqual([
      'Ok',
      'ProcessingFailed',
      'Ok',
      'Ok',
      'ProcessingFailed',
      'Ok',
      'ProcessingFailed',
    ]);
    expect(out.map((r) => r.recordId)).toEqual(event.records.map((r) => r.recordId));
    for (const i of [1, 4, 6]) {
      expect(out[i].data).toBe(event.records[i].data);
      expect(out[i].metadata).toBeUndefined();
    }
  });

  it('marks every record ProcessingFailed when the delivery stream does not read Kinesis (no kinesisRecordMetadata)', () => {
    const event = firehoseTransformationEvent([
      { body: click, withMetadata: false },
      { body: click, withMetadata: false },
    ]);
    const out = transformFirehoseEvent(event).records;
    expect(out).toEqual(
      event.records.map((r) => ({ recordId: r.recordId, result: 'ProcessingFailed', data: r.data })),
    );
  });
});

describe('archive and speed layer agree on every record (invariants 3 and 6)', () => {
  it('gives a record without id the id <shardId>:<sequenceNumber> in both layers', () => {
    const speed = decodeKinesisEvent(fixtures.kinesis()).map((r) =>
      normalizeStreamRecord(r.data, r.position, views),
    );
    const archive = transformFirehoseEvent(fixtures.firehose()).records;
    expect(speed[1].id).toBe(`shardId-000000000000:${FIXTURE_SEQUENCES[1]}`);
    const archived = fromArchiveLine(archiveText(archive[1].data).trimEnd());
    expect(archived.id).toBe(`shardId-000000000000:${FIXTURE_SEQUENCES[1]}`);
    expect(archived.id).toBe(speed[1].id);
  });

  it('writes for each fixture record exactly the line the speed layer’s normalization gives', () => {
    const speed = decodeKinesisEvent(fixtures.kinesis()).map((r) =>
      normalizeStreamRecord(r.data, r.position, views),
    );
    const archive = transformFirehoseEvent(fixtures.firehose()).records;
    expect(archive.map((r) => archiveText(r.data))).toEqual(speed.map((e) => `${toArchiveLine(e)}\n`));
    expect(archive.map((r) => fromArchiveLine(archiveText(r.data).trimEnd()))).toEqual(speed);
  });

  it('agrees on the same records put by any producer, on any shard', () => {
    const specs: StreamRecordSpec[] = [
      { body: click, shardId: 'shardId-000000000003', sequenceNumber: '1', partitionKey: 'a' },
      {
        body: { ...click, id: 'given' },
        shardId: 'shardId-000000000003',
        sequenceNumber: '2',
        partitionKey: 'given',
      },
      {
        body: { ...click, arrivedAt: 'forged', ingestedAt: '2023-11-14T22:00:00Z' },
        sequenceNumber: '9'.repeat(129),
      },
      {
        body: { type: 'purchase', time: 1700000000000, page: '/cart', amount: 0.1 },
        arrivedMs: 1700000000999,
      },
    ];
    const speed = decodeKinesisEvent(kinesisStreamEvent(specs)).map((r) =>
      normalizeStreamRecord(r.data, r.position, views),
    );
    const archive = transformFirehoseEvent(firehoseTransformationEvent(specs)).records;
    expect(archive.map((r) => fromArchiveLine(archiveText(r.data).trimEnd()))).toEqual(speed);
    expect(speed.map((e) => e.id)).toEqual([
      'shardId-000000000003:1',
      'given',
      `${SHARD_ID}:${'9'.repeat(129)}`,
      `${SHARD_ID}:${sequenceNumber(3)}`,
    ]);
    expect(speed[2].body.arrivedAt).toBe(new Date(speed[2].arrivedMs).toISOString());
  });
});

describe('event fixtures', () => {
  it('describe the same three stream records to the speed Lambda and to Firehose', () => {
    const kinesis = fixtures.kinesis().Records;
    const firehose = fixtures.firehose().records;
    expect(kinesis.map((r) => r.eventID)).toEqual(FIXTURE_SEQUENCES.map((s) => `${SHARD_ID}:${s}`));
    expect(firehose.map((r) => r.kinesisRecordMetadata?.sequenceNumber)).toEqual(FIXTURE_SEQUENCES);
    expect(firehose.map((r) => r.data)).toEqual(kinesis.map((r) => r.kinesis.data));
    expect(firehose.map((r) => r.kinesisRecordMetadata?.approximateArrivalTimestamp)).toEqual(
      kinesis.map((r) => Math.round(r.kinesis.approximateArrivalTimestamp * 1000)),
    );
  });

  it('tell a schedule from an API request the way the batch handler does (httpMethod)', () => {
    const scheduled = fixtures.scheduled();
    expect('httpMethod' in scheduled).toBe(false);
    expect(scheduled['detail-type']).toBe('Scheduled Event');
    expect(fixtures.postEvents().httpMethod).toBe('POST');
    expect(fixtures.getView()).toMatchObject({
      httpMethod: 'GET',
      resource: '/views/{view}',
      pathParameters: { view: 'clicks' },
    });
  });
});
