import type { APIGatewayProxyEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { validateViews } from '../../lambdas/core/view';
import { KeyIndex } from '../../local/dashboard/key-index';
import { dashboardRoutes } from '../../local/dashboard/routes';

const views = validateViews([
  {
    name: 'by_page',
    eventType: 'page.view',
    key: ['page'],
    granularity: '1m',
    measures: { n: { kind: 'count' } },
  },
]);
const archive = {
  list: async () => ['events/a.ndjson'],
  read: async () =>
    ['/a', '/b', '/a']
      .map((page, i) =>
        JSON.stringify({
          id: `e${i}`,
          type: 'page.view',
          page,
          _tm: 0,
          _am: 0,
          _shard: 's',
          _seq: String(i),
        }),
      )
      .join('\n'),
};
const routes = dashboardRoutes(new KeyIndex({ archive, views }));

/** Calls the route for `resource` as the gateway would. */
async function call(resource: string, params: Partial<APIGatewayProxyEvent>) {
  const route = routes.find((r) => r.resource === resource)!;
  const result = await route.invoke({
    queryStringParameters: null,
    pathParameters: null,
    ...params,
  } as APIGatewayProxyEvent);
  return { status: result.statusCode, type: result.headers?.['content-type'], body: result.body };
}

describe('the dashboard routes of the local gateway', () => {
  it('serves the page at / and its files, uPlot included, and nothing outside the list', async () => {
    const page = await call('/', {});
    expect(page).toMatchObject({ status: 200, type: 'text/html; charset=utf-8' });
    expect(page.body).toContain('<script type="module" src="dashboard/app.js">');
    const uplot = await call('/dashboard/{file}', { pathParameters: { file: 'uPlot.esm.js' } });
    expect(uplot).toMatchObject({ status: 200, type: 'text/javascript; charset=utf-8' });
    expect(uplot.body).toContain('export { uPlot as default }');
    for (const file of ['../routes.ts', '..%2Froutes.ts', 'key-index.ts', ''])
      expect((await call('/dashboard/{file}', { pathParameters: { file } })).status).toBe(404);
  });

  it('lists a view’s keys, filtered and limited, and refuses a bad limit or an unknown view', async () => {
    const keys = await call('/views/{view}/keys', {
      pathParameters: { view: 'by_page' },
      queryStringParameters: { q: 'a' },
    });
    expect(keys.status).toBe(200);
    expect(JSON.parse(keys.body)).toMatchObject({
      total: 2,
      matching: 1,
      keys: [{ key: { page: '/a' }, records: 2 }],
    });
    for (const limit of ['0', '1001', '1.5', 'x']) {
      const refused = await call('/views/{view}/keys', {
        pathParameters: { view: 'by_page' },
        queryStringParameters: { limit },
      });
      expect(refused.status).toBe(400);
      expect(JSON.parse(refused.body).error).toBe(
        `limit must be an integer from 1 to 1000 (given "${limit}")`,
      );
    }
    const unknown = await call('/views/{view}/keys', { pathParameters: { view: 'nope' } });
    expect(unknown).toMatchObject({ status: 404, body: JSON.stringify({ error: 'unknown view "nope"' }) });
  });
});
