/**
 * Kappa replay vs Lambda batch recomputation over the same archive, on the local stack.
 * Run: npx tsx bench/replay.ts [events=1000000] [objects=100]
 *
 * Writes an archive of `events` page views and sensor readings (NDJSON, as the archiver writes it,
 * with 1% producer retries) into s3rver, then
 *  - replays it with the replay service (S3 reads, the reducer, one write per cell into dynalite,
 *    the same code the replay handler runs): `replay_events_per_s`;
 *  - recomputes it with the batch layer (DuckDB over the same files, cells into dynalite, publish):
 *    `batch_events_per_s`;
 * and checks the two hold the same cells. Writes bench/results/replay.json.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, totalmem } from 'node:os';
import * as path from 'node:path';
import { DynamoDbBatchViewStore } from '../lambdas/adapters/aws/dynamodb-batch-view-store';
import { DynamoDbControlStore } from '../lambdas/adapters/aws/dynamodb-control-store';
import { DynamoDbKappaCellStore } from '../lambdas/adapters/aws/dynamodb-kappa-cell-store';
import { DynamoDbSpeedRowStore } from '../lambdas/adapters/aws/dynamodb-speed-row-store';
import { DuckDbQueryEngine } from '../lambdas/adapters/duckdb/duckdb-query-engine';
import { finalizeRow } from '../lambdas/core/measures';
import { systemClock } from '../lambdas/ports/clock';
import {
  makeDynamoDbClient,
  makeDynamoDocumentClient,
  makeKinesisClient,
  makeS3Client,
} from '../lambdas/runtime/clients';
import { runBatch } from '../lambdas/services/batch-layer';
import { selectionOf } from '../lambdas/core/batch-lineage';
import { ENV } from '../lambdas/runtime/env';
import { startEmulators } from '../local/emulators';
import { HandlerHost, quietSdkNodeWarning } from '../local/handler-host';
import { loadViews } from '../local/load-views';
import { ensureResources, resourceNames } from '../local/resources';
import { writeArchiveObjects } from './archive-events';
import { benchMachine } from './bench-pipeline';

async function main(): Promise<void> {
  quietSdkNodeWarning();
  const total = Number(process.argv[2] ?? 1_000_000);
  const objects = Number(process.argv[3] ?? 100);
  const views = loadViews(path.resolve(__dirname, '..', 'views.ts'));
  const dir = mkdtempSync(path.join(tmpdir(), 'streamfold-bench-replay-'));
  const emulators = await startEmulators({ dataDir: dir });
  const names = resourceNames('bench');
  const e = emulators.endpoints;
  const s3 = makeS3Client(e);
  await ensureResources({ kinesis: makeKinesisClient(e), dynamodb: makeDynamoDbClient(e), s3 }, 1, names);
  const dynamo = makeDynamoDocumentClient(e);

  // The archive: arrivals over an hour ending an hour ago, events up to two minutes late,
  // 50 pages (1-minute buckets) and 200 devices (5-minute buckets).
  const start = Date.now() - 2 * 3_600_000;
  let t = Date.now();
  await writeArchiveObjects(total, objects, views, start, async (key, body) => {
    await s3.send(new PutObjectCommand({ Bucket: names.bucket, Key: key, Body: body }));
  });
  // The archiver's watermark: the whole archive, and the handoff a moment ahead, are covered.
  await s3.send(
    new PutObjectCommand({
      Bucket: names.bucket,
      Key: '_watermark.json',
      Body: JSON.stringify({ archivedBeforeMs: Date.now() + 3_600_000 }),
    }),
  );
  console.log(
    `archive: ${total} events in ${objects} objects, written in ${((Date.now() - t) / 1000).toFixed(1)} s`,
  );

  // Kappa replay: the deployed replay handler in its own worker thread, as `npm start` runs it
  // (the emulators keep this thread), driven through the actions the local runner calls.
  const cells = new DynamoDbKappaCellStore(dynamo, names.kappaTable);
  const host = new HandlerHost('replay', path.resolve(__dirname, '..', 'lambdas', 'handlers', 'replay.ts'), {
    [ENV.views]: JSON.stringify(views),
    [ENV.dynamodbEndpoint]: e.dynamodb ?? '',
    [ENV.s3Endpoint]: e.s3 ?? '',
    [ENV.s3Flavor]: e.s3Flavor,
    [ENV.kappaTable]: names.kappaTable,
    [ENV.controlTable]: names.controlTable,
    [ENV.dedupeTable]: names.dedupeTable,
    [ENV.archiveBucket]: names.bucket,
    [ENV.archivePrefix]: 'events/',
    [ENV.archiveWatermark]: 'checkpoint',
    // Nothing arrives during the bench: a short delay, which the start must still meet.
    [ENV.replayHandoffDelayMs]: '2000',
    AWS_REGION: e.region,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
  });
  await host.start();
  const rssBefore = process.memoryUsage().rss;
  t = Date.now();
  const { replayId, version } = await host.invoke<{ replayId: string; version: number }>({ action: 'start' });
  await host.invoke({ action: 'ready', replayId });
  const { keys } = await host.invoke<{ keys: string[] }>({ action: 'list', replayId });
  const tChunk = Date.now();
  const chunk = await host.invoke<{
    events: number;
    cells: number;
    duplicates: number;
    ms: { read: number; fold: number; write: number };
  }>({
    action: 'chunk',
    replayId,
    keys,
    chunkId: `${replayId}-bench`,
    sole: true,
  });
  const chunkMs = Date.now() - tChunk;
  await host.invoke({ action: 'finish', replayId });
  const replayMs = Date.now() - t;
  const rssReplay = process.memoryUsage().rss;
  await host.stop();
  console.log(
    `replay: ${chunk.events} events (${chunk.duplicates} retries dropped), ${chunk.cells} cells, ${(replayMs / 1000).toFixed(2)} s end to end, ${Math.round(chunk.events / (chunkMs / 1000))} events/s in the chunk`,
  );

  // Lambda batch recomputation of the same archive (DuckDB over the s3rver folder).
  const engine = new DuckDbQueryEngine(path.join(emulators.s3Dir, names.bucket, 'events'));
  t = Date.now();
  const batch = await runBatch({
    views,
    engine,
    watermark: { archivedBeforeMs: async () => Date.now() + 3_600_000 },
    batch: new DynamoDbBatchViewStore(dynamo, names.batchTable),
    control: new DynamoDbControlStore(dynamo, names.controlTable),
    speed: new DynamoDbSpeedRowStore(dynamo, names.speedTable),
    clock: systemClock,
    arrivalBucketMs: 1000,
  });
  const batchMs = Date.now() - t;
  await engine.close();
  console.log(`batch: ${batch.cells} cells in ${(batchMs / 1000).toFixed(2)} s`);

  // Both hold the same cells (distinct compared within the sketch's error: batch is exact).
  const batchStore = new DynamoDbBatchViewStore(dynamo, names.batchTable);
  // The published pointer's lineage selects the run's segments (ADR 007).
  const pointer = await new DynamoDbControlStore(dynamo, names.controlTable).readPointer();
  let compared = 0;
  let differences = 0;
  for (const view of views) {
    const keysOf = view.name === 'page_views' ? ['/p0', '/p17', '/p49'] : ['dev-0', 'dev-99'];
    for (const key of keysOf) {
      const k = await cells.query(version, view, [key], 0, Date.now() + 86_400_000);
      const b = await batchStore.query(
        batch.version!,
        view,
        [key],
        0,
        Date.now() + 86_400_000,
        selectionOf(pointer?.lineage, view.name),
      );
      const bm = new Map(b.map((x) => [x.bucketMs, finalizeRow(view, x.state)]));
      for (const c of k) {
        compared++;
        const kv = finalizeRow(view, c.cell.state);
        const bv = bm.get(c.bucketMs);
        for (const [name, value] of Object.entries(kv)) {
          const other = bv?.[name];
          const same =
            view.measures[name].kind === 'distinct'
              ? Math.abs((value as number) - (other as number)) <= Math.max(2, 0.065 * (other as number))
              : value === other || (typeof value === 'number' && Math.abs(value - (other as number)) < 1e-9);
          if (!same) differences++;
        }
      }
      if (b.length !== k.length) differences++;
    }
  }
  console.log(`cells compared: ${compared}, differences: ${differences}`);

  const result = {
    date: new Date().toISOString(),
    machine: { ...benchMachine(), memoryGiB: Math.round(totalmem() / 1024 ** 3) },
    archive: { events: total, objects, producerRetries: Math.floor(total / 100) },
    replay: {
      replay_events_per_s: Math.round(chunk.events / (chunkMs / 1000)),
      end_to_end_events_per_s: Math.round(total / (replayMs / 1000)),
      seconds: replayMs / 1000,
      chunk_seconds: chunkMs / 1000,
      cells: chunk.cells,
      // Inside the chunk: waiting for s3rver reads, parsing + folding, the final fold + cell writes.
      chunk_ms: chunk.ms,
      events_counted: chunk.events,
      duplicates_dropped: chunk.duplicates,
      // The worker's heap is part of this process's RSS.
      rss_growth_mib: Math.round((rssReplay - rssBefore) / 1024 ** 2),
    },
    batch: {
      batch_events_per_s: Math.round(total / (batchMs / 1000)),
      seconds: batchMs / 1000,
      cells: batch.cells,
    },
    check: { cellsCompared: compared, differences },
  };
  writeFileSync(path.resolve(__dirname, 'results', 'replay.json'), JSON.stringify(result, null, 2) + '\n');
  console.log(JSON.stringify(result, null, 2));
  await emulators.stop();
  rmSync(dir, { recursive: true, force: true });
  if (differences > 0) process.exitCode = 1;
}

main().catch((error: Error) => {
  console.error(error.stack ?? error.message);
  process.exit(1);
});
