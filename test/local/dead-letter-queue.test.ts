import type { KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { DeadLetterEntry } from '../../local/dead-letter-entry';
import { DeadLetterQueue } from '../../local/dead-letter-queue';
import { firstFailedIndex } from '../../local/lambda-invocation';

const dir = mkdtempSync(path.join(tmpdir(), 'streamfold-dlq-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let fileNo = 0;
const newFile = () => path.join(dir, `q${fileNo++}`, 'dead-letter-queue.ndjson');

function record(seq: number, text: string): KinesisStreamRecord {
  return {
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey: 'k',
      sequenceNumber: String(seq),
      data: Buffer.from(text).toString('base64'),
      approximateArrivalTimestamp: 1_700_000_000.123 + seq,
    },
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventID: `shardId-000000000000:${seq}`,
    eventName: 'aws:kinesis:record',
    invokeIdentityArn: 'arn:aws:iam::000000000000:role/r',
    awsRegion: 'us-east-1',
    eventSourceARN: 'arn:aws:kinesis:us-east-1:000000000000:stream/s',
  };
}

function entry(records: KinesisStreamRecord[]): DeadLetterEntry {
  const first = records[0].kinesis;
  const last = records[records.length - 1].kinesis;
  return {
    version: '1.0',
    timestamp: '2026-01-01T00:00:00.000Z',
    requestContext: {
      requestId: 'r',
      functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:f',
      condition: 'RetryAttemptsExhausted',
      approximateInvokeCount: 4,
    },
    responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
    KinesisBatchInfo: {
      shardId: 'shardId-000000000000',
      startSequenceNumber: first.sequenceNumber,
      endSequenceNumber: last.sequenceNumber,
      approximateArrivalOfFirstRecord: new Date(first.approximateArrivalTimestamp * 1000).toISOString(),
      approximateArrivalOfLastRecord: new Date(last.approximateArrivalTimestamp * 1000).toISOString(),
      batchSize: records.length,
      streamArn: 'arn:aws:kinesis:us-east-1:000000000000:stream/s',
    },
    records,
    lastError: 'Error: boom',
  };
}

const texts = (event: { Records: readonly KinesisStreamRecord[] }) =>
  event.Records.map((r) => Buffer.from(r.kinesis.data, 'base64').toString());

describe('DeadLetterQueue', () => {
  it('appends one NDJSON line per entry and reads them back in a new instance', async () => {
    const file = newFile();
    const queue = new DeadLetterQueue({ file });
    await queue.add(entry([record(1, 'a')]));
    await queue.add(entry([record(2, 'b'), record(3, 'c')]));
    const lines = readFileSync(file, 'utf8').split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[2]).toBe('');
    expect((JSON.parse(lines[1]) as DeadLetterEntry).KinesisBatchInfo.batchSize).toBe(2);
    const reopened = new DeadLetterQueue({ file });
    expect(await reopened.depth()).toBe(2);
    expect(texts({ Records: (await reopened.list())[1].records })).toEqual(['b', 'c']);
  });

  it('puts the file under dataDir when given one', async () => {
    const dataDir = path.join(dir, 'data');
    const queue = new DeadLetterQueue({ dataDir });
    await queue.add(entry([record(1, 'a')]));
    expect(queue.file).toBe(path.join(dataDir, 'dead-letter-queue.ndjson'));
    expect(() => new DeadLetterQueue({ dataDir, file: 'x' })).toThrow('not both');
  });

  it('keeps entries in memory without a file', async () => {
    const queue = new DeadLetterQueue();
    await queue.add(entry([record(1, 'a')]));
    expect(await queue.depth()).toBe(1);
    expect(queue.file).toBeUndefined();
  });

  it('ignores a torn last line (a crash during an append) but refuses a corrupt line elsewhere', async () => {
    const file = newFile();
    await new DeadLetterQueue({ file }).add(entry([record(1, 'a')]));
    appendFileSync(file, '{"version":"1.0","times');
    expect(await new DeadLetterQueue({ file }).depth()).toBe(1);
    writeFileSync(file, `not json\n${JSON.stringify(entry([record(1, 'a')]))}\n`);
    await expect(new DeadLetterQueue({ file }).list()).rejects.toThrow(
      /line 1 is not JSON.*repair or remove/,
    );
  });

  it('redrives: removes what succeeds, keeps what throws, narrows what partly fails', async () => {
    const file = newFile();
    const queue = new DeadLetterQueue({ file });
    await queue.add(entry([record(1, 'ok')]));
    await queue.add(entry([record(2, 'throws')]));
    await queue.add(entry([record(3, 'fine'), record(4, 'partial'), record(5, 'after')]));
    const calls: string[][] = [];
    const result = await queue.redrive(async (event: KinesisStreamEvent, context) => {
      expect(context.awsRequestId).toBeTruthy();
      calls.push(texts(event));
      if (texts(event).includes('throws')) throw new Error('still broken');
      const partial = event.Records.find((r) => texts({ Records: [r] })[0] === 'partial');
      return { batchItemFailures: partial ? [{ itemIdentifier: partial.kinesis.sequenceNumber }] : [] };
    });
    expect(calls).toEqual([['ok'], ['throws'], ['fine', 'partial', 'after']]);
    expect(result.redriven).toBe(1);
    expect(result.remaining).toBe(2);
    expect(result.errors).toEqual([
      'shardId-000000000000 2: still broken',
      'shardId-000000000000 3: the function reported 1 failed record(s), the lowest 4',
    ]);
    const left = await new DeadLetterQueue({ file }).list();
    expect(left.map((e) => texts({ Records: e.records }))).toEqual([['throws'], ['partial', 'after']]);
    expect(left[1].KinesisBatchInfo).toMatchObject({
      startSequenceNumber: '4',
      endSequenceNumber: '5',
      batchSize: 2,
    });
  });
});

describe('firstFailedIndex (how Lambda reads batchItemFailures)', () => {
  const batch = [record(10, 'a'), record(11, 'b'), record(12, 'c')];
  it.each([
    ['no answer', undefined, -1],
    ['null batchItemFailures', { batchItemFailures: null }, -1],
    ['an empty list', { batchItemFailures: [] }, -1],
    ['the lowest of several', { batchItemFailures: [{ itemIdentifier: '12' }, { itemIdentifier: '11' }] }, 1],
    ['an empty identifier', { batchItemFailures: [{ itemIdentifier: '' }] }, 0],
    ['a null identifier', { batchItemFailures: [{ itemIdentifier: null }] }, 0],
    ['an identifier of another batch', { batchItemFailures: [{ itemIdentifier: '99' }] }, 0],
    ['a wrong key name', { batchItemFailures: [{ sequenceNumber: '11' }] }, 0],
    ['a list that is not one', { batchItemFailures: '11' }, 0],
  ])('reads %s', (_, response, index) => {
    expect(firstFailedIndex(batch, response).index).toBe(index);
  });
});
