import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListShardsCommand,
  PutRecordsCommand,
  SplitShardCommand,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import {
  CreateBucketCommand,
  GetObjectCommand,
  paginateListObjectsV2,
  type S3Client,
} from '@aws-sdk/client-s3';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PoisonRecordError, readStreamRecord, toArchiveLine } from '../../lambdas/core/event';
import { makeKinesisClient, makeS3Client } from '../../lambdas/runtime/clients';
import { Archiver, archiveObjects, arrivalPartition, type ArchiverOptions } from '../../local/archiver';
import { startEmulators, type Emulators } from '../../local/emulators';

let emulators: Emulators;
let kinesis: KinesisClient;
let s3: S3Client;
const dir = mkdtempSync(path.join(tmpdir(), 'streamfold-archiver-'));
let n = 0;

beforeAll(async () => {
  emulators = await startEmulators();
  kinesis = makeKinesisClient(emulators.endpoints);
  s3 = makeS3Client(emulators.endpoints);
});
afterAll(async () => {
  kinesis.destroy();
  s3.destroy();
  await emulators.stop();
  rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const click = (id: string) =>
  JSON.stringify({ id, type: 'click', time: '2026-03-01T10:00:00Z', page: `/p${id.length}` });

async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(20);
  }
}

/** A fresh stream and bucket (a bucket only when asked: one test starts without it). */
async function setup(shards = 1, bucket = true): Promise<{ stream: string; bucket: string }> {
  const id = n++;
  const names = { stream: `a${id}`, bucket: `archive-${id}` };
  await kinesis.send(new CreateStreamCommand({ StreamName: names.stream, ShardCount: shards }));
  await until(
    async () =>
      (await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: names.stream })))
        .StreamDescriptionSummary?.StreamStatus === 'ACTIVE',
    'stream active',
  );
  if (bucket) await s3.send(new CreateBucketCommand({ Bucket: names.bucket }));
  return names;
}

/** Puts records in order, with partition keys spread over the shards. */
async function put(stream: string, data: string[]): Promise<void> {
  for (let i = 0; i < data.length; i += 100)
    await kinesis.send(
      new PutRecordsCommand({
        StreamName: stream,
        Records: data.slice(i, i + 100).map((d, j) => ({ Data: Buffer.from(d), PartitionKey: `pk${j % 7}` })),
      }),
    );
}

function archiver(
  names: { stream: string; bucket: string },
  options: Partial<ArchiverOptions> = {},
): Archiver {
  return new Archiver({
    kinesis,
    s3,
    streamName: names.stream,
    bucket: names.bucket,
    flushIntervalMs: 100,
    pollIntervalMs: 20,
    ...options,
  });
}

/** Every archive object's lines, by key (objects never change once written, so reads are cached). */
async function readArchive(
  bucket: string,
  cache = new Map<string, string[]>(),
): Promise<Map<string, string[]>> {
  for await (const page of paginateListObjectsV2({ client: s3 }, { Bucket: bucket })) {
    for (const { Key } of page.Contents ?? []) {
      if (!Key || Key === '_watermark.json' || cache.has(Key)) continue;
      const body = await (
        await s3.send(new GetObjectCommand({ Bucket: bucket, Key }))
      ).Body!.transformToString();
      expect(body.endsWith('\n')).toBe(true);
      cache.set(Key, body.slice(0, -1).split('\n'));
    }
  }
  return cache;
}

async function watermark(bucket: string): Promise<number | null> {
  try {
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: '_watermark.json' }));
    return (JSON.parse(await object.Body!.transformToString()) as { archivedBeforeMs: number })
      .archivedBeforeMs;
  } catch (error) {
    if ((error as Error).name === 'NoSuchKey') return null;
    throw error;
  }
}

interface StreamRecord {
  readonly shardId: string;
  readonly seq: string;
  readonly pk: string;
  readonly arrivedMs: number;
  readonly data: string;
}

/** Reads a stream independently of the archiver; each call returns everything up to now, reading only what is new. */
function streamReader(stream: string): () => Promise<StreamRecord[]> {
  const out: StreamRecord[] = [];
  const iterators = new Map<string, string | undefined>();
  return async () => {
    for (const shard of (await kinesis.send(new ListShardsCommand({ StreamName: stream }))).Shards ?? []) {
      const shardId = shard.ShardId!;
      let iterator =
        iterators.get(shardId) ??
        (
          await kinesis.send(
            new GetShardIteratorCommand({
              StreamName: stream,
              ShardId: shardId,
              ShardIteratorType: 'TRIM_HORIZON',
            }),
          )
        ).ShardIterator;
      for (;;) {
        const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator }));
        for (const r of page.Records ?? [])
          out.push({
            shardId,
            seq: r.SequenceNumber!,
            pk: r.PartitionKey!,
            arrivedMs: r.ApproximateArrivalTimestamp!.getTime(),
            data: Buffer.from(r.Data!).toString(),
          });
        iterator = page.NextShardIterator;
        if (!page.Records?.length) break;
      }
      iterators.set(shardId, iterator);
    }
    return [...out];
  };
}

const readStream = (stream: string) => streamReader(stream)();

describe('archive layout', () => {
  it('partitions by UTC arrival hour', () => {
    expect(arrivalPartition(Date.UTC(2026, 0, 31, 23, 59, 59, 999))).toBe('dt=2026-01-31/hour=23');
    expect(arrivalPartition(Date.UTC(2026, 1, 1, 0, 0, 0, 0))).toBe('dt=2026-02-01/hour=00');
  });

  it('groups a flush by kind and arrival hour, named after the first and last sequence number in each object', () => {
    const at = (h: number, m: number) => Date.UTC(2026, 0, 31, h, m);
    const lines = [
      { text: 'a', sequenceNumber: '10', arrivedMs: at(22, 59), rejected: false },
      { text: 'x', sequenceNumber: '11', arrivedMs: at(22, 59), rejected: true },
      { text: 'b', sequenceNumber: '12', arrivedMs: at(22, 59), rejected: false },
      { text: 'c', sequenceNumber: '13', arrivedMs: at(23, 0), rejected: false },
    ];
    const objects = archiveObjects('shardId-000000000001', lines);
    expect(objects).toEqual([
      {
        key: 'events/dt=2026-01-31/hour=22/shardId-000000000001-10-12.ndjson',
        body: 'a\nb\n',
        lines: 2,
        rejected: false,
      },
      {
        key: 'rejected/dt=2026-01-31/hour=22/shardId-000000000001-11-11.ndjson',
        body: 'x\n',
        lines: 1,
        rejected: true,
      },
      {
        key: 'events/dt=2026-01-31/hour=23/shardId-000000000001-13-13.ndjson',
        body: 'c\n',
        lines: 1,
        rejected: false,
      },
    ]);
    expect(archiveObjects('shardId-000000000001', lines)).toEqual(objects);
  });
});

describe('Archiver', () => {
  it('writes every record exactly once as its archive line, rejected ones apart with their data', async () => {
    const names = await setup(2);
    const valid = Array.from({ length: 150 }, (_, i) => click(`e${i}`));
    // Unreadable whatever the views: not JSON, and an event without its time.
    const poison = ['not json', JSON.stringify({ id: 'np', type: 'click', page: '/x' })];
    await put(names.stream, [...valid.slice(0, 70), poison[0], ...valid.slice(70), poison[1]]);
    const a = archiver(names);
    a.start();
    await a.idle();
    await a.stop();

    const archive = await readArchive(names.bucket);
    const stream = await readStream(names.stream);
    const expected: string[] = [];
    const expectedRejected: string[] = [];
    for (const r of stream) {
      const position = {
        shardId: r.shardId,
        sequenceNumber: r.seq,
        partitionKey: r.pk,
        arrivedMs: r.arrivedMs,
      };
      try {
        expected.push(toArchiveLine(readStreamRecord(r.data, position)));
      } catch (error) {
        expect(error).toBeInstanceOf(PoisonRecordError);
        expectedRejected.push(r.seq);
      }
    }
    const events = [...archive].filter(([key]) => key.startsWith('events/'));
    const rejected = [...archive].filter(([key]) => key.startsWith('rejected/'));
    expect(events.flatMap(([, lines]) => lines).sort()).toEqual(expected.sort());
    expect(expected).toHaveLength(150);

    for (const [key, lines] of events) {
      const parsed = lines.map((l) => JSON.parse(l) as { _seq: string; _shard: string; _am: number });
      const first = parsed[0];
      const last = parsed[parsed.length - 1];
      expect(key).toBe(
        `events/${arrivalPartition(first._am)}/${first._shard}-${first._seq}-${last._seq}.ndjson`,
      );
      for (const line of parsed) expect(key.startsWith(`events/${arrivalPartition(line._am)}/`)).toBe(true);
    }

    const rejectedLines = rejected.flatMap(([, lines]) =>
      lines.map((l) => JSON.parse(l) as Record<string, unknown>),
    );
    expect(rejectedLines.map((l) => l.sequenceNumber).sort()).toEqual(expectedRejected.sort());
    expect(rejectedLines.map((l) => l.data).sort()).toEqual([...poison].sort());
    for (const line of rejectedLines) {
      expect(Object.keys(line)).toEqual([
        'error',
        'shardId',
        'sequenceNumber',
        'partitionKey',
        'arrivedAt',
        'data',
      ]);
      expect(line.error).toMatch(/is not JSON|time/);
    }
    for (const [key] of rejected)
      expect(key).toMatch(/^rejected\/dt=\d{4}-\d{2}-\d{2}\/hour=\d{2}\/shardId-\d+-\d+-\d+\.ndjson$/);
    expect(a.stats()).toMatchObject({ recordsArchived: 150, recordsRejected: 2 });
  });

  it('never publishes a watermark past a record not yet archived, and catches up once the stream is quiet', async () => {
    const names = await setup(2);
    // A backlog of more than one full GetRecords page per shard, older than the safety margin:
    // a shard is not caught up until its last page, whatever MillisBehindLatest says.
    await put(
      names.stream,
      Array.from({ length: 3000 }, (_, i) => click(`old${i}`)),
    );
    await sleep(150);
    // Every new watermark is checked at the moment it is sent, against the stream and the archive
    // as they are then (a middleware on a real client: the check runs before the request goes out).
    const observed = makeS3Client(emulators.endpoints);
    const marks: number[] = [];
    const violations: string[] = [];
    const objects = new Map<string, string[]>();
    const archived = new Set<string>();
    const stream = streamReader(names.stream);
    observed.middlewareStack.add(
      (next) => async (args) => {
        const input = args.input as { Key?: string; Body?: string };
        // Slow writes, longer than the safety margin: reads go on meanwhile, and a watermark
        // taken from what was read rather than what was written would overtake them.
        if (input.Key?.startsWith('events/')) await sleep(120);
        if (input.Key !== '_watermark.json') return next(args);
        const mark = (JSON.parse(input.Body!) as { archivedBeforeMs: number }).archivedBeforeMs;
        if (mark === marks[marks.length - 1]) return next(args);
        marks.push(mark);
        const before = new Set(objects.keys());
        for (const [key, lines] of await readArchive(names.bucket, objects)) {
          if (before.has(key)) continue;
          for (const l of lines) {
            const line = JSON.parse(l) as { _shard: string; _seq: string };
            archived.add(`${line._shard}/${line._seq}`);
          }
        }
        for (const r of await stream())
          if (r.arrivedMs < mark && !archived.has(`${r.shardId}/${r.seq}`))
            violations.push(
              `${r.shardId}/${r.seq} arrived at ${r.arrivedMs}, before watermark ${mark}, not archived`,
            );
        return next(args);
      },
      { step: 'initialize', name: 'checkWatermark' },
    );
    // Small buffers: a flush after every page, so watermarks are written while pages are unread.
    const a = archiver(names, { s3: observed, flushIntervalMs: 100, bufferBytes: 50_000, safetyMs: 100 });
    a.start();
    let producing = true;
    const producer = (async () => {
      for (let i = 0; producing; i++) {
        await put(
          names.stream,
          Array.from({ length: 6 }, (_, j) => click(`w${i}-${j}`)),
        );
        await sleep(10);
      }
    })();
    await sleep(1500);
    producing = false;
    await producer;
    // Quiet stream: after the safety margin, everything that arrived is under the watermark.
    await sleep(150);
    await a.idle();
    await a.stop();
    observed.destroy();
    expect(violations.slice(0, 5)).toEqual([]);
    expect(marks.length).toBeGreaterThan(3);
    for (let i = 1; i < marks.length; i++) expect(marks[i]).toBeGreaterThan(marks[i - 1]);
    const last = Math.max(...(await stream()).map((r) => r.arrivedMs));
    expect(await watermark(names.bucket)).toBeGreaterThan(last);
    expect(a.stats().watermarkMs).toBe(await watermark(names.bucket));
  });

  it('rewrites a failed flush under the same object names, before newer records', async () => {
    const names = await setup(1, false);
    const a = archiver(names, { flushIntervalMs: 60_000 });
    a.start();
    await put(
      names.stream,
      Array.from({ length: 10 }, (_, i) => click(`f${i}`)),
    );
    await until(() => a.stats().bufferedRecords === 10, 'first records buffered');
    await expect(a.flush()).rejects.toThrow(/bucket/i);
    await put(
      names.stream,
      Array.from({ length: 5 }, (_, i) => click(`g${i}`)),
    );
    await until(() => a.stats().bufferedRecords === 5, 'later records buffered');
    await s3.send(new CreateBucketCommand({ Bucket: names.bucket }));
    await a.flush();
    await a.stop();
    const stream = await readStream(names.stream);
    const seq = (i: number) => stream[i].seq;
    const shard = stream[0].shardId;
    const keys = [...(await readArchive(names.bucket)).keys()].map((k) => k.split('/').pop());
    expect(keys.sort()).toEqual(
      [`${shard}-${seq(0)}-${seq(9)}.ndjson`, `${shard}-${seq(10)}-${seq(14)}.ndjson`].sort(),
    );
    expect(a.stats()).toMatchObject({ recordsArchived: 15, objectsWritten: 2 });
  });

  it('resumes from its checkpoint file after a restart: nothing archived twice, nothing missed', async () => {
    const names = await setup(2);
    const checkpointFile = path.join(dir, `${names.stream}.json`);
    await put(
      names.stream,
      Array.from({ length: 40 }, (_, i) => click(`r${i}`)),
    );
    const first = archiver(names, { checkpointFile, flushIntervalMs: 60_000 });
    first.start();
    await until(() => first.stats().bufferedRecords === 40, 'records buffered');
    await first.stop(); // stop flushes what was read
    expect(first.stats().recordsArchived).toBe(40);
    await put(
      names.stream,
      Array.from({ length: 20 }, (_, i) => click(`s${i}`)),
    );
    const second = archiver(names, { checkpointFile });
    second.start();
    await second.idle();
    await second.stop();
    expect(second.stats().recordsArchived).toBe(20);
    const ids = [...(await readArchive(names.bucket)).values()]
      .flat()
      .map((l) => (JSON.parse(l) as { id: string }).id);
    expect(ids.sort()).toEqual(
      [
        ...Array.from({ length: 40 }, (_, i) => `r${i}`),
        ...Array.from({ length: 20 }, (_, i) => `s${i}`),
      ].sort(),
    );
    const saved = JSON.parse(readFileSync(checkpointFile, 'utf8')) as { sequences: Record<string, string> };
    expect(Object.keys(saved.sequences)).toHaveLength(2);
  });

  it('archives the children of a reshard found while running, each record once', async () => {
    const names = await setup(1);
    const a = archiver(names);
    a.start();
    await put(
      names.stream,
      Array.from({ length: 5 }, (_, i) => click(`p${i}`)),
    );
    await a.idle();
    const parent = (await kinesis.send(new ListShardsCommand({ StreamName: names.stream }))).Shards![0]
      .ShardId!;
    await kinesis.send(
      new SplitShardCommand({
        StreamName: names.stream,
        ShardToSplit: parent,
        NewStartingHashKey: (2n ** 127n).toString(),
      }),
    );
    await until(
      async () =>
        (await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: names.stream })))
          .StreamDescriptionSummary?.StreamStatus === 'ACTIVE',
      'split done',
    );
    await put(
      names.stream,
      Array.from({ length: 20 }, (_, i) => click(`c${i}`)),
    );
    await a.idle();
    await a.stop();
    const lines = [...(await readArchive(names.bucket)).values()]
      .flat()
      .map((l) => JSON.parse(l) as { id: string; _shard: string });
    expect(lines.map((l) => l.id).sort()).toEqual(
      [
        ...Array.from({ length: 5 }, (_, i) => `p${i}`),
        ...Array.from({ length: 20 }, (_, i) => `c${i}`),
      ].sort(),
    );
    expect(new Set(lines.map((l) => l._shard)).size).toBe(3);
    expect(a.stats().shards.find((s) => s.shardId === parent)?.ended).toBe(true);
  });

  it('flushes when the buffer reaches bufferBytes, without waiting for the interval', async () => {
    const names = await setup(1);
    const a = archiver(names, { flushIntervalMs: 60_000, bufferBytes: 2_000 });
    a.start();
    await put(
      names.stream,
      Array.from({ length: 30 }, (_, i) => click(`b${i}`)),
    );
    // The interval is a minute away: only the size can have triggered these writes.
    await until(() => a.stats().recordsArchived === 30, 'a size-triggered flush', 5_000);
    await a.stop();
  });
});
