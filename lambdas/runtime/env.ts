/**
 * Names of the environment variables the handlers read. Defined once here and imported by
 * `lib/` (which sets them on the deployed functions) and by `local/` (which sets them
 * before importing each handler), so the two can never drift apart.
 */
export const ENV = {
  /** JSON array of view definitions (validated again by every handler at cold start). */
  views: 'STREAMFOLD_VIEWS',
  /** Kinesis stream name the ingest handler writes to. */
  streamName: 'STREAMFOLD_STREAM_NAME',
  /** DynamoDB table of speed rows (pk/sk strings). */
  speedTable: 'STREAMFOLD_SPEED_TABLE',
  /** DynamoDB table of batch view rows (pk/sk strings), all versions. */
  batchTable: 'STREAMFOLD_BATCH_TABLE',
  /** DynamoDB table holding the serving pointer `{version, cutoff}` and run bookkeeping. */
  controlTable: 'STREAMFOLD_CONTROL_TABLE',
  /** DynamoDB table of event-id claims for the speed layer's event-level dedupe (TTL attribute `expiresAt`). */
  dedupeTable: 'STREAMFOLD_DEDUPE_TABLE',
  /** `true` or `false`: speed-layer event-level dedupe by event id (one extra conditional write per event). */
  speedDedupe: 'STREAMFOLD_SPEED_DEDUPE',
  /**
   * `shard` (default: one id-log write per batch, exact for copies that share a partition key; ADR
   * 008) or `global` (one conditional claim per event, also catches copies on different shards).
   */
  dedupeScope: 'STREAMFOLD_DEDUPE_SCOPE',
  /**
   * Seconds copies of an id are recognized apart: a claim's TTL (`global`), or how long a shard's
   * kept ids stay in memory and in its log (`shard`; memory about 150 bytes x events/s x window).
   */
  dedupeTtlSeconds: 'STREAMFOLD_DEDUPE_TTL_SECONDS',
  /** `shard` or `partitionKey`: what a speed row's sequence fence is kept per (partitionKey when ParallelizationFactor > 1). */
  fenceBy: 'STREAMFOLD_FENCE_BY',
  /** S3 bucket of the archive. */
  archiveBucket: 'STREAMFOLD_ARCHIVE_BUCKET',
  /** Key prefix of accepted events in the archive, e.g. `events/` (partitions `dt=YYYY-MM-DD/hour=HH/` below it). */
  archivePrefix: 'STREAMFOLD_ARCHIVE_PREFIX',
  /** Key prefix in the archive bucket where a cloud batch run's queries unload their rows, `v<version>/<view>/` below it. */
  batchRunsPrefix: 'STREAMFOLD_BATCH_RUNS_PREFIX',
  /** ARN of the batch state machine: when set, a scheduled or API-requested run starts it instead of running in-process. */
  batchStateMachine: 'STREAMFOLD_BATCH_STATE_MACHINE',
  /** `athena` (cloud) or `duckdb` (local): the batch query engine adapter. */
  queryEngine: 'STREAMFOLD_QUERY_ENGINE',
  /** Athena workgroup (its result location, encryption and bytes-scanned cutoff apply). */
  athenaWorkgroup: 'STREAMFOLD_ATHENA_WORKGROUP',
  /** Glue database holding the archive table. */
  athenaDatabase: 'STREAMFOLD_ATHENA_DATABASE',
  /** Glue table over the archive (one string column `line`, partitions dt and hour). */
  athenaTable: 'STREAMFOLD_ATHENA_TABLE',
  /** Largest number of bytes a single batch query may scan before the handler cancels it. */
  athenaMaxBytesScanned: 'STREAMFOLD_ATHENA_MAX_BYTES_SCANNED',
  /**
   * Glue table over the archive bucket's `compacted/` prefix (Parquet, partitions g, edt, ehr): set,
   * the batch state machine compacts the archive before each run and the runs read it (ADR 011).
   */
  athenaCompactedTable: 'STREAMFOLD_ATHENA_COMPACTED_TABLE',
  /** The cloud's compaction period in ms (objects whose arrival hour ended before the run cutoff's period are compacted). */
  athenaCompactionPeriodMs: 'STREAMFOLD_ATHENA_COMPACTION_PERIOD_MS',
  /** `true`: before each run, DuckDB's folder is filled from the archive bucket (an S3 endpoint whose files are not on this disk, e.g. LocalStack). */
  duckdbSyncFromS3: 'STREAMFOLD_DUCKDB_SYNC_FROM_S3',
  /** Local folder DuckDB reads the archive from (the S3 emulator's bucket folder). */
  duckdbArchiveDir: 'STREAMFOLD_DUCKDB_ARCHIVE_DIR',
  /**
   * Local folder of the archive bucket's `compacted/` prefix (the S3 emulator's): set, the batch
   * compacts the archive into Parquet before each run and reads it (ADR 011).
   */
  duckdbCompactedDir: 'STREAMFOLD_DUCKDB_COMPACTED_DIR',
  /** Compaction period in ms: objects are compacted once every line arrived before the start of the run cutoff's period. */
  duckdbCompactionPeriodMs: 'STREAMFOLD_DUCKDB_COMPACTION_PERIOD_MS',
  /** DuckDB's `memory_limit` for the local batch engine, e.g. `256MB`, `1GB` (default 256MB: the long-running runtime's bound). */
  duckdbMemoryLimit: 'STREAMFOLD_DUCKDB_MEMORY_LIMIT',
  /** DuckDB's worker threads for the local batch engine (default 1). */
  duckdbThreads: 'STREAMFOLD_DUCKDB_THREADS',
  /**
   * `clock` (cloud: the archive holds everything that arrived before now - archiveLagMs, Firehose's
   * buffer interval plus a margin) or `checkpoint` (local: the archiver's own watermark object).
   */
  archiveWatermark: 'STREAMFOLD_ARCHIVE_WATERMARK',
  /**
   * Name of the Firehose delivery stream that writes the archive (with archiveWatermark=clock): the
   * cutoff then also trails its measured DeliveryToS3.DataFreshness and KinesisMillisBehindLatest.
   */
  firehoseDeliveryStream: 'STREAMFOLD_FIREHOSE_DELIVERY_STREAM',
  /** Milliseconds the archive may trail arrival time (used with archiveWatermark=clock). */
  archiveLagMs: 'STREAMFOLD_ARCHIVE_LAG_MS',
  /** Width of the arrival-time buckets speed rows are kept per, and the cutoff's alignment, in ms. */
  arrivalBucketMs: 'STREAMFOLD_ARRIVAL_BUCKET_MS',
  /** Largest accepted request body of POST /events, in bytes. */
  maxBodyBytes: 'STREAMFOLD_MAX_BODY_BYTES',
  /** Endpoint override for every AWS SDK client (emulators, LocalStack); unset in the cloud. */
  endpoint: 'AWS_ENDPOINT_URL',
  /** Per-service endpoint overrides, which win over AWS_ENDPOINT_URL (the local runtime runs one emulator per service). */
  kinesisEndpoint: 'AWS_ENDPOINT_URL_KINESIS',
  dynamodbEndpoint: 'AWS_ENDPOINT_URL_DYNAMODB',
  s3Endpoint: 'AWS_ENDPOINT_URL_S3',
  sqsEndpoint: 'AWS_ENDPOINT_URL_SQS',
  athenaEndpoint: 'AWS_ENDPOINT_URL_ATHENA',
  /** `lambda` or `kappa`: which serving data the query handler reads (Lambda: batch ⊕ speed; Kappa: the active version). */
  architecture: 'STREAMFOLD_ARCHITECTURE',
  /** DynamoDB table of the versioned Kappa view cells with their fences (pk/sk strings); the per-view pointers live in the control table. */
  kappaTable: 'STREAMFOLD_KAPPA_TABLE',
  /** ARN of the replay state machine that POST /admin/replay starts (Kappa, cloud). */
  replayStateMachineArn: 'STREAMFOLD_REPLAY_STATE_MACHINE_ARN',
  /** Milliseconds ahead of now a replay sets its handoff (clock skew plus the processor's pointer reads). */
  replayHandoffDelayMs: 'STREAMFOLD_REPLAY_HANDOFF_DELAY_MS',
  sfnEndpoint: 'AWS_ENDPOINT_URL_SFN',
  /** `s3rver` when the S3 endpoint is the s3rver emulator (needs its fixed credentials and path-style). */
  s3Flavor: 'STREAMFOLD_S3_FLAVOR',
} as const;

export type EnvName = (typeof ENV)[keyof typeof ENV];
