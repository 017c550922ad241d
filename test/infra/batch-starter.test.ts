import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ENV } from '../../lambdas/runtime/env';
import { startEmulatedTables, type EmulatedTables } from '../fixtures/emulated-tables';
import { functionEnvironment } from './function-environment';
import { synth } from './stack-fixture';

/**
 * The batch layer's starter in the cloud (POST /admin/batch and the schedule), configured by the
 * environment the stack gives it, against a Step Functions endpoint that answers ListExecutions
 * and StartExecution as the API documents: one run at a time, as the local scheduler runs them. A
 * run can outlast the schedule; one started beside it would plan on the same pointer and pay its
 * Athena scans for nothing (and, before the publish was made safe for it, a retried Publish could
 * delete cells the newer version read).
 */
const STATE_MACHINE = 'arn:aws:states:us-east-1:000000000000:stateMachine:batch';
let tables: EmulatedTables;
let sfn: Server;
let running: string[] = [];
const calls: { target: string; body: Record<string, unknown> }[] = [];
let handler: (event: unknown, context: Context) => Promise<unknown>;
const saved = { ...process.env };

beforeAll(async () => {
  tables = await startEmulatedTables('batchstarter');
  sfn = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      const parsed = JSON.parse(body) as Record<string, unknown>;
      calls.push({ target, body: parsed });
      res.setHeader('content-type', 'application/x-amz-json-1.0');
      if (target.endsWith('.ListExecutions')) {
        const listed = parsed.statusFilter === 'RUNNING' ? running : [];
        res.end(
          JSON.stringify({
            executions: listed.slice(0, Number(parsed.maxResults ?? 100)).map((executionArn) => ({
              executionArn,
              stateMachineArn: STATE_MACHINE,
              name: executionArn.split(':').pop(),
              status: 'RUNNING',
              startDate: 1,
            })),
          }),
        );
        return;
      }
      if (target.endsWith('.StartExecution')) {
        const executionArn = `${STATE_MACHINE.replace(':stateMachine:', ':execution:')}:run-${calls.length}`;
        running.push(executionArn);
        res.end(JSON.stringify({ executionArn, startDate: 1 }));
        return;
      }
      res.statusCode = 400;
      res.end(JSON.stringify({ __type: 'UnknownOperationException', message: target }));
    });
  });
  await new Promise<void>((resolve) => sfn.listen(0, '127.0.0.1', resolve));
  const { env } = functionEnvironment(synth().template(), 'BatchLayerStarter', [
    ['TablesSpeedTable', tables.names.speedTable],
    ['TablesBatchTable', tables.names.batchTable],
    ['TablesControlTable', tables.names.controlTable],
    ['ArchiveBucket', tables.names.bucket],
    ['ArchiveWorkGroup', 'streamfold-test'],
    ['BatchLayerStateMachine', STATE_MACHINE],
  ]);
  expect(env[ENV.batchStateMachine]).toBe(STATE_MACHINE);
  Object.assign(process.env, env, {
    ...tables.handlerEnvironment,
    [ENV.sfnEndpoint]: `http://127.0.0.1:${(sfn.address() as { port: number }).port}`,
  });
  ({ handler } = (await import('../../lambdas/handlers/batch')) as {
    handler: (event: unknown, context: Context) => Promise<unknown>;
  });
}, 120_000);

afterAll(async () => {
  process.env = saved;
  await new Promise((resolve) => sfn?.close(resolve));
  await tables?.stop();
});

beforeEach(() => {
  running = [];
  calls.length = 0;
});

const context = { functionName: 'starter', awsRequestId: 'r' } as Context;
const post = async (body: unknown) =>
  (await handler(
    {
      httpMethod: 'POST',
      path: '/admin/batch',
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json' },
    } as unknown as APIGatewayProxyEvent,
    context,
  )) as APIGatewayProxyResult;
const scheduled = () =>
  handler({ source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} }, context);
const started = () => calls.filter((c) => c.target.endsWith('.StartExecution'));

describe('the batch starter in the cloud: one run at a time', () => {
  it('starts a run when none is running, and answers 202 with its execution', async () => {
    const answer = await post({});
    expect(answer.statusCode).toBe(202);
    expect(JSON.parse(answer.body)).toMatchObject({ status: 'started', executionArn: running[0] });
    expect(calls.map((c) => c.target.split('.').pop())).toEqual(['ListExecutions', 'StartExecution']);
    expect(calls[0].body).toMatchObject({ stateMachineArn: STATE_MACHINE, statusFilter: 'RUNNING' });
    expect(JSON.parse(String(started()[0].body.input))).toEqual({ request: { full: false } });
  });

  it('starts none while a run is RUNNING: POST /admin/batch answers 409 naming it, the schedule skips its tick', async () => {
    running = [`${STATE_MACHINE.replace(':stateMachine:', ':execution:')}:long-run`];
    const answer = await post({ full: true });
    expect(answer.statusCode).toBe(409);
    expect(JSON.parse(answer.body)).toMatchObject({
      executionArn: running[0],
      error: expect.stringMatching(/in progress.*started none/),
    });
    expect(await scheduled()).toEqual({ status: 'running', executionArn: running[0] });
    expect(started()).toEqual([]);
  });

  it('starts the next run once the running one has ended', async () => {
    running = [`${STATE_MACHINE.replace(':stateMachine:', ':execution:')}:long-run`];
    expect((await post({})).statusCode).toBe(409);
    running = [];
    expect(await scheduled()).toMatchObject({ status: 'started' });
    expect(started()).toHaveLength(1);
  });
});
