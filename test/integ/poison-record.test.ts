import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import type { KinesisStreamBatchResponse } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateViews } from '../../lambdas/core/view';
import { makeKinesisClient } from '../../lambdas/runtime/clients';
import type { DeadLetterEntry } from '../../local/dead-letter-entry';
import type { KinesisBatchHandler } from '../../local/lambda-invocation';
import { DEFAULT_OPTIONS, type LocalPipeline } from '../../local/pipeline';
import { testPipeline } from './test-pipeline';

/**
 * One bad record in a batch of 500: the speed function fails on it every time (a bug its payload
 * triggers, played by a wrapper around the real handler). It reaches the dead-letter destination,
 * with its payload, after the configured bisections and retries; the other 499 apply exactly
 * once; the shard moves on; once the bug is fixed, a redrive applies the record once, delivering
 * it again changes nothing, and a batch run over the archive (which holds it) keeps it once.
 *
 * The bad record is the only one of its speed row (another device): a row's fence is the highest
 * sequence number applied per shard, so a redriven record whose row a later record of its shard
 * has written is fenced off, and counted only once the batch cutoff passes its arrival
 * (docs/deploy.md, "When records fail").
 */
const views = validateViews([
  {
    name: 'readings',
    eventType: 'sensor.reading',
    key: ['deviceId'],
    granularity: '1h',
    measures: { readings: { kind: 'count' }, total: { kind: 'sum', field: 'value' } },
  },
]);
const RETRIES = 3;
let bugFixed = false;
let pipeline: LocalPipeline;

/** The function as deployed, except that it fails on any record whose payload holds `"bug":true`. */
const withBug =
  (invoke: KinesisBatchHandler): KinesisBatchHandler =>
  async (event, context) => {
    const bad = bugFixed
      ? -1
      : event.Records.findIndex((r) =>
          Buffer.from(r.kinesis.data, 'base64').toString().includes('"bug":true'),
        );
    if (bad < 0) return invoke(event, context);
    const before = bad > 0 ? await invoke({ Records: event.Records.slice(0, bad) }, context) : undefined;
    if (before && (before.batchItemFailures ?? []).length > 0) return before;
    return {
      batchItemFailures: [{ itemIdentifier: event.Records[bad].kinesis.sequenceNumber }],
    } satisfies KinesisStreamBatchResponse;
  };

beforeAll(async () => {
  pipeline = testPipeline(views, {
    shards: 1,
    speedBatchSize: 500,
    speedRetryAttempts: RETRIES,
    wrapSpeedInvoke: withBug,
    archiveFlushMs: DEFAULT_OPTIONS.archiveFlushMs,
    speedBatchingWindowMs: DEFAULT_OPTIONS.speedBatchingWindowMs,
  });
  await pipeline.start();
});
afterAll(async () => {
  await pipeline?.stop();
});

function reading(i: number, extra: Record<string, unknown> = {}) {
  return {
    id: `p-${i}`,
    type: 'sensor.reading',
    time: '2026-01-01T10:00:00Z',
    deviceId: 'd1',
    value: i,
    ...extra,
  };
}

async function served(device = 'd1'): Promise<{ readings: number; total: number }> {
  const res = await fetch(
    `${pipeline.url}/views/readings?deviceId=${device}&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z`,
  );
  const body = (await res.json()) as { buckets: { measures: { readings: number; total: number } }[] };
  return body.buckets[0]?.measures ?? { readings: 0, total: 0 };
}

const sum = (from: number, to: number) => ((from + to - 1) * (to - from)) / 2;

describe('a poison record in a batch of 500', () => {
  it('is dead-lettered with its payload, the other 499 apply once, the shard moves on, and a redrive applies it once', async () => {
    const kinesis = makeKinesisClient(pipeline.endpoints!);
    const badIndex = 317;
    const batch = Array.from({ length: 500 }, (_, i) =>
      i === badIndex ? reading(i, { bug: true, deviceId: 'd2' }) : reading(i),
    );
    // One PutRecords: the 500 records arrive together and the event source hands them over as one batch.
    const put = await kinesis.send(
      new PutRecordsCommand({
        StreamName: pipeline.names.stream,
        Records: batch.map((e) => ({ PartitionKey: 'd1', Data: Buffer.from(JSON.stringify(e)) })),
      }),
    );
    expect(put.FailedRecordCount ?? 0).toBe(0);
    await pipeline.idle(60_000);

    const entries = (await pipeline.deadLetterQueue.list()) as DeadLetterEntry[];
    expect(entries).toHaveLength(1);
    const [entry] = entries;
    expect(entry.records).toHaveLength(1);
    expect(JSON.parse(Buffer.from(entry.records[0].kinesis.data, 'base64').toString())).toEqual(
      batch[badIndex],
    );
    expect(entry.requestContext.condition).toBe('RetryAttemptsExhausted');
    // Within the configured bisections and retries: the batch, one invocation per halving down to
    // the record (bisection consumes no retry), then the record alone once per retry.
    expect(entry.requestContext.approximateInvokeCount).toBeGreaterThan(RETRIES);
    expect(entry.requestContext.approximateInvokeCount).toBeLessThanOrEqual(
      1 + Math.ceil(Math.log2(500)) + RETRIES,
    );
    expect(await served()).toEqual({ readings: 499, total: sum(0, 500) - badIndex });
    expect(await served('d2')).toEqual({ readings: 0, total: 0 });

    // The shard moved on: later records apply.
    await kinesis.send(
      new PutRecordsCommand({
        StreamName: pipeline.names.stream,
        Records: [500, 501].map((i) => ({
          PartitionKey: 'd1',
          Data: Buffer.from(JSON.stringify(reading(i))),
        })),
      }),
    );
    await pipeline.idle(60_000);
    expect(await served()).toEqual({ readings: 501, total: sum(0, 502) - badIndex });
    expect(await served('d2')).toEqual({ readings: 0, total: 0 });

    // Fixed: the redrive applies the record once; delivering it again is fenced.
    bugFixed = true;
    const redrive = await pipeline.deadLetterQueue.redrive((event) => pipeline.invokeSpeed(event));
    expect(redrive).toMatchObject({ redriven: 1, remaining: 0 });
    const once = { readings: 1, total: badIndex };
    expect(await served('d2')).toEqual(once);
    await pipeline.invokeSpeed({ Records: [...entry.records] });
    expect(await served('d2')).toEqual(once);
    const run = await pipeline.runBatch();
    expect(run.status).toBe('published');
    expect(await served('d2')).toEqual(once);
    expect(await served()).toEqual({ readings: 501, total: sum(0, 502) - badIndex });
  }, 120_000);
});
