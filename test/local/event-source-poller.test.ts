import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  ListShardsCommand,
  PutRecordsCommand,
  SplitShardCommand,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import type {
  Context,
  KinesisStreamBatchResponse,
  KinesisStreamEvent,
  KinesisStreamTumblingWindowEvent,
} from 'aws-lambda';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeKinesisClient } from '../../lambdas/runtime/clients';
import { DeadLetterQueue } from '../../local/dead-letter-queue';
import { startEmulators, type Emulators } from '../../local/emulators';
import { EventSourcePoller, type EventSourcePollerOptions } from '../../local/event-source-poller';
import { ShardReader } from '../../local/shard-reader';
import { ManualClock } from '../services/in-memory-stores';

/** The local event source against kinesalite: Lambda's ESM semantics, which the emulators lack. */
let emulators: Emulators;
let kinesis: KinesisClient;
const dir = mkdtempSync(path.join(tmpdir(), 'streamfold-poller-'));
let streamNo = 0;

beforeAll(async () => {
  emulators = await startEmulators();
  kinesis = makeKinesisClient(emulators.endpoints);
});
afterAll(async () => {
  kinesis.destroy();
  await emulators.stop();
  rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function active(name: string): Promise<void> {
  for (;;) {
    const { StreamDescriptionSummary } = await kinesis.send(
      new DescribeStreamSummaryCommand({ StreamName: name }),
    );
    if (StreamDescriptionSummary?.StreamStatus === 'ACTIVE') return;
    await sleep(10);
  }
}

async function put(name: string, records: Array<string | [data: string, key: string]>): Promise<void> {
  await kinesis.send(
    new PutRecordsCommand({
      StreamName: name,
      Records: records.map((r) => {
        const [data, key] = typeof r === 'string' ? [r, 'k'] : r;
        return { Data: Buffer.from(data), PartitionKey: key };
      }),
    }),
  );
}

async function stream(records: Array<string | [string, string]> = [], shards = 1): Promise<string> {
  const name = `s${streamNo++}`;
  await kinesis.send(new CreateStreamCommand({ StreamName: name, ShardCount: shards }));
  await active(name);
  if (records.length > 0) await put(name, records);
  return name;
}

const data = (event: KinesisStreamEvent) =>
  event.Records.map((r) => Buffer.from(r.kinesis.data, 'base64').toString());

/** Options that keep the tests fast: AWS-like semantics with short waits. */
function poller(options: Omit<EventSourcePollerOptions, 'client'>): EventSourcePoller {
  return new EventSourcePoller({
    client: kinesis,
    maximumBatchingWindowMs: 10,
    pollIntervalMs: 20,
    ...options,
  });
}

/** Waits for a state the poller reaches by itself; the test's timeout bounds it. */
async function until(check: () => boolean): Promise<void> {
  while (!check()) await sleep(10);
}

const pendingRecords = (p: EventSourcePoller) => p.stats().shards.reduce((n, s) => n + s.pendingRecords, 0);

async function run(p: EventSourcePoller): Promise<void> {
  p.start();
  try {
    await p.idle(20_000);
  } finally {
    await p.stop();
  }
}

describe('EventSourcePoller', () => {
  it('sends a real KinesisStreamEvent and a Lambda context', async () => {
    const before = Date.now();
    const name = await stream(['{"hello":1}']);
    const events: KinesisStreamEvent[] = [];
    const contexts: Context[] = [];
    await run(
      poller({
        streamName: name,
        functionName: 'speed',
        handler: async (event, context) => {
          events.push(event);
          contexts.push(context);
        },
      }),
    );
    const shardId = (await kinesis.send(new ListShardsCommand({ StreamName: name }))).Shards![0].ShardId!;
    const [record] = events[0].Records;
    expect(record).toMatchObject({
      eventSource: 'aws:kinesis',
      eventVersion: '1.0',
      eventName: 'aws:kinesis:record',
      awsRegion: 'us-east-1',
      eventSourceARN: `arn:aws:kinesis:us-east-1:000000000000:stream/${name}`,
      eventID: `${shardId}:${record.kinesis.sequenceNumber}`,
      kinesis: {
        kinesisSchemaVersion: '1.0',
        partitionKey: 'k',
        data: Buffer.from('{"hello":1}').toString('base64'),
      },
    });
    expect(record.invokeIdentityArn).toMatch(/^arn:aws:iam::000000000000:role\//);
    expect(record.kinesis.sequenceNumber).toMatch(/^\d+$/);
    // Seconds as a float with millisecond precision, as Lambda sends it.
    const seconds = record.kinesis.approximateArrivalTimestamp;
    expect(seconds).toBeGreaterThanOrEqual(Math.floor(before / 1000));
    expect(seconds).toBeLessThanOrEqual(Date.now() / 1000);
    expect(Math.abs(seconds * 1000 - Math.round(seconds * 1000))).toBeLessThan(1e-3);
    expect(contexts[0]).toMatchObject({
      functionName: 'speed',
      functionVersion: '$LATEST',
      invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:speed',
    });
    expect(contexts[0].awsRequestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(contexts[0].getRemainingTimeInMillis()).toBeGreaterThan(0);
  });

  it('keeps order per shard, one invocation at a time per shard, every record once', async () => {
    const records: Array<[string, string]> = Array.from({ length: 240 }, (_, i) => [
      `k${i % 12}:${i}`,
      `k${i % 12}`,
    ]);
    const name = await stream([], 3);
    for (let i = 0; i < records.length; i += 40) await put(name, records.slice(i, i + 40));
    const seen = new Map<string, number>();
    const perKey = new Map<string, number[]>();
    const perShard = new Map<string, bigint[]>();
    const inFlight = new Set<string>();
    let overlapped = false;
    const sizes: number[] = [];
    await run(
      poller({
        streamName: name,
        batchSize: 7,
        handler: async (event) => {
          const shard = event.Records[0].eventID.split(':')[0];
          if (inFlight.has(shard)) overlapped = true;
          inFlight.add(shard);
          sizes.push(event.Records.length);
          await sleep(1);
          for (const r of event.Records) {
            expect(r.eventID.split(':')[0]).toBe(shard);
            const list = perShard.get(shard) ?? [];
            list.push(BigInt(r.kinesis.sequenceNumber));
            perShard.set(shard, list);
          }
          for (const d of data(event)) {
            seen.set(d, (seen.get(d) ?? 0) + 1);
            const [key, i] = d.split(':');
            perKey.set(key, [...(perKey.get(key) ?? []), Number(i)]);
          }
          inFlight.delete(shard);
        },
      }),
    );
    expect(overlapped).toBe(false);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(7);
    expect(perShard.size).toBe(3);
    for (const seqs of perShard.values())
      for (let i = 1; i < seqs.length; i++) expect(seqs[i] > seqs[i - 1]).toBe(true);
    for (const values of perKey.values()) expect(values).toEqual([...values].sort((a, b) => a - b));
    expect(seen.size).toBe(records.length);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
  });

  it("reads a shard that is behind again at once, and one read to its tip only at the polling interval (AWS's once a second)", async () => {
    const name = await stream(Array.from({ length: 25 }, (_, i) => `r${i}`));
    // A client of its own, to time every GetRecords the poller starts.
    const client = makeKinesisClient(emulators.endpoints);
    const reads: { at: number; records: number }[] = [];
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const at = Date.now();
        const result = await next(args);
        if (context.commandName === 'GetRecordsCommand')
          reads.push({ at, records: (result.output as { Records?: unknown[] }).Records?.length ?? 0 });
        return result;
      },
      { step: 'initialize' },
    );
    const handled: string[] = [];
    const p = new EventSourcePoller({
      client,
      streamName: name,
      batchSize: 10,
      maximumBatchingWindowMs: 0,
      pollIntervalMs: 500,
      handler: async (event) => {
        handled.push(...data(event as KinesisStreamEvent));
      },
    });
    p.start();
    try {
      await until(() => reads.length >= 5);
    } finally {
      await p.stop();
      client.destroy();
    }
    expect(handled).toHaveLength(25);
    expect(reads.slice(0, 3).map((r) => r.records)).toEqual([10, 10, 5]);
    const gaps = reads.slice(1).map((r, i) => r.at - reads[i].at);
    // Full pages: behind, read again at once (the invocation between is all that waits).
    expect(gaps[0]).toBeLessThan(400);
    expect(gaps[1]).toBeLessThan(400);
    // The short page reached the tip: every read after it waits for the interval, records or not.
    for (const gap of gaps.slice(2)) expect(gap).toBeGreaterThanOrEqual(490);
  });

  it('gathers records for the batching window, and cuts batches at batchSize', async () => {
    const name = await stream();
    const sizes: number[] = [];
    const clock = new ManualClock(Date.now());
    const p = poller({
      streamName: name,
      batchSize: 4,
      // Five minutes, AWS's longest window: only the test's clock can close it.
      maximumBatchingWindowMs: 300_000,
      clock,
      handler: async (event) => void sizes.push(event.Records.length),
    });
    p.start();
    for (const r of ['a', 'b', 'c']) await put(name, [r]);
    await until(() => pendingRecords(p) === 3);
    expect(sizes).toEqual([]);
    clock.advance(300_000);
    await p.idle();
    // a, b, c trickled in within one window; then 6 records make a full batch and a remainder.
    expect(sizes).toEqual([3]);
    await put(name, ['d', 'e', 'f', 'g', 'h', 'i']);
    await until(() => sizes.length === 2 && pendingRecords(p) === 2);
    expect(sizes).toEqual([3, 4]);
    clock.advance(300_000);
    await p.idle();
    await p.stop();
    expect(sizes).toEqual([3, 4, 2]);
  });

  it('retries from the lowest reported failure, whatever the order of the reports', async () => {
    const name = await stream(['a', 'b', 'c', 'd']);
    const seen: string[] = [];
    let failOnce = true;
    await run(
      poller({
        streamName: name,
        bisectBatchOnFunctionError: false,
        // On a clock that stands still the window never closes: the batch goes when it holds all four.
        batchSize: 4,
        clock: new ManualClock(0),
        handler: async (event): Promise<KinesisStreamBatchResponse> => {
          seen.push(...data(event));
          if (!failOnce) return { batchItemFailures: [] };
          failOnce = false;
          return {
            batchItemFailures: [
              { itemIdentifier: event.Records[3].kinesis.sequenceNumber },
              { itemIdentifier: event.Records[2].kinesis.sequenceNumber },
            ],
          };
        },
      }),
    );
    expect(seen).toEqual(['a', 'b', 'c', 'd', 'c', 'd']);
  });

  it.each([
    ['an empty itemIdentifier', ''],
    ['an itemIdentifier not in the batch', '12345'],
  ])('retries the whole batch when the function reports %s', async (_, identifier) => {
    const name = await stream(['a', 'b']);
    const seen: string[] = [];
    let failOnce = true;
    await run(
      poller({
        streamName: name,
        bisectBatchOnFunctionError: false,
        batchSize: 2,
        clock: new ManualClock(0),
        handler: async (event) => {
          seen.push(...data(event));
          if (!failOnce) return;
          failOnce = false;
          return { batchItemFailures: [{ itemIdentifier: identifier }] };
        },
      }),
    );
    expect(seen).toEqual(['a', 'b', 'a', 'b']);
  });

  it('isolates a poison record by bisection, dead-letters it with its data, and processes every other record once', async () => {
    const records = Array.from({ length: 20 }, (_, i) => (i === 13 ? 'poison' : `r${i}`));
    const name = await stream(records);
    const processed = new Map<string, number>();
    const offered = new Map<string, number>();
    let poisonAlone = 0;
    const dlq = new DeadLetterQueue();
    const p = poller({
      streamName: name,
      batchSize: 8,
      maximumRetryAttempts: 2,
      onFailure: dlq,
      handler: async (event) => {
        const batch = data(event);
        for (const d of batch) offered.set(d, (offered.get(d) ?? 0) + 1);
        if (batch.includes('poison')) {
          if (batch.length === 1) poisonAlone++;
          throw new TypeError('cannot parse "poison"');
        }
        for (const d of batch) processed.set(d, (processed.get(d) ?? 0) + 1);
      },
    });
    await run(p);
    expect([...processed.keys()].sort()).toEqual(records.filter((r) => r !== 'poison').sort());
    expect([...processed.values()].every((n) => n === 1)).toBe(true);
    // Splitting consumed no retry: alone, the poison record ran once plus maximumRetryAttempts times.
    expect(poisonAlone).toBe(3);
    const entries = await dlq.list();
    expect(entries).toHaveLength(1);
    const [entry] = entries;
    expect(entry.requestContext.condition).toBe('RetryAttemptsExhausted');
    expect(entry.requestContext.approximateInvokeCount).toBe(offered.get('poison'));
    expect(entry.responseContext.functionError).toBe('Unhandled');
    expect(entry.lastError).toBe('TypeError: cannot parse "poison"');
    expect(entry.KinesisBatchInfo).toMatchObject({
      batchSize: 1,
      startSequenceNumber: entry.records[0].kinesis.sequenceNumber,
      endSequenceNumber: entry.records[0].kinesis.sequenceNumber,
      streamArn: `arn:aws:kinesis:us-east-1:000000000000:stream/${name}`,
    });
    expect(data({ Records: [...entry.records] })).toEqual(['poison']);
    expect(p.stats()).toMatchObject({ recordsProcessed: 19, deadLettered: 1 });
  });

  it('without bisection, dead-letters the whole failing batch after its retries and moves on', async () => {
    const name = await stream(['a', 'b', 'c', 'd']);
    const dlq = new DeadLetterQueue();
    const handled: string[] = [];
    let calls = 0;
    await run(
      poller({
        streamName: name,
        batchSize: 3,
        bisectBatchOnFunctionError: false,
        maximumRetryAttempts: 1,
        onFailure: dlq,
        handler: async (event) => {
          calls++;
          if (data(event).includes('b')) throw new Error('b is bad');
          handled.push(...data(event));
        },
      }),
    );
    const [entry] = await dlq.list();
    expect(data({ Records: [...entry.records] })).toEqual(['a', 'b', 'c']);
    expect(entry.requestContext.approximateInvokeCount).toBe(2);
    expect(handled).toEqual(['d']);
    expect(calls).toBe(3);
  });

  it('dead-letters records older than maximumRecordAge without invoking, and invokes the younger ones', async () => {
    const name = await stream(['old1', 'old2']);
    const oldPutEnded = Date.now();
    // Arrival stamps are whole milliseconds: fresh arrives strictly after the old ones.
    await until(() => Date.now() > oldPutEnded);
    const freshPutStarted = Date.now();
    await put(name, ['fresh']);
    const invoked: string[] = [];
    const dlq = new DeadLetterQueue();
    await run(
      poller({
        streamName: name,
        maximumRecordAgeMs: 60_000,
        // Seen from this instant fresh is at most 60 s old, old1 and old2 more than that.
        clock: new ManualClock(freshPutStarted + 60_000),
        // The window would never close on a clock that stands still.
        maximumBatchingWindowMs: 0,
        onFailure: dlq,
        handler: async (event) => void invoked.push(...data(event)),
      }),
    );
    expect(invoked).toEqual(['fresh']);
    const [entry] = await dlq.list();
    expect(entry.requestContext).toMatchObject({ condition: 'RecordAgeExceeded', approximateInvokeCount: 0 });
    expect(data({ Records: [...entry.records] })).toEqual(['old1', 'old2']);
  });

  it('resumes after its checkpoint on restart: a stop waits for the invocation in flight, nothing runs twice', async () => {
    const name = await stream(['x1', 'x2', 'x3']);
    const checkpointFile = path.join(dir, `${name}.json`);
    const seen: string[] = [];
    let started!: () => void;
    const invoked = new Promise<void>((resolve) => (started = resolve));
    let finish!: () => void;
    const finishing = new Promise<void>((resolve) => (finish = resolve));
    let finished = false;
    const first = poller({
      streamName: name,
      checkpointFile,
      handler: async (e) => {
        started();
        await finishing;
        seen.push(...data(e));
        finished = true;
      },
    });
    first.start();
    await invoked;
    let stopped = false;
    const stopping = first.stop().then(() => (stopped = true));
    // The invocation is held until finish(): a stop that waits for it cannot return, however long this takes.
    await sleep(50);
    expect(stopped).toBe(false);
    finish();
    await stopping;
    expect(finished).toBe(true);
    const saved = JSON.parse(readFileSync(checkpointFile, 'utf8')) as { streamName: string; shards: object };
    expect(saved.streamName).toBe(name);
    expect(Object.values(saved.shards)).toHaveLength(1);

    await put(name, ['x4']);
    await run(poller({ streamName: name, checkpointFile, handler: async (e) => void seen.push(...data(e)) }));
    expect(seen).toEqual(['x1', 'x2', 'x3', 'x4']);
  });

  it('fails to start on a checkpoint file of another stream, saying so', async () => {
    const name = await stream(['y']);
    const checkpointFile = path.join(dir, `${name}.json`);
    await run(poller({ streamName: name, checkpointFile, handler: async () => undefined }));
    const other = await stream(['z']);
    const p = poller({ streamName: other, checkpointFile, handler: async () => undefined });
    p.start();
    await expect(p.idle(5000)).rejects.toThrow(`holds checkpoints of stream ${name}, not ${other}`);
    await p.stop();
  });

  it('starts at LATEST when asked: records put before the start are skipped', async () => {
    const name = await stream(['before']);
    const seen: string[] = [];
    const p = poller({
      streamName: name,
      startingPosition: 'LATEST',
      handler: async (e) => void seen.push(...data(e)),
    });
    p.start();
    await p.idle();
    await put(name, ['after']);
    await p.idle();
    await p.stop();
    expect(seen).toEqual(['after']);
  });

  it('finishes a parent shard before its children after a reshard, found while running', async () => {
    const name = await stream();
    const seen: string[] = [];
    const p = poller({ streamName: name, batchSize: 2, handler: async (e) => void seen.push(...data(e)) });
    p.start();
    await put(
      name,
      ['p1', 'p2', 'p3'].map((d) => [d, 'same']),
    );
    await p.idle();
    const parent = (await kinesis.send(new ListShardsCommand({ StreamName: name }))).Shards![0].ShardId!;
    await kinesis.send(
      new SplitShardCommand({
        StreamName: name,
        ShardToSplit: parent,
        NewStartingHashKey: (2n ** 127n).toString(),
      }),
    );
    await active(name);
    await put(
      name,
      ['c1', 'c2', 'c3'].map((d) => [d, 'same']),
    );
    await p.idle();
    await p.stop();
    expect(seen).toEqual(['p1', 'p2', 'p3', 'c1', 'c2', 'c3']);
    const shards = p.stats().shards;
    expect(shards).toHaveLength(3);
    expect(shards.find((s) => s.shardId === parent)?.status).toBe('ended');
  });

  it('redrives dead-lettered records to the handler and empties the file-backed queue', async () => {
    const file = path.join(dir, 'dlq.ndjson');
    const dlq = new DeadLetterQueue({ file });
    const name = await stream(['bad']);
    let healthy = false;
    const handled: string[] = [];
    const handler = async (event: KinesisStreamEvent) => {
      if (!healthy) throw new Error('down');
      handled.push(...data(event));
    };
    await run(poller({ streamName: name, maximumRetryAttempts: 0, onFailure: dlq, handler }));
    expect(await dlq.depth()).toBe(1);
    expect(readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(1);
    healthy = true;
    expect(await new DeadLetterQueue({ file }).redrive(handler)).toMatchObject({ redriven: 1, remaining: 0 });
    expect(handled).toEqual(['bad']);
    expect(readFileSync(file, 'utf8')).toBe('');
  });

  it('refuses options AWS would refuse, saying what was given', () => {
    const make = (o: Partial<EventSourcePollerOptions>) => () =>
      new EventSourcePoller({ client: kinesis, streamName: 's', handler: async () => undefined, ...o });
    expect(make({ batchSize: 0 })).toThrow('batchSize must be an integer between 1 and 10000 (given 0)');
    expect(make({ maximumRetryAttempts: -2 })).toThrow(/maximumRetryAttempts .* \(given -2\)/);
    expect(make({ tumblingWindowMs: 901_000 })).toThrow(
      'tumblingWindowMs must be an integer between 0 and 900000 (0 turns tumbling windows off) (given 901000)',
    );
  });
});

/** A tumbling-window invocation as the handler sees it, and what it answered. */
interface WindowCall {
  readonly records: string[];
  readonly window: { start: string; end: string };
  readonly state: { seen?: string[] };
  readonly final: boolean;
  readonly early: boolean;
}

/** A windowed handler that keeps every record it was given in its state (`seen`), as a window aggregate would. */
function windowHandler(calls: WindowCall[], fail: (call: WindowCall) => boolean = () => false) {
  return async (event: KinesisStreamEvent | KinesisStreamTumblingWindowEvent) => {
    const e = event as KinesisStreamTumblingWindowEvent;
    const call: WindowCall = {
      records: data(e),
      window: e.window,
      state: structuredClone(e.state ?? {}) as { seen?: string[] },
      final: e.isFinalInvokeForWindow,
      early: e.isWindowTerminatedEarly,
    };
    calls.push(call);
    if (fail(call)) throw new Error('injected failure');
    return { state: { seen: [...(call.state.seen ?? []), ...call.records] } };
  };
}

/** Waits until the wall clock is `offsetMs` into a window of `widthMs` (records are windowed on arrival time). */
async function intoWindow(widthMs: number, offsetMs: number): Promise<void> {
  const now = Date.now();
  const target = Math.floor(now / widthMs) * widthMs + offsetMs;
  await sleep(target > now ? target - now : target + widthMs - now);
}

describe('EventSourcePoller with tumbling windows (AWS services-kinesis-windows semantics)', () => {
  it('keeps each batch in one window, carries the state within a window, and closes each with a final invoke', async () => {
    const name = await stream();
    const calls: WindowCall[] = [];
    const p = poller({
      streamName: name,
      batchSize: 2,
      tumblingWindowMs: 1000,
      handler: windowHandler(calls),
    });
    p.start();
    await intoWindow(1000, 100);
    await put(name, ['a1', 'a2', 'a3']);
    await intoWindow(1000, 100);
    await put(name, ['b1']);
    // The second window closes by time once it is over: its end, and the poller's next look.
    await until(() => calls.filter((c) => c.final).length >= 2);
    await p.stop();
    const windows = calls.map((c) => c.window.start);
    expect(new Set(windows).size).toBe(2);
    // Window 1: a1 a2 | a3 (batchSize 2), then its final invoke with everything folded; window 2 afresh.
    expect(calls.map((c) => [c.records, c.state.seen ?? [], c.final])).toEqual([
      [['a1', 'a2'], [], false],
      [['a3'], ['a1', 'a2'], false],
      [[], ['a1', 'a2', 'a3'], true],
      [['b1'], [], false],
      [[], ['b1'], true],
    ]);
    expect(calls[0].window.start < calls[3].window.start).toBe(true);
    expect(Date.parse(calls[0].window.end) - Date.parse(calls[0].window.start)).toBe(1000);
    expect(p.stats().shards[0].windowsClosed).toBe(2);
  });

  it('retries a failed invocation with the previous state, and a failed final invoke until it succeeds', async () => {
    const name = await stream();
    const calls: WindowCall[] = [];
    let batchFailures = 0;
    let finalFailures = 0;
    const p = poller({
      streamName: name,
      batchSize: 2,
      tumblingWindowMs: 1000,
      bisectBatchOnFunctionError: false,
      // The second batch fails once, the final invoke twice.
      handler: windowHandler(calls, (c) =>
        c.final ? finalFailures++ < 2 : c.records[0] === 'x3' && batchFailures++ < 1,
      ),
    });
    p.start();
    await intoWindow(1000, 100);
    await put(name, ['x1', 'x2', 'x3']);
    await until(() => calls.filter((c) => c.final).length >= 3);
    await p.stop();
    expect(calls.map((c) => [c.records, c.state.seen ?? [], c.final])).toEqual([
      [['x1', 'x2'], [], false],
      [['x3'], ['x1', 'x2'], false],
      [['x3'], ['x1', 'x2'], false],
      [[], ['x1', 'x2', 'x3'], true],
      [[], ['x1', 'x2', 'x3'], true],
      [[], ['x1', 'x2', 'x3'], true],
    ]);
  });

  it('writes the state with the checkpoint: a restart resumes the window with the last successful state', async () => {
    const name = await stream(['k1', 'k2']);
    const checkpointFile = path.join(dir, `${name}.json`);
    const calls: WindowCall[] = [];
    await run(
      poller({ streamName: name, checkpointFile, tumblingWindowMs: 900_000, handler: windowHandler(calls) }),
    );
    const saved = JSON.parse(readFileSync(checkpointFile, 'utf8')) as CheckpointWithWindows;
    expect(Object.values(saved.windows).map((w) => w.state)).toEqual([{ seen: ['k1', 'k2'] }]);
    await put(name, ['k3']);
    const after: WindowCall[] = [];
    await run(
      poller({ streamName: name, checkpointFile, tumblingWindowMs: 900_000, handler: windowHandler(after) }),
    );
    expect(after.map((c) => [c.records, c.state.seen])).toEqual([[['k3'], ['k1', 'k2']]]);
  });

  it('ends a window early when the state passes 1 MB: a final invoke with that state, then the same window afresh', async () => {
    const name = await stream(['big', 'small']);
    const calls: WindowCall[] = [];
    const p = poller({
      streamName: name,
      batchSize: 1,
      tumblingWindowMs: 900_000,
      handler: async (event) => {
        const e = event as KinesisStreamTumblingWindowEvent;
        calls.push({
          records: data(e),
          window: e.window,
          state: e.state ?? {},
          final: e.isFinalInvokeForWindow,
          early: e.isWindowTerminatedEarly,
        });
        return { state: { seen: data(e), pad: data(e)[0] === 'big' ? 'x'.repeat(1_100_000) : '' } };
      },
    });
    await run(p);
    expect(calls.map((c) => [c.records, c.final, c.early])).toEqual([
      [['big'], false, false],
      [[], true, true],
      [['small'], false, false],
    ]);
    expect(calls[1].state.seen).toEqual(['big']);
    expect(calls[2].state).toEqual({});
    expect(calls[2].window).toEqual(calls[0].window);
  });

  it('counts an answer without state as a failed invocation', async () => {
    const name = await stream(['n1']);
    let invocations = 0;
    const p = poller({
      streamName: name,
      tumblingWindowMs: 900_000,
      maximumRetryAttempts: 1,
      onFailure: new DeadLetterQueue(),
      handler: async () => {
        invocations++;
        return { batchItemFailures: [] };
      },
    });
    await run(p);
    expect(invocations).toBe(2);
    expect(p.stats().deadLettered).toBe(1);
  });
});

interface CheckpointWithWindows {
  readonly windows: Record<string, { startMs: number; state: unknown }>;
}

describe('EventSourcePoller lag', () => {
  it('counts the records fetched but not processed: a slow invocation shows as lag, not as 0', async () => {
    // A black-box probe (2026-12-04): the last read had found the shard at its tip, so the status
    // said 0 ms behind while 1,750 accepted events waited behind a slow invocation.
    const name = await stream(['a', 'b']);
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    let invoked = false;
    const p = poller({
      streamName: name,
      handler: async () => {
        invoked = true;
        await held;
      },
    });
    p.start();
    try {
      await until(() => invoked);
      await sleep(1_200);
      // The reader's own figure is 0 (it read to the tip); the two records in flight are over a second old.
      expect(p.stats().millisBehindLatest).toBeGreaterThanOrEqual(1_000);
      expect(p.stats().shards[0].millisBehindLatest).toBeGreaterThanOrEqual(1_000);
      release();
      await p.idle(20_000);
      expect(p.stats().millisBehindLatest).toBe(0);
    } finally {
      release();
      await p.stop();
    }
  });
});

describe('ShardReader', () => {
  it('reports how far behind a full page leaves it, although kinesalite always answers 0', async () => {
    const name = await stream(['a', 'b', 'c', 'd', 'e', 'f']);
    await sleep(1_100);
    const reader = new ShardReader(kinesis, name, 'shardId-000000000000', undefined, 'TRIM_HORIZON');
    const page = await reader.fetch(4);
    expect(page.records).toHaveLength(4);
    expect(page.millisBehindLatest).toBeGreaterThanOrEqual(1_000);
    const rest = await reader.fetch(100);
    expect(rest.records).toHaveLength(2);
    expect(rest.millisBehindLatest).toBe(0);
  });
});

describe('TtlSweeper', () => {
  it('deletes expired items only, as DynamoDB TTL would', async () => {
    const { CreateTableCommand, waitUntilTableExists } = await import('@aws-sdk/client-dynamodb');
    const { PutCommand, ScanCommand } = await import('@aws-sdk/lib-dynamodb');
    const { makeDynamoDbClient, makeDynamoDocumentClient } = await import('../../lambdas/runtime/clients');
    const { TtlSweeper } = await import('../../local/ttl-sweeper');
    const { pkSkTable } = await import('../../local/resources');
    const dynamodb = makeDynamoDbClient(emulators.endpoints);
    await dynamodb.send(new CreateTableCommand(pkSkTable('claims')));
    // CREATING until dynalite's timer fires, which under load comes after the next request.
    await waitUntilTableExists(
      { client: dynamodb, maxWaitTime: 30, minDelay: 0.05 },
      { TableName: 'claims' },
    );
    const doc = makeDynamoDocumentClient(emulators.endpoints);
    await doc.send(new PutCommand({ TableName: 'claims', Item: { pk: 'old', sk: 'claim', expiresAt: 100 } }));
    await doc.send(new PutCommand({ TableName: 'claims', Item: { pk: 'new', sk: 'claim', expiresAt: 300 } }));
    expect(await new TtlSweeper(doc, 'claims').sweep(200)).toBe(1);
    expect((await doc.send(new ScanCommand({ TableName: 'claims' }))).Items?.map((i) => i.pk)).toEqual([
      'new',
    ]);
  });
});
