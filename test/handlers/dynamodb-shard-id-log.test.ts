import { PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbShardIdLog } from '../../lambdas/adapters/aws/dynamodb-shard-id-log';
import { DynamoDbEventClaims } from '../../lambdas/adapters/aws/dynamodb-event-claims';
import { startEmulatedTables, type EmulatedTables } from '../fixtures/emulated-tables';

const WINDOW_SECONDS = 900;
const at = 1_796_000_000_000;
const entries = (...ids: string[]) => ids.map((id, i) => ({ id, seq: String(1000 + i) }));

describe('the shard id log in DynamoDB (dynalite)', () => {
  let tables: EmulatedTables;
  let doc: DynamoDBDocumentClient;
  let log: DynamoDbShardIdLog;

  beforeAll(async () => {
    tables = await startEmulatedTables('idlog');
    doc = tables.doc;
    log = new DynamoDbShardIdLog(doc, tables.names.dedupeTable, WINDOW_SECONDS);
  }, 60_000);
  afterAll(async () => {
    await tables.stop();
  });

  it('writes a position once: a second writer from the same read finds it taken, not overwritten', async () => {
    const first = await log.append('s1', undefined, { lastArrivedMs: at, entries: entries('a', 'b', 'c') });
    expect(first).toBeDefined();
    // A writer that read the same (empty) log: a late request of a runtime that died.
    expect(await log.append('s1', undefined, { lastArrivedMs: at, entries: entries('a') })).toBeUndefined();
    const items = await log.readAfter('s1', undefined);
    expect(items.map((i) => i.entries.map((e) => e.id))).toEqual([['a', 'b', 'c']]);
    // After reading, it appends behind what it read.
    const second = await log.append('s1', first, { lastArrivedMs: at + 1, entries: entries('d') });
    expect(second! > first!).toBe(true);
    expect((await log.readAfter('s1', first)).map((i) => i.sortKey)).toEqual([second]);
    expect((await log.readRecent('s1', at - 1)).map((i) => i.sortKey)).toEqual([first, second]);
  });

  it('reads past a claim of the event id `#idlog#<shard>` in the same table (hostile ids)', async () => {
    // The Kappa processor's claims share the dedupe table locally; an event id is any string.
    const claims = new DynamoDbEventClaims(doc, tables.names.dedupeTable, WINDOW_SECONDS, { now: () => at });
    await claims.claim('#idlog#s2', 'shardId-000000000000/1', at);
    const position = await log.append('s2', undefined, { lastArrivedMs: at, entries: entries('x') });
    expect((await log.readRecent('s2', at - 1)).map((i) => i.sortKey)).toEqual([position]);
    expect((await log.readAfter('s2', undefined)).map((i) => i.sortKey)).toEqual([position]);
  });

  it('reads an item that lacks its entries as an error naming it', async () => {
    await doc.send(
      new PutCommand({
        TableName: tables.names.dedupeTable,
        Item: { pk: '#idlog#s3', sk: 'n0000000000000001', la: at },
      }),
    );
    await expect(log.readAfter('s3', undefined)).rejects.toThrow(
      /#idlog#s3\/n0000000000000001 lacks its entries/,
    );
  });
});
