import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { validateViews } from '../../lambdas/core/view';
import { ENV } from '../../lambdas/runtime/env';
import { startEmulatedTables, type EmulatedTables } from '../fixtures/emulated-tables';
import { FIXTURE_VIEWS } from '../infra/stack-fixture';

/**
 * POST /admin/replay in the cloud: the admin function starts the replay state machine. Step
 * Functions refuses a second execution of one name with another input (ExecutionAlreadyExists),
 * so two requests in one millisecond must not share a name. The Step Functions endpoint here is a
 * stub that keeps that rule (StartExecution's documented behaviour), the tables are the emulators'.
 */
const STATE_MACHINE = 'arn:aws:states:us-east-1:000000000000:stateMachine:replay';
let tables: EmulatedTables;
let sfn: Server;
const started = new Map<string, string>();
let handler: (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>;
const saved = { ...process.env };

beforeAll(async () => {
  tables = await startEmulatedTables('kappaadmin');
  sfn = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const { name, input } = JSON.parse(body) as { name: string; input: string };
      res.setHeader('content-type', 'application/x-amz-json-1.0');
      if (started.has(name) && started.get(name) !== input) {
        res.statusCode = 400;
        res.end(
          JSON.stringify({
            __type: 'ExecutionAlreadyExists',
            message: `Execution Already Exists: '${name}'`,
          }),
        );
        return;
      }
      started.set(name, input);
      res.end(
        JSON.stringify({
          executionArn: `${STATE_MACHINE.replace(':stateMachine:', ':execution:')}:${name}`,
          startDate: 1,
        }),
      );
    });
  });
  await new Promise<void>((resolve) => sfn.listen(0, '127.0.0.1', resolve));
  Object.assign(process.env, {
    ...tables.handlerEnvironment,
    [ENV.views]: JSON.stringify(validateViews(FIXTURE_VIEWS)),
    [ENV.kappaTable]: tables.names.kappaTable,
    [ENV.controlTable]: tables.names.controlTable,
    [ENV.replayStateMachineArn]: STATE_MACHINE,
    [ENV.sfnEndpoint]: `http://127.0.0.1:${(sfn.address() as { port: number }).port}`,
  });
  ({ handler } = await import('../../lambdas/handlers/kappa-admin'));
}, 60_000);

afterAll(async () => {
  process.env = saved;
  vi.useRealTimers();
  await new Promise((resolve) => sfn?.close(resolve));
  await tables?.stop();
});

const post = (body: unknown) =>
  handler({
    httpMethod: 'POST',
    path: '/admin/replay',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  } as unknown as APIGatewayProxyEvent);

describe('POST /admin/replay (cloud admin function)', () => {
  it('starts two executions for two requests in the same millisecond, each with its own input', async () => {
    vi.useFakeTimers({ now: Date.UTC(2026, 11, 5), toFake: ['Date'] });
    const [a, b] = await Promise.all([post({ views: ['page_views'] }), post({})]);
    vi.useRealTimers();
    expect([a.statusCode, b.statusCode], `${a.body} ${b.body}`).toEqual([202, 202]);
    const arns = [a, b].map((r) => (JSON.parse(r.body) as { executionArn: string }).executionArn);
    expect(new Set(arns).size).toBe(2);
    expect(started.size).toBe(2);
  });
});
