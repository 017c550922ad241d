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

/** Query-string parameters (single values; API Gateway already URL-decoded them). */
export function queryParams(event: APIGatewayProxyEvent): Record<string, string | undefined> {
  return { ...(event.queryStringParameters ?? {}) };
}
