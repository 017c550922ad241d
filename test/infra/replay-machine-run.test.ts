import { ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbKappaCellStore } from '../../lambdas/adapters/aws/dynamodb-kappa-cell-store';
import { DynamoDbKappaControlStore } from '../../lambdas/adapters/aws/dynamodb-kappa-control-store';
import { validateViews } from '../../lambdas/core/view';
import { makeS3Client } from '../../lambdas/runtime/clients/s3';
import { ENV } from '../../lambdas/runtime/env';
import { queryKappaView } from '../../lambdas/services/kappa-query';
import { startEmulatedTables, type EmulatedTables } from '../fixtures/emulated-tables';
import type { AslMachine } from './asl';
import { runAsl, type AslWorld } from './asl-interpreter';
import { functionEnvironment } from './function-environment';
import { pageViewLine } from './archive-line';
import { replayDefinition, synthKappa } from './kappa-fixture';
import { FIXTURE_VIEWS } from './stack-fixture';

/**
 * The replay state machine as `cdk synth` writes it, run step by step (asl-interpreter.ts) against
 * the replay handler module itself, configured by the environment the stack gives the function,
 * on the emulators. What the infra tests check field by field is here run as a whole: the
 * handler reads what the machine sends, the claims map runs before the fold map, a failed child
 * reaches the fail step. Not AWS: the interpreter follows the ASL specification for the states
 * the machine uses, and its Wait does not wait.
 */
const views = validateViews(FIXTURE_VIEWS);
const T0 = Date.UTC(2026, 10, 24, 10);

let tables: EmulatedTables;
let s3: S3Client;
let machine: AslMachine;
let replayArn: string;
let handler: (input: unknown) => Promise<unknown>;
const saved = { ...process.env };

/** The stack's environment for the replay function, its references resolved to the emulators' names. */
function replayEnvironment(template: ReturnType<ReturnType<typeof synthKappa>['template']>) {
  const { arn, env } = functionEnvironment(template, 'ReplayHandler', [
    ['TablesKappaTable', tables.names.kappaTable],
    ['TablesControlTable', tables.names.controlTable],
    ['TablesDedupeTable', tables.names.dedupeTable],
    ['ArchiveBucket', tables.names.bucket],
  ]);
  replayArn = arn;
  return env;
}

beforeAll(async () => {
  tables = await startEmulatedTables('replaymachine');
  s3 = makeS3Client(tables.endpoints);
  const template = synthKappa().template();
  machine = replayDefinition(template);
  const env = replayEnvironment(template);
  expect(env[ENV.firehoseDeliveryStream]).toBeUndefined();
  Object.assign(process.env, env, {
    ...tables.handlerEnvironment,
    // The emulators deliver nothing late: no archive lag, and a handoff a moment ahead.
    [ENV.archiveLagMs]: '0',
    [ENV.replayHandoffDelayMs]: '300',
  });
  ({ handler } = (await import('../../lambdas/handlers/replay')) as {
    handler: (input: unknown) => Promise<unknown>;
  });
}, 120_000);

afterAll(async () => {
  process.env = saved;
  s3?.destroy();
  await tables?.stop();
});

/** The world as Step Functions gives it: Lambda invocations with JSON in and out, S3 listings. */
function world(order: (n: number) => number[]): AslWorld & { invocations: string[]; phases: string[] } {
  const invocations: string[] = [];
  const phases: string[] = [];
  const control = new DynamoDbKappaControlStore(tables.doc, tables.names.controlTable);
  return {
    invocations,
    phases,
    async invoke(arn, payload) {
      if (arn !== replayArn) throw new Error(`the machine invoked ${arn}, not the replay function`);
      const { action, replayId } = payload as { action?: string; replayId?: string };
      invocations.push(String(action));
      // Lambda passes JSON: nothing but what survives serialization reaches the handler or returns.
      const result = await handler(JSON.parse(JSON.stringify(payload)));
      // The phase GET /admin/status shows after each step.
      const id = replayId ?? (result as { replayId?: string } | undefined)?.replayId;
      if (id) phases.push(`${String(action)}: ${(await control.readProgress(id)).phase}`);
      return result === undefined ? null : JSON.parse(JSON.stringify(result));
    },
    async listObjects(bucket, prefix) {
      // The definition names the stack's archive bucket by reference (asl.ts resolves it so).
      if (!bucket.startsWith('REF:ArchiveBucket'))
        throw new Error(`the machine listed ${bucket}, not the archive`);
      const items: { Key: string; Size?: number }[] = [];
      let token: string | undefined;
      do {
        const page = await s3.send(
          new ListObjectsV2Command({ Bucket: tables.names.bucket, Prefix: prefix, ContinuationToken: token }),
        );
        for (const o of page.Contents ?? []) items.push({ Key: o.Key!, Size: o.Size });
        token = page.NextContinuationToken;
      } while (token);
      return items;
    },
    async writeObject(bucket, key, body) {
      if (!bucket.startsWith('REF:ArchiveBucket'))
        throw new Error(`the machine wrote its results to ${bucket}, not the archive`);
      await s3.send(new PutObjectCommand({ Bucket: tables.names.bucket, Key: key, Body: body }));
    },
    wait: () => new Promise((r) => setTimeout(r, 400)),
    childOrder: order,
  };
}

/** An object as Firehose names and writes it: GZIP, a name that says nothing of the records' order. */
async function putObject(name: string, lines: string[]): Promise<void> {
  await s3.send(
    new PutObjectCommand({
      Bucket: tables.names.bucket,
      Key: `events/dt=2026-11-24/hour=09/${name}`,
      Body: gzipSync(`${lines.join('\n')}\n`),
    }),
  );
}

async function served(): Promise<{ start: string; measures: Record<string, unknown> }[]> {
  const answer = await queryKappaView(
    'page_views',
    { page: '/a', from: '2026-11-24T09:00:00Z', to: '2026-11-24T10:00:00Z' },
    {
      views,
      cells: new DynamoDbKappaCellStore(tables.doc, tables.names.kappaTable),
      control: new DynamoDbKappaControlStore(tables.doc, tables.names.controlTable),
      clock: { now: () => Date.now() },
    },
  );
  expect(answer.status).toBe(200);
  return (answer.body as { buckets: { start: string; measures: Record<string, unknown> }[] }).buckets;
}

/** The replay id a succeeded execution's Start returned. */
function outcomeReplayId(outcome: Awaited<ReturnType<typeof runAsl>>): string | undefined {
  return outcome.status === 'SUCCEEDED'
    ? (outcome.output as { start?: { replayId?: string } } | null)?.start?.replayId
    : undefined;
}

describe('the synthesized replay state machine, run against the replay handler on the emulators', () => {
  it("claims every object's copies, then folds each id's earliest copy, whatever order the children run in", async () => {
    // GIVEN a producer retry of `r` stamped a minute later, whose first copy sits in the object
    // listed last, the same record archived twice (a Firehose redelivery), and two other events
    const early = T0 - 3_000_000;
    await putObject('streamfold-1-2026-11-24-09-10-00-b.gz', [
      pageViewLine('r', 1, early, '2026-11-24T09:10:59.900Z', 'u-first'),
      pageViewLine('s', 2, early + 1, '2026-11-24T09:10:30Z', 'u2'),
    ]);
    await putObject('streamfold-1-2026-11-24-09-11-00-a.gz', [
      pageViewLine('r', 5, early + 5_000, '2026-11-24T09:11:00.100Z', 'u-retry'),
      pageViewLine('t', 6, early + 5_001, '2026-11-24T09:12:00Z', 'u3'),
    ]);
    await putObject('streamfold-1-2026-11-24-09-10-00-c.gz', [
      pageViewLine('s', 2, early + 1, '2026-11-24T09:10:30Z', 'u2'),
    ]);

    // WHEN the machine runs, each map's children in reverse listing order
    const w = world((n) => Array.from({ length: n }, (_, i) => n - 1 - i));
    const outcome = await runAsl(machine, {}, w);

    // THEN it succeeds through both maps, claims before folds
    expect(outcome.status, JSON.stringify(outcome)).toBe('SUCCEEDED');
    const firstFold = w.invocations.indexOf('object');
    expect(w.invocations.slice(0, firstFold)).toEqual(['start', 'ready', 'claim', 'claim', 'claim']);
    expect(w.invocations.slice(firstFold)).toEqual(['object', 'object', 'object', 'finish']);
    // The status names the claims phase while it lasts (its progress counts the fold's objects only)
    expect(new Set(w.phases)).toEqual(
      new Set([
        'start: waiting-for-archive',
        'ready: reading',
        'claim: claiming copies',
        'object: reading',
        'finish: done',
      ]),
    );
    // r counted once, in the minute of its first copy with that copy's visitor (the batch layer's
    // choice); s once though archived twice
    expect(await served()).toEqual([
      { start: '2026-11-24T09:10:00.000Z', measures: { views: 2, visitors: 2 } },
      { start: '2026-11-24T09:12:00.000Z', measures: { views: 1, visitors: 1 } },
    ]);
  }, 120_000);

  it('a child that fails after its retries fails the map, the replay is marked failed, the active version stays', async () => {
    // GIVEN an object with a line that is not an archive line
    await putObject('streamfold-1-2026-11-24-09-20-00-broken.gz', ['{"not":"an archive line"}']);

    // WHEN the machine runs
    const w = world((n) => Array.from({ length: n }, (_, i) => i));
    const outcome = await runAsl(machine, {}, w);

    // THEN the claims map fails, the fail step records it, nothing is folded, the building
    // version's cells are dropped, the first replay's version is still served
    expect(outcome).toMatchObject({ status: 'FAILED', error: 'ReplayFailed' });
    expect(w.invocations).not.toContain('object');
    expect(w.invocations.slice(-2)).toEqual(['fail', 'drop']);
    const control = await new DynamoDbKappaControlStore(tables.doc, tables.names.controlTable).read();
    expect(control.replay).toMatchObject({ status: 'failed', version: 2, dropped: [] });
    expect(control.replay?.error).toContain('States.ExceedToleratedFailureThreshold');
    expect(control.views.page_views.active?.version).toBe(1);
    expect(await served()).toHaveLength(2);
  }, 120_000);

  it("a flip's dropped version is deleted by the drop loop after Finish", async () => {
    // GIVEN two more replays over the archive without its broken object: versions 3 and 4, so
    // the flip to 4 drops version 1 (active 4, previous 3)
    const cells = new DynamoDbKappaCellStore(tables.doc, tables.names.kappaTable);
    const cellsOf = async (version: number) =>
      (await cells.query(version, views[0], ['/a'], 0, Number.MAX_SAFE_INTEGER)).length;
    await s3.send(
      new PutObjectCommand({
        Bucket: tables.names.bucket,
        Key: 'events/dt=2026-11-24/hour=09/streamfold-1-2026-11-24-09-20-00-broken.gz',
        Body: gzipSync(`${pageViewLine('u', 9, T0 - 2_000_000, '2026-11-24T09:20:00Z')}\n`),
      }),
    );
    expect(await cellsOf(1)).toBeGreaterThan(0);
    for (const version of [3, 4]) {
      const w = world((n) => Array.from({ length: n }, (_, i) => i));
      // WHEN the machine runs
      const outcome = await runAsl(machine, {}, w);
      // THEN each succeeds; the second one's drop loop deletes version 1, leaving 3 and 4
      expect(outcome.status, JSON.stringify(outcome)).toBe('SUCCEEDED');
      expect(w.invocations.slice(-2)).toEqual(version === 4 ? ['finish', 'drop'] : ['object', 'finish']);
    }
    expect(await cellsOf(1)).toBe(0);
    expect(await cellsOf(3)).toBeGreaterThan(0);
    expect(await cellsOf(4)).toBeGreaterThan(0);
    const control = await new DynamoDbKappaControlStore(tables.doc, tables.names.controlTable).read();
    expect(control.replay).toMatchObject({ status: 'finished', version: 4, dropped: [] });
    expect(control.views.page_views).toMatchObject({ active: { version: 4 }, previous: { version: 3 } });
  }, 120_000);

  it('a Start that meets another replay running (two start requests at once) ends in AnotherReplayRunning, not failed, the running replay untouched', async () => {
    // GIVEN a replay running: the first of two requests that both passed the admin function's check
    const first = (await handler({ action: 'start' })) as { replayId: string };

    // WHEN the second request's execution runs
    const w = world((n) => Array.from({ length: n }, (_, i) => i));
    const outcome = await runAsl(machine, {}, w);

    // THEN it succeeds without a step after Start (the FailedAlarm counts failed executions only),
    // and the first replay still runs
    expect(outcome, JSON.stringify(outcome)).toMatchObject({ status: 'SUCCEEDED' });
    expect(outcome.visited).toEqual(['Start', 'AnotherReplayRunning']);
    expect(w.invocations).toEqual(['start']);
    const control = new DynamoDbKappaControlStore(tables.doc, tables.names.controlTable);
    expect((await control.read()).replay).toMatchObject({ replayId: first.replayId, status: 'running' });
    await handler({ action: 'fail', replayId: first.replayId, error: 'ended by the test' });
  }, 120_000);

  it('a Start whose answer was lost is retried and goes on with the replay it recorded', async () => {
    // GIVEN a start step whose function recorded the replay, then its answer was lost (a Lambda
    // service error, which LambdaInvoke retries by default)
    const w = world((n) => Array.from({ length: n }, (_, i) => i));
    const invoke = w.invoke.bind(w);
    let lost = 0;
    w.invoke = async (arn, payload) => {
      const result = await invoke(arn, payload);
      if ((payload as { action?: string }).action === 'start' && lost++ === 0)
        throw Object.assign(new Error('the answer was lost'), { name: 'Lambda.ServiceException' });
      return result;
    };

    // WHEN the machine runs
    const outcome = await runAsl(machine, {}, w);

    // THEN the second start continues the first one's replay (not refused as another replay)
    expect(outcome.status, JSON.stringify(outcome)).toBe('SUCCEEDED');
    expect(w.invocations.slice(0, 3)).toEqual(['start', 'start', 'ready']);
    const control = new DynamoDbKappaControlStore(tables.doc, tables.names.controlTable);
    const first = (await control.read()).replay;
    expect(first).toMatchObject({ status: 'finished', replayId: outcomeReplayId(outcome) });
  }, 120_000);

  it('a Start that fails after recording its replay fails that replay, so the next one runs', async () => {
    // GIVEN a start step whose function recorded the replay, then failed (an error the step does
    // not retry, such as its progress write throttled past the SDK's retries)
    const w = world((n) => Array.from({ length: n }, (_, i) => i));
    const invoke = w.invoke.bind(w);
    w.invoke = async (arn, payload) => {
      const result = await invoke(arn, payload);
      if ((payload as { action?: string }).action === 'start')
        throw Object.assign(new Error('throttled'), { name: 'ProvisionedThroughputExceededException' });
      return result;
    };
    const executionId = 'arn:aws:states:eu-west-1:123456789012:execution:machine:start-failed';

    // WHEN the machine runs
    const outcome = await runAsl(machine, {}, w, executionId);

    // THEN the replay this execution recorded is failed (not left running with nothing behind it)
    expect(outcome, JSON.stringify(outcome)).toMatchObject({ status: 'FAILED', error: 'ReplayFailed' });
    expect(outcome.visited.slice(0, 2)).toEqual(['Start', 'AbandonStart']);
    // then the building version's cells are deleted as a failed replay's are
    expect(w.invocations).toEqual(['start', 'abandon', 'drop']);
    const control = new DynamoDbKappaControlStore(tables.doc, tables.names.controlTable);
    const failed = (await control.read()).replay;
    expect(failed).toMatchObject({ status: 'failed', executionId });
    expect(failed?.error).toContain('the start step failed after recording the replay');
    expect(failed?.error).toContain('throttled');
    expect((await control.read()).views.page_views.building).toBeNull();

    // AND the next replay starts and runs to its end
    const next = await runAsl(
      machine,
      {},
      world((n) => Array.from({ length: n }, (_, i) => i)),
    );
    expect(next.status, JSON.stringify(next)).toBe('SUCCEEDED');
    expect((await control.read()).replay).toMatchObject({ status: 'finished' });
  }, 120_000);
});
