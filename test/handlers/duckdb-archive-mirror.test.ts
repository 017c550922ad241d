import { CreateBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3CheckpointWatermark, WATERMARK_KEY } from '../../lambdas/adapters/aws/s3-archive-watermark';
import { DuckDbQueryEngine } from '../../lambdas/adapters/duckdb/duckdb-query-engine';
import { arrivalPartition } from '../../lambdas/core/compaction';
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
/** Every key the listings returned, in order. */
const listed: string[] = [];

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
  s3.middlewareStack.add(
    (next, context) => async (args) => {
      const result = await next(args);
      if (context.commandName === 'ListObjectsV2Command') {
        const output = result.output as { Contents?: { Key?: string }[] };
        for (const object of output.Contents ?? []) listed.push(object.Key!);
      }
      return result;
    },
    { step: 'initialize', name: 'recordListedKeys' },
  );
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
}, 60_000);

afterAll(async () => {
  s3?.destroy();
  await emulators?.stop();
  rmSync(root, { recursive: true, force: true });
});

/** One archive object of `n` events that arrived from `arrivedMs` on, in its arrival hour's partition as the archiver writes it. */
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
    new PutObjectCommand({
      Bucket: BUCKET,
      Key: `events/${arrivalPartition(arrivedMs)}/${name}.ndjson`,
      Body: lines.join('\n') + '\n',
    }),
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

  it("lists from the watermark's arrival hour on, in a new process too, and still reads every event", async () => {
    const HOUR = 3_600_000;
    const t0 = Date.UTC(2026, 0, 2, 8);
    const dir = path.join(root, 'cold');
    const options = {
      client: s3,
      bucket: BUCKET,
      prefix: 'cold/',
      watermark: new S3CheckpointWatermark(s3, BUCKET),
    };
    const put = (name: string, arrivedMs: number) =>
      s3.send(
        new PutObjectCommand({
          Bucket: BUCKET,
          Key: `cold/${arrivalPartition(arrivedMs)}/${name}.ndjson`,
          Body: JSON.stringify({ id: name, type: 'page.view', _tm: arrivedMs, _am: arrivedMs }) + '\n',
        }),
      );
    await put('h08', t0);
    await put('h09', t0 + HOUR);
    await put('h10', t0 + 2 * HOUR);
    await watermark(t0 + 2.5 * HOUR);
    const first = new DuckDbQueryEngine(dir, options);
    try {
      expect(await eventsBefore(first, t0 + 2.5 * HOUR)).toBe(3);
    } finally {
      await first.close();
    }
    // A cold start (the batch function killed): a new engine over the same copy.
    await put('h11', t0 + 3 * HOUR);
    await watermark(t0 + 3.5 * HOUR);
    listed.length = 0;
    const second = new DuckDbQueryEngine(dir, options);
    try {
      expect(await eventsBefore(second, t0 + 3.5 * HOUR)).toBe(4);
    } finally {
      await second.close();
    }
    // Hours 08 and 09 held nothing the copy lacked: they were not listed again.
    expect(listed.filter((k) => k.startsWith('cold/'))).toEqual([
      `cold/${arrivalPartition(t0 + 2 * HOUR)}/h10.ndjson`,
      `cold/${arrivalPartition(t0 + 3 * HOUR)}/h11.ndjson`,
    ]);
  }, 60_000);
});
