import { CreateBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3CheckpointWatermark, WATERMARK_KEY } from '../../lambdas/adapters/aws/s3-archive-watermark';
import { DuckDbQueryEngine } from '../../lambdas/adapters/duckdb/duckdb-query-engine';
import { makeS3Client } from '../../lambdas/runtime/clients';
import { startEmulators, type Emulators } from '../../local/emulators';

/**
 * The DuckDB engine against an S3 it cannot read as a folder (`--endpoint`, LocalStack): it copies
 * the archive into a local mirror before reading. A run asks for its sources several times with
 * one cutoff; each listed the whole bucket again, which through s3rver (its listing reads every
 * object's metadata) took 2 to 24 s each in a 10,000-event fault run, most of every batch run
 * (the likely cause of the full fault run's 918 s final batch run). With the archive's watermark,
 * a source whose cutoff the last copy covers lists nothing, and one past it copies what arrived
 * since.
 */
const BUCKET = 'mirror-test';
let emulators: Emulators;
let s3: S3Client;
const root = mkdtempSync(path.join(tmpdir(), 'streamfold-mirror-'));
let listings = 0;

beforeAll(async () => {
  emulators = await startEmulators();
  s3 = makeS3Client(emulators.endpoints);
  // Counts the listings the engine makes (the middleware sees every command the client sends).
  s3.middlewareStack.add(
    (next, context) => (args) => {
      if (context.commandName === 'ListObjectsV2Command') listings++;
      return next(args);
    },
    { step: 'initialize', name: 'countListings' },
  );
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
}, 60_000);

afterAll(async () => {
  s3?.destroy();
  await emulators?.stop();
  rmSync(root, { recursive: true, force: true });
});

/** One archive object of `n` events that arrived from `arrivedMs` on, as the archiver writes it. */
async function archive(name: string, arrivedMs: number, n: number): Promise<void> {
  const lines = Array.from({ length: n }, (_, i) =>
    JSON.stringify({
      id: `${name}-${i}`,
      type: 'page.view',
      page: '/',
      _tm: Date.UTC(2026, 0, 1, 10),
      _am: arrivedMs + i,
      _shard: 'shardId-000000000000',
      _seq: `${arrivedMs + i}`,
      _pk: 'p',
    }),
  );
  await s3.send(
    new PutObjectCommand({ Bucket: BUCKET, Key: `events/${name}.ndjson`, Body: lines.join('\n') + '\n' }),
  );
}

/** The archiver's watermark: every event that arrived before `ms` is in the archive. */
async function watermark(ms: number): Promise<void> {
  await s3.send(
    new PutObjectCommand({
      Bucket: BUCKET,
      Key: WATERMARK_KEY,
      Body: JSON.stringify({ archivedBeforeMs: ms }),
    }),
  );
}

async function eventsBefore(engine: DuckDbQueryEngine, cutoffMs: number): Promise<number> {
  const source = await engine.source(cutoffMs);
  if (source === null) return 0;
  const [row] = await engine.run(
    `SELECT count(*) AS n FROM (${source}) WHERE CAST(json_extract_string(line, '$._am') AS BIGINT) < ${cutoffMs}`,
  );
  return Number(row.n);
}

describe('the DuckDB engine copying an S3 archive it cannot read in place', () => {
  it('lists the bucket once per cutoff the copy does not cover yet, and reads every event the watermark covers', async () => {
    const engine = new DuckDbQueryEngine(path.join(root, 'copy'), {
      client: s3,
      bucket: BUCKET,
      prefix: 'events/',
      watermark: new S3CheckpointWatermark(s3, BUCKET),
    });
    try {
      await archive('a', 1_000, 10);
      await watermark(2_000);
      const before = listings;
      expect(await eventsBefore(engine, 2_000)).toBe(10);
      const afterFirst = listings;
      expect(afterFirst).toBeGreaterThan(before);
      // The same cutoff again (a run's other sources, its reconciliation): nothing is listed.
      expect(await eventsBefore(engine, 2_000)).toBe(10);
      expect(await eventsBefore(engine, 1_500)).toBe(10);
      expect(listings).toBe(afterFirst);
      // New objects, then a watermark past them (the archiver's order): the next cutoff copies them.
      await archive('b', 2_000, 5);
      await watermark(3_000);
      expect(await eventsBefore(engine, 3_000)).toBe(15);
      expect(listings).toBeGreaterThan(afterFirst);
    } finally {
      await engine.close();
    }
  }, 60_000);
});
