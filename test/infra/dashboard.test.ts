import { existsSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../bin/build-app';
import { addDashboardFunction } from '../../lib/stacks/shared';
import { synthKappa } from './kappa-fixture';
import { synth } from './stack-fixture';

type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;

/** `METHOD /path -> FunctionId` for every API method of a template. */
function routes(template: Template): string[] {
  const all = template.findResources('AWS::ApiGateway::Resource') as Resources;
  const pathOf = (ref: { Ref?: string; 'Fn::GetAtt'?: unknown }): string => {
    if (!ref.Ref) return ''; // the root resource (Fn::GetAtt RootResourceId)
    const r = all[ref.Ref].Properties;
    return `${pathOf(r.ParentId as { Ref?: string })}/${r.PathPart as string}`;
  };
  const methods = template.findResources('AWS::ApiGateway::Method') as Resources;
  return Object.values(methods)
    .map((m) => {
      const uri = JSON.stringify((m.Properties.Integration as { Uri: unknown }).Uri);
      const target = /"(\w+?Function)[0-9A-F]{8}"/.exec(uri)?.[1];
      const where = pathOf(m.Properties.ResourceId as { Ref?: string }) || '/';
      return `${m.Properties.HttpMethod as string} ${where} ${m.Properties.AuthorizationType as string} -> ${target}`;
    })
    .sort();
}

describe('the dashboard in the cloud (opt-in)', { timeout: 180_000 }, () => {
  // GIVEN the Lambda stack without and with the dashboard (synthesized once each: synth is slow)
  let plain: Template | undefined;
  let withDashboard: Template | undefined;
  const plainTemplate = () => (plain ??= synth().template());
  const dashboardTemplate = () => (withDashboard ??= synth({ dashboard: true }).template());

  it('is not deployed by default; the Lambda API answers GET /views/{view}/parts, IAM-authorized', () => {
    const all = routes(plainTemplate());
    expect(all.filter((r) => r.startsWith('GET / ') || r.includes('/dashboard'))).toEqual([]);
    expect(all).toContain('GET /views/{view}/parts AWS_IAM -> QueryFunction');
  });

  it('serves GET / and GET /dashboard/{file} from its own function, IAM-authorized like every route', () => {
    const all = routes(dashboardTemplate());
    expect(all).toContain('GET / AWS_IAM -> DashboardFunction');
    expect(all).toContain('GET /dashboard/{file} AWS_IAM -> DashboardFunction');
    for (const route of all) expect(route).toMatch(/ AWS_IAM -> /);
  });

  it('gives the dashboard function no access to any data (logs and traces only)', () => {
    const policies = dashboardTemplate().findResources('AWS::IAM::Policy') as Resources;
    const [policy] = Object.entries(policies).filter(([id]) => id.startsWith('DashboardRole'));
    const actions = (
      policy[1].Properties.PolicyDocument as { Statement: { Action: string | string[] }[] }
    ).Statement.flatMap((s) => s.Action);
    expect(actions.sort()).toEqual(
      [
        'logs:CreateLogStream',
        'logs:PutLogEvents',
        'xray:PutTelemetryRecords',
        'xray:PutTraceSegments',
      ].sort(),
    );
  });

  it('is offered by the Kappa stack too, without the Lambda-only parts route', () => {
    const all = routes(synthKappa({ dashboard: true }).template());
    expect(all).toContain('GET / AWS_IAM -> DashboardFunction');
    expect(all.some((r) => r.includes('/parts'))).toBe(false);
  });

  it('is turned on by the context flag dashboard=true, and fails on another value', () => {
    const app = (dashboard: string) =>
      new App({
        context: {
          'aws:cdk:bundling-stacks': [],
          views: path.join(__dirname, 'fixtures', 'views.ts'),
          dashboard,
        },
      });
    const [stack] = buildApp(app('true'));
    expect(routes(Template.fromStack(stack))).toContain('GET / AWS_IAM -> DashboardFunction');
    expect(() => buildApp(app('yes'))).toThrow('context dashboard must be true or false (given "yes")');
  });

  it('bundles the page and uPlot beside the handler, which serves them', async () => {
    const app = new App();
    const stack = new Stack(app, 'DashboardBundle');
    addDashboardFunction(stack);
    const assembly = app.synth();
    const [asset] = readdirSync(assembly.directory).filter((name) => name.startsWith('asset.'));
    const dir = path.join(assembly.directory, asset);
    expect(readdirSync(path.join(dir, 'dashboard')).sort()).toEqual(
      [
        ...readdirSync(path.join(__dirname, '..', '..', 'local', 'dashboard', 'public')),
        'uPlot.esm.js',
        'uPlot.min.css',
      ].sort(),
    );
    expect(existsSync(path.join(dir, 'index.js'))).toBe(true);
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the bundle is CommonJS, built just now
    const { handler } = require(path.join(dir, 'index.js')) as {
      handler: (e: unknown) => Promise<{ statusCode: number; headers: Record<string, string>; body: string }>;
    };
    const page = await handler({ resource: '/', pathParameters: null });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.body).toContain('dashboard/app.js');
    const uplot = await handler({ resource: '/dashboard/{file}', pathParameters: { file: 'uPlot.esm.js' } });
    expect(uplot.body).toContain('uPlot');
    const outside = await handler({ resource: '/dashboard/{file}', pathParameters: { file: '../index.js' } });
    expect(outside.statusCode).toBe(404);
  }, 120_000);
});
