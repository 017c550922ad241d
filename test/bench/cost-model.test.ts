import { describe, expect, it } from 'vitest';
import {
  costPerMillion,
  DEFAULT_STREAM,
  eventsPerInvocation,
  PRICES,
  provisionedShards,
  total,
  type MeasuredCosts,
} from '../../bench/cost-model';

const measured: MeasuredCosts = {
  eventBytes: 180,
  eventsPerRequest: 100,
  rowWriteUnitsPerEvent: 0.5,
  dedupeWriteUnitsPerEvent: 0.002,
  readUnitsPerEvent: 0.002,
  speedRowDeleteUnitsPerEvent: 0.25,
  speedRowScanUnitsPerEvent: 0.016,
  batchCellWriteUnitsPerEvent: 0.25,
  batchCellBytesPerEvent: 126,
  speedRecordsPerSecond: 50_000,
  speedBatchSize: 500,
  waitMsPerBatch: 100,
  batchScannedFraction: 1,
  batchRunsPerDay: 96,
  batchQueriesPerRun: 6,
};

const kinesis = (volume: number, stream = DEFAULT_STREAM) => {
  const line = costPerMillion(volume, measured, stream).find((l) => l.item.startsWith('Kinesis'));
  if (line === undefined) throw new Error('no Kinesis line');
  return { item: line.item, usdPerMonth: (line.usdPerMillionEvents * volume) / 1e6 };
};

describe('cost model: the stream', () => {
  it('sizes provisioned shards by the peak: 1,000 records and 1 MiB a second each', () => {
    const month = 30 * 24 * 3600;
    expect(provisionedShards(100e6, 180)).toBe(1); // 193 events/s at the peak
    expect(provisionedShards(1000 * month, 180, 1)).toBe(1);
    expect(provisionedShards(1001 * month, 180, 1)).toBe(2);
    // 100 KB events: 200 a second fill 2 shards' MiB/s before their record limit.
    expect(provisionedShards(200 * month, 100 * 1024, 1)).toBe(20);
  });

  it('bills a provisioned stream per shard-hour, PUT payload unit and retention shard-hour', () => {
    const stream = { mode: 'provisioned', shards: 2, retentionHours: 168 } as const;
    const hours = 720;
    expect(kinesis(1e8, stream).usdPerMonth).toBeCloseTo(
      2 * hours * (PRICES.kinesisShardHour + PRICES.kinesisProvisionedExtendedRetentionShardHour) +
        100 * PRICES.kinesisPerMillionPutPayloadUnits,
      6,
    );
    // No extended retention at 24 hours.
    expect(kinesis(1e8, { ...stream, retentionHours: 24 }).usdPerMonth).toBeCloseTo(
      2 * hours * PRICES.kinesisShardHour + 100 * PRICES.kinesisPerMillionPutPayloadUnits,
      6,
    );
  });

  it("prices the stacks' default stream with its 7-day retention, not only the first 24 hours", () => {
    const day = kinesis(1e8, { mode: 'on-demand', retentionHours: 24 }).usdPerMonth;
    const week = kinesis(1e8).usdPerMonth;
    const billedGb = (1e8 * 1024) / 1024 ** 3; // 180-byte records billed as 1 KB
    expect(week - day).toBeCloseTo(
      billedGb * (144 / 720) * PRICES.kinesisOnDemandExtendedRetentionPerGbMonth,
      6,
    );
    expect(kinesis(1e8).item).toContain('168 h retention');
    // Past 7 days, the long-term rate applies to what is stored.
    const month = kinesis(1e8, { mode: 'on-demand', retentionHours: 168 + 720 }).usdPerMonth;
    expect(month - week).toBeCloseTo(billedGb * PRICES.kinesisLongTermRetentionPerGbMonth, 6);
  });

  it('changes only the Kinesis line between the two capacity modes', () => {
    const onDemand = costPerMillion(1e8, measured);
    const provisioned = costPerMillion(1e8, measured, {
      mode: 'provisioned',
      shards: 1,
      retentionHours: 168,
    });
    const others = (lines: typeof onDemand) => lines.filter((l) => !l.item.startsWith('Kinesis'));
    expect(others(provisioned)).toEqual(others(onDemand));
    expect(total(provisioned)).toBeLessThan(total(onDemand));
  });

  it('prices the incremental runs by the typed-column projection when the bench gives one (ADR 019)', () => {
    const incremental = { scannedRatio: 0.02, archiveLineBytes: 300, compactedRatio: 0.27 };
    const athena = (i: MeasuredCosts['incremental']) =>
      costPerMillion(100_000_000, { ...measured, incremental: i }).find((l) =>
        l.item.startsWith('Athena (96 incremental'),
      );
    const whole = athena(incremental)!;
    const typed = athena({ ...incremental, typedScannedRatio: 0.01 })!;
    expect(typed.item).toContain('typed columns');
    expect(typed.usdPerMillionEvents).toBeCloseTo(whole.usdPerMillionEvents / 2, 10);
  });
});

describe('cost model: the serving tables beyond the speed writes', () => {
  const line = (prefix: string, m: MeasuredCosts = measured) =>
    costPerMillion(1e8, m).find((l) => l.item.startsWith(prefix))!.usdPerMillionEvents;

  it('prices the deletion of every speed row and the Scans that read it', () => {
    expect(line('DynamoDB speed-row deletes')).toBeCloseTo(
      0.25 * PRICES.dynamoDbPerMillionWriteUnits + 0.016 * PRICES.dynamoDbPerMillionReadUnits,
      10,
    );
  });

  it("prices the batch runs' cell writes and half a month of their storage", () => {
    const perMillionEvents = 1e6 * 126; // bytes stored by a million events
    expect(line('DynamoDB batch cells')).toBeCloseTo(
      0.25 * PRICES.dynamoDbPerMillionWriteUnits +
        (perMillionEvents / 1024 ** 3 / 2) * PRICES.dynamoDbPerGbMonth,
      10,
    );
    // Both lines are part of the total: without them the same model is cheaper by their sum.
    const without = {
      ...measured,
      speedRowDeleteUnitsPerEvent: 0,
      speedRowScanUnitsPerEvent: 0,
      batchCellWriteUnitsPerEvent: 0,
      batchCellBytesPerEvent: 0,
    };
    expect(total(costPerMillion(1e8, measured)) - total(costPerMillion(1e8, without))).toBeCloseTo(
      line('DynamoDB speed-row deletes') + line('DynamoDB batch cells'),
      10,
    );
  });
});

describe('cost model: records per speed invocation', () => {
  const month = 30 * 24 * 3600;
  it("gives an invocation one second of one shard's records: 4 shards on a new on-demand stream", () => {
    expect(eventsPerInvocation(1e8)).toBe(10); // 38.6 events/s over 4 shards
    expect(eventsPerInvocation(1e9)).toBe(96);
    expect(eventsPerInvocation(1e8, { mode: 'provisioned', shards: 1, retentionHours: 168 })).toBe(39);
  });

  it('gathers a batching window of records, at least one and at most the batch size of 10,000', () => {
    const oneShard = { mode: 'provisioned', shards: 1, retentionHours: 168 } as const;
    expect(eventsPerInvocation(1e8, oneShard, 10)).toBe(386);
    expect(eventsPerInvocation(1e6)).toBe(1);
    expect(eventsPerInvocation(1e6, DEFAULT_STREAM, 0.5)).toBe(1);
    expect(eventsPerInvocation(5000 * month, oneShard)).toBe(5000);
    expect(eventsPerInvocation(20_000 * month, oneShard)).toBe(10_000);
  });
});
