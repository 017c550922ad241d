import { promises as fs, readdirSync } from 'node:fs';
import * as path from 'node:path';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import type { Route } from '../http-gateway';
import type { KeyIndex } from './key-index';

/** The page's own files: static, no build step (plain ES modules). */
export const PUBLIC_DIR = path.join(__dirname, 'public');
/** uPlot's browser build, served from node_modules (no CDN: the page works offline). */
const UPLOT_DIST = path.join(path.dirname(require.resolve('uplot/package.json')), 'dist');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/** Every file the dashboard serves, by the name it is requested with: a fixed list, never a path from the request. */
export function dashboardFiles(): Map<string, string> {
  const files = new Map<string, string>();
  for (const name of readdirSync(PUBLIC_DIR))
    if (TYPES[path.extname(name)]) files.set(name, path.join(PUBLIC_DIR, name));
  files.set('uPlot.esm.js', path.join(UPLOT_DIST, 'uPlot.esm.js'));
  files.set('uPlot.min.css', path.join(UPLOT_DIST, 'uPlot.min.css'));
  return files;
}

const DEFAULT_KEY_LIMIT = 50;
const MAX_KEY_LIMIT = 1000;

function json(status: number, body: unknown): APIGatewayProxyResult {
  return {
    statusCode: status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
    body: JSON.stringify(body),
  };
}

/**
 * The dashboard's routes on the local gateway: `GET /` (the page), `GET /dashboard/{file}` (its
 * scripts, styles and uPlot), and `GET /views/{view}/keys?q=&limit=` (read-only: the keys a view
 * has data for, for the page's key picker). Everything else the page shows comes from the API's
 * own routes.
 */
export function dashboardRoutes(keys: KeyIndex): Route[] {
  const files = dashboardFiles();
  const serve = async (name: string): Promise<APIGatewayProxyResult> => {
    const file = files.get(name);
    if (!file) return json(404, { error: `no dashboard file "${name}"`, files: [...files.keys()].sort() });
    return {
      statusCode: 200,
      // Revalidated on each load: the files are small, and a stale app.js after an upgrade confuses.
      headers: { 'content-type': TYPES[path.extname(file)], 'cache-control': 'no-cache' },
      body: await fs.readFile(file, 'utf8'),
    };
  };
  return [
    { method: 'GET', resource: '/', invoke: () => serve('index.html') },
    {
      method: 'GET',
      resource: '/dashboard/{file}',
      invoke: (e: APIGatewayProxyEvent) => serve(e.pathParameters?.file ?? ''),
    },
    {
      method: 'GET',
      resource: '/views/{view}/keys',
      invoke: async (e: APIGatewayProxyEvent) => {
        const q = e.queryStringParameters?.q ?? '';
        const rawLimit = e.queryStringParameters?.limit;
        const limit = rawLimit === undefined ? DEFAULT_KEY_LIMIT : Number(rawLimit);
        if (!Number.isInteger(limit) || limit < 1 || limit > MAX_KEY_LIMIT)
          return json(400, {
            error: `limit must be an integer from 1 to ${MAX_KEY_LIMIT} (given ${JSON.stringify(rawLimit)})`,
          });
        const view = e.pathParameters?.view ?? '';
        const listing = await keys.list(view, q, limit);
        if (!listing) return json(404, { error: `unknown view "${view}"` });
        return json(200, listing);
      },
    },
  ];
}
