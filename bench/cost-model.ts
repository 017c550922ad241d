/**
 * Cost per million events of the Lambda architecture at a monthly volume, itemized, from the
 * figures the bench measured (writes, bytes, handler speed) and list prices written here, beside
 * the design a user writes first (one DynamoDB update per event per view, no pre-aggregation).
 *
 * Prices: us-east-1 list prices read in 2026 from the AWS pricing pages named on each line; check
 * them before relying on the result. Fixed monthly costs (a Kinesis stream-hour, KMS keys) are
 * spread over the month's events, so the cost per million falls as the volume grows.
 */
import { DEFAULT_STREAM_BATCH_SIZE } from '../lambdas/runtime/function-environment';

export const PRICES = {
  /** https://aws.amazon.com/api-gateway/pricing/ (REST, first 333M requests) */
  apiGatewayPerMillionRequests: 3.5,
  /** https://aws.amazon.com/kinesis/data-streams/pricing/ (on-demand): stream-hour, GB in, GB out */
  kinesisStreamHour: 0.04,
  kinesisPerGbIn: 0.08,
  kinesisPerGbOut: 0.04,
  /** The same page (on-demand): retention beyond 24 hours and up to 7 days, per GB-month stored. */
  kinesisOnDemandExtendedRetentionPerGbMonth: 0.1,
  /** The same page (provisioned): shard-hour, PUT payload units (25 KB each), retention beyond 24 hours per shard-hour. */
  kinesisShardHour: 0.015,
  kinesisPerMillionPutPayloadUnits: 0.014,
  kinesisProvisionedExtendedRetentionShardHour: 0.02,
  /** The same page (both modes): retention beyond 7 days, per GB-month stored. */
  kinesisLongTermRetentionPerGbMonth: 0.023,
  /** https://aws.amazon.com/firehose/pricing/: ingestion per GB in 5 KB increments per record */
  firehosePerGbIngested: 0.029,
  firehoseDynamicPartitioningPerGb: 0.02,
  firehoseDynamicPartitioningPer1000Objects: 0.005,
  /** https://aws.amazon.com/lambda/pricing/ (Arm) */
  lambdaPerMillionRequests: 0.2,
  lambdaPerGbSecond: 0.0000133334,
  /** https://aws.amazon.com/dynamodb/pricing/on-demand/ (standard table class) */
  dynamoDbPerMillionWriteUnits: 0.625,
  dynamoDbPerMillionReadUnits: 0.125,
  /** The same page: data storage per GB-month (standard table class, beyond the free 25 GB). */
  dynamoDbPerGbMonth: 0.25,
  /** https://aws.amazon.com/s3/pricing/ (Standard, first 50 TB) */
  s3PerGbMonth: 0.023,
  s3PerThousandPuts: 0.005,
  /**
   * https://aws.amazon.com/athena/pricing/: per TB scanned (compressed and columnar data bill the
   * bytes actually read), rounded up to the megabyte with a 10 MB minimum per query
   */
  athenaPerTbScanned: 5,
  athenaMinimumMbPerQuery: 10,
  /** https://aws.amazon.com/kms/pricing/: customer managed keys of the stacks (dead-letter queues, logs) */
  kmsKeyMonth: 1,
} as const;

/** What the bench measured, per event, on its workload. */
export interface MeasuredCosts {
  /** Bytes of an event as JSON (what Kinesis and Firehose carry). */
  readonly eventBytes: number;
  readonly eventsPerRequest: number;
  /** Speed-row write units per event (items rounded up to 1 KB each). */
  readonly rowWriteUnitsPerEvent: number;
  /** Dedupe write units per event (id-log items or claims). */
  readonly dedupeWriteUnitsPerEvent: number;
  /** Read units per event (id-log queries, row reads the cache missed). */
  readonly readUnitsPerEvent: number;
  /**
   * The batch cleanup's deletion of speed rows, in write units per event: every speed row is
   * deleted once, and a delete is billed by the size of the item it removes
   * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html).
   */
  readonly speedRowDeleteUnitsPerEvent: number;
  /**
   * Scans of the whole speed table by every batch run, in read units per event: the cleanup's
   * (eventually consistent: half a unit per 4 KB of the items read, the same page) and the
   * reconciliation's, one per view (strongly consistent: a unit per 4 KB). A row is in the table
   * for two runs: the run after it arrived keeps it (it is past the replaced cutoff), the next
   * deletes it.
   */
  readonly speedRowScanUnitsPerEvent: number;
  /**
   * Batch cells written per event, in write units: each incremental run writes, as its own
   * segment, every cell the arrivals since the previous run touched (ADR 007).
   */
  readonly batchCellWriteUnitsPerEvent: number;
  /** Bytes of batch cells stored per event: segments are kept until the view's next full run. */
  readonly batchCellBytesPerEvent: number;
  /** Speed handler CPU: records per second of one core (its Lambda bills wall time: see waitMsPerBatch). */
  readonly speedRecordsPerSecond: number;
  readonly speedBatchSize: number;
  /** DynamoDB round trips a batch waits for, in ms (wall time Lambda bills beyond the CPU). */
  readonly waitMsPerBatch: number;
  /** Fraction of the archive a scheduled batch run reads (1: the whole archive, a full recompute). */
  readonly batchScannedFraction: number;
  readonly batchRunsPerDay: number;
  /** Athena queries a run starts (each billed at least 10 MB): touched buckets, cells and reconciliation per view. */
  readonly batchQueriesPerRun: number;
  /**
   * The incremental design over the compacted archive (ADR 011), measured by
   * bench/batch-incremental.ts; absent, the Athena line is the full recomputation's.
   */
  readonly incremental?: IncrementalBatchCosts;
}

/** What bench/batch-incremental.ts measured of a scheduled run over the compacted archive. */
export interface IncrementalBatchCosts {
  /** Bytes a scheduled run reads ÷ bytes of the whole uncompressed NDJSON archive (30 days of history). */
  readonly scannedRatio: number;
  /** Bytes of one archived line (uncompressed NDJSON: the event plus the archive's own fields). */
  readonly archiveLineBytes: number;
  /** Parquet bytes ÷ uncompressed NDJSON bytes of the same objects. */
  readonly compactedRatio: number;
  /**
   * The same run's bytes with its Parquet part read by column, the typed columns only (ADR 019:
   * what Athena scans of typed generations, the NDJSON tail whole). A projection from the files'
   * column sizes: no local engine measures bytes by column. Absent: `scannedRatio` (whole files).
   */
  readonly typedScannedRatio?: number;
}

/** The figures of bench/results/batch-incremental.json the cost model reads. */
export interface BatchIncrementalResult {
  readonly history_events: number;
  readonly new_events: number;
  readonly archive_bytes: number;
  readonly batch_bytes_scanned_ratio: number;
  readonly compacted_to_ndjson_ratio: number;
  readonly batch_bytes_scanned_ratio_typed_columns?: number;
}

/**
 * The incremental design's costs from the bench's result. Its scanned ratios are the cloud's query
 * shape: the bench runs the same incremental run through an engine without `materialize`, as
 * Athena's adapter, so each view ranks its own source and the reconciliation reads per view
 * (ADR 020); the local engine's own, smaller figure is `batch_bytes_scanned_ratio_local`.
 */
export function incrementalCosts(r: BatchIncrementalResult): IncrementalBatchCosts {
  return {
    scannedRatio: r.batch_bytes_scanned_ratio,
    archiveLineBytes: Math.round(r.archive_bytes / (r.history_events + r.new_events)),
    compactedRatio: r.compacted_to_ndjson_ratio,
    ...(r.batch_bytes_scanned_ratio_typed_columns === undefined
      ? {}
      : { typedScannedRatio: r.batch_bytes_scanned_ratio_typed_columns }),
  };
}

/**
 * How the stream is billed: on-demand (the stacks' default) or provisioned shards (`-c shardCount=N`),
 * and its retention (the stacks' default is 7 days: `EventStreamProps.retention`).
 */
export type StreamCapacity =
  | { readonly mode: 'on-demand'; readonly retentionHours: number }
  | { readonly mode: 'provisioned'; readonly shards: number; readonly retentionHours: number };

/** The stacks' default stream: on-demand, 7 days of retention. */
export const DEFAULT_STREAM: StreamCapacity = { mode: 'on-demand', retentionHours: 168 };

/**
 * Shards of a new on-demand stream: its default write capacity is 4 MB/s and 4,000 records a
 * second (https://docs.aws.amazon.com/streams/latest/dev/how-do-i-size-a-stream.html), each shard
 * taking 1 MB/s and 1,000 records a second (working-with-streams.html); it adds shards only when
 * traffic approaches that, far above every volume priced here (1B events a month is 386 a second).
 */
export const ON_DEMAND_SHARDS = 4;

/** The speed layer's largest batch (`batchSize` of lib/constructs/kinesis-source.ts, the stacks' default). */
export const SPEED_BATCH_SIZE = DEFAULT_STREAM_BATCH_SIZE;

/**
 * Records per speed invocation at a monthly volume. With no batching window (the stacks' default,
 * ADR 014) Lambda reads each shard once a second and invokes with what it found, so a batch holds
 * a second of the shard's records (at least one: an empty read invokes nothing), up to the batch
 * size; with a window (`maxBatchingWindow`), the window's seconds of them. Events spread evenly
 * over the shards (the event id is the partition key). At low volume that is far below the batch
 * size: the writes per event, the id-log appends and the invocations follow it.
 */
export function eventsPerInvocation(
  eventsPerMonth: number,
  stream: StreamCapacity = DEFAULT_STREAM,
  batchingWindowSeconds = 0,
): number {
  // A batching window gathers up to that many seconds of the shard's records before invoking.
  const gathered = shardEventsPerSecond(eventsPerMonth, stream) * Math.max(1, batchingWindowSeconds);
  return Math.min(SPEED_BATCH_SIZE, Math.max(1, Math.round(gathered)));
}

/** Records per second on one shard at a monthly volume (evenly spread). */
export function shardEventsPerSecond(
  eventsPerMonth: number,
  stream: StreamCapacity = DEFAULT_STREAM,
): number {
  const shards = stream.mode === 'on-demand' ? ON_DEMAND_SHARDS : stream.shards;
  return eventsPerMonth / (30 * 24 * 3600) / shards;
}

/**
 * Shards a provisioned stream needs for a month of events whose busiest second carries
 * `peakToAverage` times the average rate: each shard takes 1,000 records and 1 MiB a second in
 * (https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html), and serves
 * 2 MiB a second out, shared by the two consumers (Firehose and the speed layer), which read
 * what came in twice: the same 1 MiB a second. Sizing by the peak, not the average, is what
 * keeps producers from being throttled; the ratio is the user's to know.
 */
export function provisionedShards(eventsPerMonth: number, eventBytes: number, peakToAverage = 5): number {
  const peakPerSecond = (eventsPerMonth / (30 * 24 * 3600)) * peakToAverage;
  return Math.max(1, Math.ceil(peakPerSecond / 1000), Math.ceil((peakPerSecond * eventBytes) / 1024 ** 2));
}

export interface CostLine {
  readonly item: string;
  readonly usdPerMillionEvents: number;
}

const GB = 1024 ** 3;

/** Itemized cost per million events in a month of `eventsPerMonth`, for the first month of data. */
export function costPerMillion(
  eventsPerMonth: number,
  m: MeasuredCosts,
  stream: StreamCapacity = DEFAULT_STREAM,
): CostLine[] {
  const perMillion = (usdPerMonth: number) => (usdPerMonth / eventsPerMonth) * 1e6;
  const n = eventsPerMonth;
  const firehoseGb = (n * Math.ceil(m.eventBytes / 5120) * 5120) / GB;
  const gzipBytes = m.eventBytes * 0.15; // GZIP of NDJSON clickstream lines
  const archiveGb = (n * gzipBytes) / GB;
  const speedBatches = n / m.speedBatchSize;
  const speedSeconds = n / m.speedRecordsPerSecond + (speedBatches * m.waitMsPerBatch) / 1000;
  const ingestRequests = n / m.eventsPerRequest;
  // One archive object per partition and buffer interval (60 s), for the hours of the month.
  const archiveObjects = 60 * 24 * 30;
  return [
    {
      item: 'API Gateway REST',
      usdPerMillionEvents: perMillion((ingestRequests / 1e6) * PRICES.apiGatewayPerMillionRequests),
    },
    {
      item: 'Lambda ingest (512 MB, ~30 ms per request)',
      usdPerMillionEvents: perMillion(
        (ingestRequests / 1e6) * PRICES.lambdaPerMillionRequests +
          ingestRequests * 0.03 * 0.5 * PRICES.lambdaPerGbSecond,
      ),
    },
    kinesisLine(n, m.eventBytes, stream),
    {
      item: 'Lambda speed layer (1024 MB)',
      usdPerMillionEvents: perMillion(
        (speedBatches / 1e6) * PRICES.lambdaPerMillionRequests + speedSeconds * 1 * PRICES.lambdaPerGbSecond,
      ),
    },
    {
      item: 'DynamoDB speed rows (writes)',
      usdPerMillionEvents: perMillion(
        (n * m.rowWriteUnitsPerEvent * PRICES.dynamoDbPerMillionWriteUnits) / 1e6,
      ),
    },
    {
      item: 'DynamoDB dedupe (writes)',
      usdPerMillionEvents: perMillion(
        (n * m.dedupeWriteUnitsPerEvent * PRICES.dynamoDbPerMillionWriteUnits) / 1e6,
      ),
    },
    {
      item: 'DynamoDB reads (id log, cache misses)',
      usdPerMillionEvents: perMillion((n * m.readUnitsPerEvent * PRICES.dynamoDbPerMillionReadUnits) / 1e6),
    },
    {
      item: 'DynamoDB speed-row deletes and Scans (batch cleanup, reconciliation)',
      usdPerMillionEvents: perMillion(
        (n * m.speedRowDeleteUnitsPerEvent * PRICES.dynamoDbPerMillionWriteUnits) / 1e6 +
          (n * m.speedRowScanUnitsPerEvent * PRICES.dynamoDbPerMillionReadUnits) / 1e6,
      ),
    },
    {
      // Storage grows through the month: half of it is held on average.
      item: 'DynamoDB batch cells (writes, storage, first month)',
      usdPerMillionEvents: perMillion(
        (n * m.batchCellWriteUnitsPerEvent * PRICES.dynamoDbPerMillionWriteUnits) / 1e6 +
          ((n * m.batchCellBytesPerEvent) / GB / 2) * PRICES.dynamoDbPerGbMonth,
      ),
    },
    {
      item: 'Firehose (5 KB per record ingested, dynamic partitioning)',
      usdPerMillionEvents: perMillion(
        firehoseGb * PRICES.firehosePerGbIngested +
          ((n * m.eventBytes) / GB) * PRICES.firehoseDynamicPartitioningPerGb +
          (archiveObjects / 1000) * PRICES.firehoseDynamicPartitioningPer1000Objects,
      ),
    },
    {
      item: 'S3 archive (GZIP, first month, PUTs)',
      usdPerMillionEvents: perMillion(
        archiveGb * PRICES.s3PerGbMonth + (archiveObjects / 1000) * PRICES.s3PerThousandPuts,
      ),
    },
    ...athenaLines(n, m, archiveGb).map((l) => ({
      item: l.item,
      usdPerMillionEvents: perMillion(l.usdPerMonth),
    })),
    { item: 'KMS keys (3)', usdPerMillionEvents: perMillion(3 * PRICES.kmsKeyMonth) },
  ];
}

/**
 * The stream per month. On-demand bills each record as at least 1 KB, in once and out once per
 * consumer, plus the stream-hour; provisioned bills shard-hours and 25 KB PUT payload units.
 * Retention from 24 hours to 7 days is billed by what is stored (on-demand, counted here at the
 * billed 1 KB per record: the worst case) or per shard-hour (provisioned); past 7 days by what is
 * stored in both modes (the same 1 KB count). In a steady month, the data kept past 24 hours is
 * the month's volume times (retention − 24 h) ÷ the month.
 */
function kinesisLine(
  n: number,
  eventBytes: number,
  stream: StreamCapacity,
): { item: string; usdPerMillionEvents: number } {
  const hours = 24 * 30;
  const extendedShare = Math.max(0, Math.min(stream.retentionHours, 168) - 24) / hours;
  const longTermShare = Math.max(0, stream.retentionHours - 168) / hours;
  const storedGb = (n * Math.ceil(Math.max(1, eventBytes) / 1024) * 1024) / GB;
  const longTerm = storedGb * longTermShare * PRICES.kinesisLongTermRetentionPerGbMonth;
  let usdPerMonth: number;
  let item: string;
  if (stream.mode === 'on-demand') {
    usdPerMonth =
      hours * PRICES.kinesisStreamHour +
      storedGb * (PRICES.kinesisPerGbIn + 2 * PRICES.kinesisPerGbOut) +
      storedGb * extendedShare * PRICES.kinesisOnDemandExtendedRetentionPerGbMonth +
      longTerm;
    item = `Kinesis on-demand (stream-hours, 1 KB per record in, 2 consumers out, ${stream.retentionHours} h retention)`;
  } else {
    const putUnits = n * Math.ceil(Math.max(1, eventBytes) / (25 * 1024));
    usdPerMonth =
      stream.shards * hours * PRICES.kinesisShardHour +
      (putUnits / 1e6) * PRICES.kinesisPerMillionPutPayloadUnits +
      (stream.retentionHours > 24
        ? stream.shards * hours * PRICES.kinesisProvisionedExtendedRetentionShardHour
        : 0) +
      longTerm;
    item = `Kinesis provisioned (${stream.shards} shard${stream.shards === 1 ? '' : 's'}, PUT payload units, ${stream.retentionHours} h retention)`;
  }
  return { item, usdPerMillionEvents: (usdPerMonth / n) * 1e6 };
}

/**
 * The batch layer's Athena (and compaction) lines per month. Full recomputation: every run reads
 * `batchScannedFraction` of the GZIP archive, which grows linearly over the month (half of it on
 * average). Incremental over the compacted archive: a run reads the measured share of a month of
 * uncompressed NDJSON (what it reads is the new data, the hours it touches and a day back, not the
 * history, so it does not grow with the archive), at least the 10 MB minimum per query; each
 * object is compacted once (its GZIP bytes read once), and the Parquet copy is stored beside it.
 */
function athenaLines(
  n: number,
  m: MeasuredCosts,
  archiveGb: number,
): { item: string; usdPerMonth: number }[] {
  const runs = m.batchRunsPerDay * 30;
  const tb = (gb: number) => gb / 1024;
  const minimumGbPerRun = (m.batchQueriesPerRun * PRICES.athenaMinimumMbPerQuery) / 1024;
  if (!m.incremental) {
    const scanned = runs * Math.max(m.batchScannedFraction * (archiveGb / 2), minimumGbPerRun);
    return [
      {
        item: `Athena (${m.batchRunsPerDay} runs a day, each reading the whole archive)`,
        usdPerMonth: tb(scanned) * PRICES.athenaPerTbScanned,
      },
    ];
  }
  const i = m.incremental;
  const rawGb = (n * i.archiveLineBytes) / GB;
  // The cloud reads typed generations by column (ADR 019): their typed columns, not the line.
  const perRunGb = Math.max((i.typedScannedRatio ?? i.scannedRatio) * rawGb, minimumGbPerRun);
  return [
    {
      item: `Athena (${m.batchRunsPerDay} incremental runs a day over the compacted archive${i.typedScannedRatio === undefined ? '' : ', typed columns'})`,
      usdPerMonth: tb(runs * perRunGb) * PRICES.athenaPerTbScanned,
    },
    {
      item: 'Athena compaction (each archived object read once) and its Parquet in S3',
      usdPerMonth: tb(archiveGb) * PRICES.athenaPerTbScanned + i.compactedRatio * rawGb * PRICES.s3PerGbMonth,
    },
  ];
}

/** The first design: one UpdateItem (ADD) per event per view, no dedupe, same ingestion path. */
export function naiveCostPerMillion(eventsPerMonth: number, m: MeasuredCosts, views: number): CostLine[] {
  return costPerMillion(eventsPerMonth, {
    ...m,
    rowWriteUnitsPerEvent: views,
    dedupeWriteUnitsPerEvent: 0,
    readUnitsPerEvent: 0,
    speedBatchSize: m.speedBatchSize,
  });
}

export function total(lines: readonly CostLine[]): number {
  return lines.reduce((sum, l) => sum + l.usdPerMillionEvents, 0);
}
