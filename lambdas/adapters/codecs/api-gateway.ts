import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';

export function jsonResponse(status: number, body: unknown): APIGatewayProxyResult {
  return {
    statusCode: status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
    body: JSON.stringify(body),
  };
}

export function requestBody(event: APIGatewayProxyEvent): string {
  if (event.body === null || event.body === undefined) return '';
  return event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
}

/**
 * Query-string parameters (single values; API Gateway already URL-decoded them), in a map with
 * no prototype: a parameter named `constructor` or `__proto__` is just a name.
 */
export function queryParams(event: APIGatewayProxyEvent): Record<string, string | undefined> {
  const params: Record<string, string | undefined> = Object.create(null) as Record<
    string,
    string | undefined
  >;
  for (const [name, value] of Object.entries(event.queryStringParameters ?? {})) params[name] = value;
  return params;
}

/**
 * A path parameter as text. API Gateway passes it decoded; a `%` that is left (`/views/%25`) is
 * part of the name, not an escape to decode again.
 */
export function pathParam(event: APIGatewayProxyEvent, name: string): string | undefined {
  const params = event.pathParameters;
  if (!params || !Object.prototype.hasOwnProperty.call(params, name)) return undefined;
  return params[name];
}
