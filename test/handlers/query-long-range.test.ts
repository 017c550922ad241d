import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbBatchViewStore } from '../../lambdas/adapters/aws/dynamodb-batch-view-store';
import { CachedBatchViewStore } from '../../lambdas/adapters/cache/cached-batch-view-store';
import { liftRow } from '../../lambdas/core/measures';
import { validateViews } from '../../lambdas/core/view';
import { makeDynamoDocumentClient } from '../../lambdas/runtime/clients/dynamodb';
import { startEmulatedTables, type EmulatedTables } from '../fixtures/emulated-tables';

const [view] = validateViews([
  {
    name: 'daily',
    eventType: 'reading',
    key: ['station'],
    granularity: '1d',
    measures: { n: { kind: 'count' }, total: { kind: 'sum', field: 'v' } },
  },
]);
const DAY = 86_400_000;
const T0 = Date.UTC(2000, 0, 1);
/** What GET /views allows for a 1d view: MAX_BUCKETS_PER_QUERY days, about 27 years. */
const SPAN_DAYS = 9_999;
/** How late the slow DynamoDB answers every request: a busy machine's emulator. */
const DELAY_MS = 100;

/**
 * A DynamoDB that answers every request DELAY_MS late: the emulator behind a proxy that holds
 * each request before passing it on, as a machine at a high load average makes dynalite do.
 */
function slowProxy(target: string): Promise<{ url: string; requests: () => number; close(): Promise<void> }> {
  const upstream = new URL(target);
  let requests = 0;
  const server = http.createServer((req, res) => {
    requests++;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () =>
      setTimeout(() => {
        const out = http.request(
          {
            host: upstream.hostname,
            port: upstream.port,
            path: req.url,
            method: req.method,
            headers: req.headers,
          },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        out.on('error', () => res.destroy());
        out.end(Buffer.concat(chunks));
      }, DELAY_MS),
    );
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        requests: () => requests,
        close: () => {
          server.closeAllConnections();
          return new Promise<void>((done) => server.close(() => done()));
        },
      }),
    ),
  );
}

describe('GET /views over a long range of a 1d view, against a slow DynamoDB', () => {
  let tables: EmulatedTables;
  let proxy: Awaited<ReturnType<typeof slowProxy>>;

  beforeAll(async () => {
    tables = await startEmulatedTables('longrange');
    const direct = new DynamoDbBatchViewStore(tables.doc, tables.names.batchTable);
    // Cells at both ends of the range and one in the middle.
    await direct.writeCells(
      1,
      view,
      [0, 5_000, SPAN_DAYS - 1].map((day) => ({
        key: ['s1'],
        bucketMs: T0 + day * DAY,
        state: liftRow(view, { v: day }),
      })),
    );
    proxy = await slowProxy(tables.endpoints.dynamodb!);
  }, 60_000);
  afterAll(async () => {
    await proxy?.close();
    await tables?.stop();
  });

  it('answers every cell, reading the range in one query, not one per day at once (those timed out waiting for a socket: 502)', async () => {
    // GIVEN the batch store as the query function builds it, its client from the runtime's factory
    const doc = makeDynamoDocumentClient({ ...tables.endpoints, dynamodb: proxy.url });
    const store = new CachedBatchViewStore(new DynamoDbBatchViewStore(doc, tables.names.batchTable));
    // WHEN the longest range GET /views allows is read
    const cells = await store.query(1, view, ['s1'], T0, T0 + SPAN_DAYS * DAY, { base: 1, skip: [] });
    // THEN every cell is there, read with a handful of requests
    expect(cells.map((c) => (c.bucketMs - T0) / DAY)).toEqual([0, 5_000, SPAN_DAYS - 1]);
    expect(proxy.requests()).toBeLessThanOrEqual(2);
    doc.destroy();
  }, 60_000);
});
