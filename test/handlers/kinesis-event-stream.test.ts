import type { KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { describe, expect, it } from 'vitest';
import {
  KinesisEventStream,
  PUT_RECORDS_MAX_BYTES,
  putRecordsRequests,
} from '../../lambdas/adapters/aws/kinesis-event-stream';
import type { StreamEntry } from '../../lambdas/ports/event-stream';

/** A Kinesis client that keeps PutRecords' documented limits and refuses the keys it is told to. */
function fakeKinesis(refuse: ReadonlySet<string> = new Set(), failCall?: number) {
  const calls: { count: number; bytes: number }[] = [];
  const client = {
    send: async (command: PutRecordsCommand) => {
      const records = command.input.Records ?? [];
      const bytes = records.reduce(
        (n, r) => n + (r.Data?.length ?? 0) + Buffer.byteLength(r.PartitionKey ?? ''),
        0,
      );
      calls.push({ count: records.length, bytes });
      if (calls.length === failCall) throw new Error('ServiceUnavailable');
      if (records.length > 500 || bytes > PUT_RECORDS_MAX_BYTES)
        throw new Error(`InvalidArgumentException: ${records.length} records, ${bytes} bytes`);
      return {
        FailedRecordCount: records.filter((r) => refuse.has(r.PartitionKey ?? '')).length,
        Records: records.map((r) =>
          refuse.has(r.PartitionKey ?? '')
            ? { ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'slow down' }
            : { SequenceNumber: '1', ShardId: 'shardId-000000000000' },
        ),
      };
    },
  };
  return { client: client as unknown as KinesisClient, calls };
}

const entry = (i: number, bytes: number): StreamEntry => ({
  partitionKey: `id-${i}`,
  data: 'x'.repeat(bytes),
});

describe('KinesisEventStream: one POST /events body over PutRecords limits', () => {
  it('splits 500 entries of 30,000 bytes (15 MB, within 500 records) into requests of at most 5 MiB', async () => {
    const entries = Array.from({ length: 500 }, (_, i) => entry(i, 30_000));
    const { client, calls } = fakeKinesis();
    expect(await new KinesisEventStream(client, 's').putRecords(entries)).toEqual([]);
    expect(calls.every((c) => c.bytes <= PUT_RECORDS_MAX_BYTES)).toBe(true);
    expect(calls.reduce((n, c) => n + c.count, 0)).toBe(500);
    expect(calls.length).toBe(3);
  });

  it('reports refused entries by their index in the whole list, across requests', async () => {
    const entries = Array.from({ length: 400 }, (_, i) => entry(i, 30_000));
    const { client } = fakeKinesis(new Set(['id-3', 'id-250', 'id-399']));
    expect(await new KinesisEventStream(client, 's').putRecords(entries)).toEqual([3, 250, 399]);
  });

  it('reports the failed request and the rest as refused when a later request fails whole', async () => {
    const entries = Array.from({ length: 400 }, (_, i) => entry(i, 30_000));
    const { client } = fakeKinesis(new Set(), 2);
    const ranges = putRecordsRequests(entries);
    const refused = await new KinesisEventStream(client, 's').putRecords(entries);
    expect(refused).toEqual(Array.from({ length: 400 - ranges[1][0] }, (_, i) => ranges[1][0] + i));
  });

  it('throws when the first request fails whole (nothing is on the stream)', async () => {
    const { client } = fakeKinesis(new Set(), 1);
    await expect(new KinesisEventStream(client, 's').putRecords([entry(0, 10)])).rejects.toThrow(
      'ServiceUnavailable',
    );
  });

  it('keeps small bodies in one request, counting partition keys in the bytes', () => {
    expect(putRecordsRequests(Array.from({ length: 500 }, (_, i) => entry(i, 100)))).toEqual([[0, 500]]);
    const atLimit = [entry(0, PUT_RECORDS_MAX_BYTES - 8), entry(1, 1)];
    expect(putRecordsRequests(atLimit)).toEqual([
      [0, 1],
      [1, 2],
    ]);
  });
});
