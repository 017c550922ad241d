import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { jsonResponse, pathParam } from '../adapters/codecs/api-gateway';

/**
 * The dashboard's static files in the cloud (opt-in: context `dashboard=true`): GET / and
 * GET /dashboard/{file} behind the API, IAM-authorized like every route. The bundle carries the
 * files in `dashboard/` beside this handler (copied at bundling from local/dashboard/public and
 * uPlot's dist); they are read once per cold start. A fixed list: never a path from the request.
 */
const DIR = path.join(__dirname, 'dashboard');
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};
const files = new Map(
  readdirSync(DIR)
    .filter((name) => TYPES[path.extname(name)])
    .map((name) => [name, readFileSync(path.join(DIR, name), 'utf8')]),
);

export const handler = async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
  const name = event.resource === '/' ? 'index.html' : (pathParam(event, 'file') ?? '');
  const body = files.get(name);
  if (body === undefined)
    return jsonResponse(404, { error: `no dashboard file "${name}"`, files: [...files.keys()].sort() });
  return {
    statusCode: 200,
    headers: { 'content-type': TYPES[path.extname(name)], 'cache-control': 'no-cache' },
    body,
  };
};
