import type { FirehoseTransformationEvent, KinesisStreamEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { decodeKinesisEvent } from '../../lambdas/adapters/codecs/kinesis-event';
import { transformFirehoseEvent } from '../../lambdas/adapters/codecs/firehose-transform';
import { fromArchiveLine, normalizeStreamRecord } from '../../lambdas/core/event';
import { validateViews } from '../../lambdas/core/view';

const views = validateViews([
  { name: 'v', eventType: 'click', key: ['page'], granularity: '1m', measures: { n: { kind: 'count' } } },
]);
const SEQ = '49590338271490256608559692538361571095921575989136588898';
const SHARD = 'shardId-000000000003';
const body = { type: 'click', time: '2026-11-24T23:59:59Z', page: '/ü' };
const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

function kinesisEvent(data: string): KinesisStreamEvent {
  return {
    Records: [
      {
        kinesis: {
          kinesisSchemaVersion: '1.0',
          partitionKey: 'pk',
          sequenceNumber: SEQ,
          data: b64(data),
          approximateArrivalTimestamp: 1795564799.123,
        },
        eventSource: 'aws:kinesis',
        eventVersion: '1.0',
        eventID: `${SHARD}:${SEQ}`,
        eventName: 'aws:kinesis:record',
        invokeIdentityArn: 'arn:aws:iam::123456789012:role/r',
        awsRegion: 'eu-west-1',
        eventSourceARN: 'arn:aws:kinesis:eu-west-1:123456789012:stream/s',
      },
    ],
  };
}

function firehoseEvent(data: string, withMetadata = true): FirehoseTransformationEvent {
  return {
    invocationId: 'i',
    deliveryStreamArn: 'arn:aws:firehose:eu-west-1:123456789012:deliverystream/d',
    sourceKinesisStreamArn: 'arn:aws:kinesis:eu-west-1:123456789012:stream/s',
    region: 'eu-west-1',
    records: [
      {
        recordId: 'r1',
        approximateArrivalTimestamp: 1795564799123,
        data: b64(data),
        ...(withMetadata
          ? {
              kinesisRecordMetadata: {
                shardId: SHARD,
                partitionKey: 'pk',
                approximateArrivalTimestamp: 1795564799123,
                sequenceNumber: SEQ,
                subsequenceNumber: '',
              },
            }
          : {}),
      },
    ],
  } as FirehoseTransformationEvent;
}

describe('codecs', () => {
  it('decodes Kinesis records: UTF-8 data, shard from eventID, arrival rounded to whole milliseconds', () => {
    const [record] = decodeKinesisEvent(kinesisEvent(JSON.stringify(body)));
    expect(record.data).toBe(JSON.stringify(body));
    expect(record.position).toEqual({
      shardId: SHARD,
      sequenceNumber: SEQ,
      partitionKey: 'pk',
      arrivedMs: 1795564799123,
    });
  });

  it('gives the archive and the speed layer the same id and arrival time for a record without id', () => {
    const [speed] = decodeKinesisEvent(kinesisEvent(JSON.stringify(body)));
    const speedEvent = normalizeStreamRecord(speed.data, speed.position, views);
    const out = transformFirehoseEvent(firehoseEvent(JSON.stringify(body)), views).records[0];
    expect(out.result).toBe('Ok');
    const line = Buffer.from(out.data!, 'base64').toString('utf8');
    expect(line.endsWith('\n')).toBe(true);
    const archived = fromArchiveLine(line.trimEnd());
    expect(archived.id).toBe(`${SHARD}:${SEQ}`);
    expect(archived).toEqual(speedEvent);
  });

  it('partitions by arrival time in UTC, not by event time', () => {
    const out = transformFirehoseEvent(
      firehoseEvent(JSON.stringify({ ...body, time: '2020-01-01T00:00:00Z' })),
      views,
    ).records[0];
    expect(out.metadata?.partitionKeys).toEqual({ dt: '2026-11-24', hour: '23' });
  });

  it('marks what the speed layer would dead-letter as ProcessingFailed, keeping the payload', () => {
    for (const event of [
      firehoseEvent('not json'),
      firehoseEvent(JSON.stringify({ ...body, page: { x: 1 } })),
      firehoseEvent(JSON.stringify(body), false),
    ]) {
      const out = transformFirehoseEvent(event, views).records[0];
      expect(out.result).toBe('ProcessingFailed');
      expect(out.data).toBe(event.records[0].data);
    }
  });
});
