import { ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import type { Context } from 'aws-lambda';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DynamoDbBatchViewStore } from '../../lambdas/adapters/aws/dynamodb-batch-view-store';
import { DynamoDbControlStore } from '../../lambdas/adapters/aws/dynamodb-control-store';
import { DynamoDbSpeedRowStore } from '../../lambdas/adapters/aws/dynamodb-speed-row-store';
import { compactedTableColumns, typedFields } from '../../lambdas/core/typed-columns';
import { makeS3Client } from '../../lambdas/runtime/clients/s3';
import { ENV } from '../../lambdas/runtime/env';
import { queryView } from '../../lambdas/services/query-view';
import { startAthenaHttpServer, type AthenaHttpServer } from '../fixtures/athena-http-server';
import { AthenaInDuckDb } from '../fixtures/athena-in-duckdb';
import { startEmulatedTables, type EmulatedTables } from '../fixtures/emulated-tables';
import { resolveIntrinsics, type AslMachine } from './asl';
import { runAsl, type AslWorld } from './asl-interpreter';
import { functionEnvironment } from './function-environment';
import { pageViewLine } from './archive-line';
import { FIXTURE_VIEWS, synth } from './stack-fixture';

/**
 * The batch state machine as `cdk synth` writes it (without the compaction loop, then with it),
 * run step by step (asl-interpreter.ts) against the batch handler module itself, configured by the environment
 * the stack gives its steps function, on the emulators, with Athena played by DuckDB behind
 * Athena's own wire protocol (athena-http-server.ts over athena-in-duckdb.ts): the plan's SQL and
 * UNLOADs run as generated, the writers read what the UNLOAD wrote through S3, the Map's
 * ResultWriter leaves its manifest where Publish reads it. The tests run in order on one
 * archive and one set of tables, each starting from what the one before left. Not AWS: the interpreter follows the
 * ASL specification for the states the machine uses (its Wait does not wait), DuckDB is not Trino.
 */
const views = FIXTURE_VIEWS;
const DAY = '2026-11-24';
const EARLY = Date.UTC(2026, 10, 24, 9, 30);

let tables: EmulatedTables;
let s3: S3Client;
let athena: AthenaHttpServer;
let duck: AthenaInDuckDb;
let bucketDir: string;
let machine: AslMachine;
let stepsArn: string;
let handler: (event: unknown, context: Context) => Promise<unknown>;
const saved = { ...process.env };

type Template = ReturnType<ReturnType<typeof synth>['template']>;

/** The batch steps function's environment, its references resolved to the emulators' names. */
function batchEnvironment(template: Template): Record<string, string> {
  const { arn, env } = functionEnvironment(template, 'BatchLayerHandler', [
    ['TablesSpeedTable', tables.names.speedTable],
    ['TablesBatchTable', tables.names.batchTable],
    ['TablesControlTable', tables.names.controlTable],
    ['ArchiveBucket', tables.names.bucket],
    // Any name: the fake Athena runs every workgroup's queries alike.
    ['ArchiveWorkGroup', 'streamfold-test'],
  ]);
  stepsArn = arn;
  return env;
}

/**
 * The definition with the archive bucket's Ref resolved to the emulator's bucket, as
 * CloudFormation resolves it: the Map's ResultWriterDetails then name the bucket Publish checks.
 */
function batchDefinition(template: Template): AslMachine {
  const machines = Object.values(template.findResources('AWS::StepFunctions::StateMachine'));
  if (machines.length !== 1) throw new Error(`expected one state machine, found ${machines.length}`);
  const [bucketId] = Object.keys(template.findResources('AWS::S3::Bucket')).filter((id) =>
    id.startsWith('ArchiveBucket'),
  );
  const text = resolveIntrinsics(
    (machines[0] as { Properties: { DefinitionString: unknown } }).Properties.DefinitionString,
  );
  return JSON.parse(text.split(`REF:${bucketId}`).join(tables.names.bucket)) as AslMachine;
}

beforeAll(async () => {
  tables = await startEmulatedTables('batchmachine');
  s3 = makeS3Client(tables.endpoints);
  bucketDir = await fs.mkdtemp(path.join(tmpdir(), 'batch-machine-'));
  const template = synth({ batchCompaction: false }).template();
  machine = batchDefinition(template);
  const env = batchEnvironment(template);
  expect(env[ENV.firehoseDeliveryStream]).toBeUndefined();
  duck = new AthenaInDuckDb(bucketDir, undefined, {
    bucket: tables.names.bucket,
    database: env[ENV.athenaDatabase],
    table: env[ENV.athenaTable],
    // What Athena's UNLOAD writes, the writers read from S3.
    onObjectWritten: async (key, body) => {
      await s3.send(new PutObjectCommand({ Bucket: tables.names.bucket, Key: key, Body: body }));
    },
  });
  athena = await startAthenaHttpServer(duck);
  // Each query reported RUNNING once: the machine's Wait/CheckQueries loop goes round.
  athena.pollsBeforeDone = 1;
  Object.assign(process.env, env, {
    ...tables.handlerEnvironment,
    [ENV.athenaEndpoint]: athena.endpoint,
  });
  ({ handler } = (await import('../../lambdas/handlers/batch')) as {
    handler: (event: unknown, context: Context) => Promise<unknown>;
  });
}, 120_000);

/** Athena's stand-ins of the compaction test (a second pair: the compacted table's columns differ). */
const compactionAthena: { server?: AthenaHttpServer; duck?: AthenaInDuckDb } = {};

afterAll(async () => {
  process.env = saved;
  await athena?.close();
  await duck?.close();
  await compactionAthena.server?.close();
  await compactionAthena.duck?.close();
  s3?.destroy();
  await tables?.stop();
  if (bucketDir) await fs.rm(bucketDir, { recursive: true, force: true });
});

const context = {
  functionName: 'batch',
  functionVersion: '$LATEST',
  awsRequestId: 'test',
  invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:batch',
  memoryLimitInMB: '1024',
  // As Lambda gives it: Publish derives its reconciliation deadline from it.
  getRemainingTimeInMillis: () => 900_000,
} as Context;

/** The world as Step Functions gives it: Lambda invocations with JSON in and out, S3 listings and puts. */
function world(): AslWorld & { invocations: string[] } {
  const invocations: string[] = [];
  return {
    invocations,
    async invoke(arn, payload) {
      if (arn !== stepsArn) throw new Error(`the machine invoked ${arn}, not the batch steps function`);
      invocations.push(String((payload as { action?: string }).action));
      // Lambda passes JSON: nothing but what survives serialization reaches the handler or returns.
      const result = await handler(JSON.parse(JSON.stringify(payload)), context);
      return result === undefined ? null : JSON.parse(JSON.stringify(result));
    },
    async listObjects(bucket, prefix) {
      if (bucket !== tables.names.bucket) throw new Error(`the machine listed ${bucket}, not the archive`);
      const items: { Key: string; Size?: number }[] = [];
      let token: string | undefined;
      do {
        const page = await s3.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
        );
        for (const o of page.Contents ?? []) items.push({ Key: o.Key!, Size: o.Size });
        token = page.NextContinuationToken;
      } while (token);
      return items;
    },
    async writeObject(bucket, key, body) {
      if (bucket !== tables.names.bucket)
        throw new Error(`the machine wrote its results to ${bucket}, not the archive`);
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    },
    wait: () => Promise.resolve(),
  };
}

/**
 * An object as Firehose names and writes it (GZIP NDJSON under its arrival partition), in S3 for
 * the handler and in the folder DuckDB reads as the bucket.
 */
async function archive(name: string, lines: string[]): Promise<void> {
  const key = `events/dt=${DAY}/hour=09/${name}`;
  const body = gzipSync(`${lines.join('\n')}\n`);
  await s3.send(new PutObjectCommand({ Bucket: tables.names.bucket, Key: key, Body: body }));
  await fs.mkdir(path.dirname(path.join(bucketDir, key)), { recursive: true });
  await fs.writeFile(path.join(bucketDir, key), body);
}

async function served(): Promise<{ start: string; measures: Record<string, unknown> }[]> {
  const answer = await queryView(
    'page_views',
    { page: '/a', from: `${DAY}T09:00:00Z`, to: `${DAY}T10:00:00Z` },
    {
      views,
      batch: new DynamoDbBatchViewStore(tables.doc, tables.names.batchTable),
      speed: new DynamoDbSpeedRowStore(tables.doc, tables.names.speedTable),
      control: new DynamoDbControlStore(tables.doc, tables.names.controlTable),
      clock: { now: () => Date.now() },
      arrivalBucketMs: 60_000,
    },
  );
  expect(answer.status).toBe(200);
  return (answer.body as { buckets: { start: string; measures: Record<string, unknown> }[] }).buckets;
}

const pointer = () => new DynamoDbControlStore(tables.doc, tables.names.controlTable).readPointer();

describe('the synthesized batch state machine, run against the batch handler on the emulators', () => {
  it('plans, polls the UNLOAD, writes each unloaded object in the Map, publishes what the Map wrote', async () => {
    // GIVEN four events, one of them sent twice by a producer retry (the copy a minute later
    // arrived later too), archived in two objects
    await archive('streamfold-1-2026-11-24-09-30-00-a.gz', [
      pageViewLine('r', 1, EARLY, `${DAY}T09:10:59.900Z`, 'u1'),
      pageViewLine('s', 2, EARLY + 1, `${DAY}T09:10:30Z`, 'u2'),
      pageViewLine('t', 3, EARLY + 2, `${DAY}T09:10:40Z`, 'u1'),
    ]);
    await archive('streamfold-1-2026-11-24-09-31-00-b.gz', [
      pageViewLine('r', 4, EARLY + 60_000, `${DAY}T09:11:00.100Z`, 'u1'),
      pageViewLine('u', 5, EARLY + 60_001, `${DAY}T09:12:00Z`, 'u3'),
    ]);

    // WHEN the machine runs as the starter starts it
    const w = world();
    const outcome = await runAsl(machine, { request: {} }, w);

    // THEN it succeeds through the plan, two polls of the UNLOAD, one writer per unloaded object
    // (one view: one object), the publish, and the deletion of the speed rows its cutoff covers
    expect(outcome.status, JSON.stringify(outcome)).toBe('SUCCEEDED');
    expect(w.invocations).toEqual(['plan', 'unloaded', 'unloaded', 'write', 'publish', 'cleanup']);
    expect(outcome.visited.filter((s) => !s.includes('/'))).toEqual([
      'Plan',
      'Planned',
      'WaitForQueries',
      'CheckQueries',
      'QueriesDone',
      'WaitForQueries',
      'CheckQueries',
      'QueriesDone',
      'WriteCells',
      'Publish',
      'CleanupLeft',
      'Cleanup',
      'CleanupLeft',
      'Done',
    ]);
    expect(athena.started.filter((q) => q.startsWith('UNLOAD'))).toHaveLength(1);
    expect(outcome.visited.filter((s) => s.includes('/'))).toEqual(['WriteCells/WriteObject']);
    // Publish counted the writers' cells from the Map Run's result files
    const output = (outcome as { output: { result: { status: string; version: number; cells: number } } })
      .output;
    expect(output.result).toMatchObject({ status: 'published', version: 1, cells: 2 });
    // r once, in the minute of its first copy; s and t in that minute too, by two visitors
    expect(await served()).toEqual([
      { start: `${DAY}T09:10:00.000Z`, measures: { views: 3, visitors: 2 } },
      { start: `${DAY}T09:12:00.000Z`, measures: { views: 1, visitors: 1 } },
    ]);
    expect(await pointer()).toMatchObject({ version: 1 });
  }, 120_000);

  it('a run with nothing new archived publishes a version that serves the same values, then deletes the speed rows its cutoff covers', async () => {
    // GIVEN the first run's version served, no new object, and a speed row arrived before its cutoff
    const before = await served();
    const startedBefore = athena.started.length;
    const { cutoffMs } = (await pointer())!;
    await tables.doc.send(
      new PutCommand({
        TableName: tables.names.speedTable,
        Item: { pk: 's#covered', sk: 'row', a: cutoffMs - 1_000 },
      }),
    );
    const speedRows = () => new DynamoDbSpeedRowStore(tables.doc, tables.names.speedTable).count();
    expect(await speedRows()).toBe(1);

    // WHEN the machine runs again
    const w = world();
    const outcome = await runAsl(machine, { request: {} }, w);

    // THEN it starts no UNLOAD, writes nothing, and publishes version 2 carrying every cell forward
    expect(outcome.status, JSON.stringify(outcome)).toBe('SUCCEEDED');
    expect(athena.started.slice(startedBefore).filter((q) => q.startsWith('UNLOAD'))).toEqual([]);
    expect(w.invocations).toEqual(['plan', 'unloaded', 'publish', 'cleanup']);
    expect(outcome.visited.slice(-5)).toEqual(['Publish', 'CleanupLeft', 'Cleanup', 'CleanupLeft', 'Done']);
    const output = (outcome as { output: { result: { status: string; version: number; cells: number } } })
      .output;
    expect(output.result).toMatchObject({
      status: 'published',
      version: 2,
      cells: 0,
      cleanup: { done: true, speedRowsDeleted: 1 },
    });
    expect(await speedRows()).toBe(0);
    expect(await served()).toEqual(before);
  }, 120_000);

  it('an UNLOAD that fails abandons the run: nothing published, the previous version stays served', async () => {
    // GIVEN a late object with another event, and Athena failing every UNLOAD
    const before = await served();
    await archive('streamfold-1-2026-11-24-09-40-00-c.gz', [
      pageViewLine('v', 6, EARLY + 600_000, `${DAY}T09:12:30Z`, 'u4'),
    ]);
    athena.failWhen = (sql) => (sql.startsWith('UNLOAD') ? 'injected: the UNLOAD failed' : undefined);

    // WHEN a full run is asked for
    const w = world();
    const outcome = await runAsl(machine, { request: { full: true } }, w).finally(() => {
      athena.failWhen = undefined;
    });

    // THEN the check of the queries fails after its retries, Abandon runs, the run fails
    expect(outcome).toMatchObject({ status: 'FAILED', error: 'BatchRunFailed' });
    expect(outcome.visited.slice(-3)).toEqual(['Abandon', 'AbandonLeft', 'RunFailed']);
    // (RUNNING once, then FAILED: the step throws, and its two retries on States.TaskFailed too)
    expect(w.invocations).toEqual(['plan', 'unloaded', 'unloaded', 'unloaded', 'unloaded', 'abandon']);
    expect(athena.started.filter((q) => q.startsWith('UNLOAD'))).toHaveLength(2);
    // version 3 was taken by the plan and abandoned; version 2 is served without the new event
    expect(await pointer()).toMatchObject({ version: 2 });
    expect(await served()).toEqual(before);
  }, 120_000);

  it('with the compacted archive (the default stack), the compaction loop commits a generation before the plan, and the run reads it', async () => {
    // GIVEN the stack with its default compaction, the steps function's environment, and the
    // archive as the earlier tests left it (three raw objects, the last never published)
    const template = synth().template();
    const compacting = batchDefinition(template);
    expect(compacting.StartAt).toBe('Compact');
    const env = batchEnvironment(template);
    expect(env[ENV.athenaCompactedTable]).toBe('compacted');
    const columns = compactedTableColumns(typedFields(views));
    compactionAthena.duck = new AthenaInDuckDb(bucketDir, columns, {
      bucket: tables.names.bucket,
      database: env[ENV.athenaDatabase],
      table: env[ENV.athenaTable],
      onObjectWritten: async (key, body) => {
        await s3.send(new PutObjectCommand({ Bucket: tables.names.bucket, Key: key, Body: body }));
      },
    });
    const server = await startAthenaHttpServer(compactionAthena.duck);
    compactionAthena.server = server;
    server.pollsBeforeDone = 1;
    Object.assign(process.env, env, { [ENV.athenaEndpoint]: server.endpoint });
    // The handler reads its configuration once, at module scope: a fresh module for this one.
    vi.resetModules();
    ({ handler } = (await import('../../lambdas/handlers/batch')) as {
      handler: (event: unknown, context: Context) => Promise<unknown>;
    });

    // WHEN a full run is asked for
    const w = world();
    const outcome = await runAsl(compacting, { request: { full: true } }, w);

    // THEN the compaction loop runs to done before the plan, its generation is committed, and the
    // run's UNLOAD reads the compacted table
    expect(outcome.status, JSON.stringify(outcome)).toBe('SUCCEEDED');
    // Three rounds: the partitions query, the Parquet UNLOAD with its partitions' registration,
    // the statistics; each polled twice (RUNNING once), then the plan as without compaction
    const round = ['compact', 'unloaded', 'unloaded'];
    expect(w.invocations).toEqual([
      ...round,
      ...round,
      ...round,
      'compact',
      'plan',
      'unloaded',
      'unloaded',
      'write',
      'publish',
      'cleanup',
    ]);
    const top = outcome.visited.filter((s) => !s.includes('/'));
    expect(top.filter((s) => s === 'AdvanceCompaction')).toHaveLength(3);
    expect(top.slice(top.indexOf('Plan') - 2, top.indexOf('Plan') + 1)).toEqual([
      'AdvanceCompaction',
      'CompactionDone',
      'Plan',
    ]);
    const output = (
      outcome as {
        output: {
          compaction: { phase: string; result: { status: string; sources?: number } };
          result: unknown;
        };
      }
    ).output;
    // the three raw objects, six lines (r's two copies included: the dedupe is the run's)
    expect(output.compaction).toMatchObject({
      phase: 'done',
      result: { status: 'committed', sources: 3, rows: 6 },
    });
    expect(output.result).toMatchObject({ status: 'published', version: 4 });
    const unloads = server.started.filter((q) => q.startsWith('UNLOAD'));
    expect(unloads.filter((q) => q.includes("format = 'PARQUET'"))).toHaveLength(1);
    expect(unloads.filter((q) => q.includes("format = 'JSON'"))).toHaveLength(1);
    expect(unloads.find((q) => q.includes("format = 'JSON'"))).toContain('"compacted"');
    // The last object's event is served now, every id still once
    expect(await served()).toEqual([
      { start: `${DAY}T09:10:00.000Z`, measures: { views: 3, visitors: 2 } },
      { start: `${DAY}T09:12:00.000Z`, measures: { views: 2, visitors: 2 } },
    ]);
  }, 180_000);
});
