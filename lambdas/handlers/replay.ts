import { DynamoDbEventClaims } from '../adapters/aws/dynamodb-event-claims';
import { DynamoDbKappaCellStore } from '../adapters/aws/dynamodb-kappa-cell-store';
import { DynamoDbKappaControlStore } from '../adapters/aws/dynamodb-kappa-control-store';
import { S3ArchiveReader } from '../adapters/aws/s3-archive-reader';
import { systemClock } from '../ports/clock';
import { makeDynamoDbItemClient, makeDynamoDocumentClient } from '../runtime/clients/dynamodb';
import { makeS3Client } from '../runtime/clients/s3';
import { makeArchiveWatermark } from '../runtime/archive-watermark';
import { readReplayConfig } from '../runtime/config';
import {
  abandonStart,
  dropReplayCells,
  failReplay,
  finishReplay,
  replayReady,
  startReplay,
  type DropCursor,
  type ReplayDeps,
} from '../services/kappa-replay';
import { offerChunkCopies, replayChunk } from '../services/kappa-replay-chunks';

const config = readReplayConfig(process.env);
const dynamo = makeDynamoDocumentClient(config.endpoints);
const s3 = makeS3Client(config.endpoints);
const deps: ReplayDeps = {
  views: config.views,
  cells: new DynamoDbKappaCellStore(dynamo, config.kappaTable, {
    items: makeDynamoDbItemClient(config.endpoints),
  }),
  control: new DynamoDbKappaControlStore(dynamo, config.controlTable),
  claims: new DynamoDbEventClaims(dynamo, config.dedupeTable, config.dedupeTtlSeconds, systemClock),
  archive: new S3ArchiveReader(s3, config.archiveBucket, config.archivePrefix),
  watermark: makeArchiveWatermark(config.watermark, config.endpoints, s3, config.archiveBucket),
  clock: systemClock,
  handoffDelayMs: config.handoffDelayMs,
  archivePrefix: config.archivePrefix,
  // The dedupe window the Kappa processor's claims keep (the same setting and default).
  copyWindowMs: config.dedupeTtlSeconds * 1000,
};

/** What the replay state machine's tasks send (and, for `list` and `chunk`, the local runner). */
export type ReplayTask =
  | { action: 'start'; views?: string[]; fromMs?: number; toMs?: number; executionId?: string }
  /** After a failed start: fails the replay this execution recorded, if any (abandonStart). */
  | { action: 'abandon'; executionId: string; error?: unknown }
  /** maxWaitMs: fail the replay if the archive still lacks the handoff this long after the start. */
  | { action: 'ready'; replayId: string; maxWaitMs?: number }
  /** One archive object's copies offered to the replay's claims: the first Distributed Map's item. */
  | { action: 'claim'; replayId: string; key: string }
  /** One archive object folded: the second Distributed Map's item (from the S3 ListObjectsV2 ItemReader). */
  | { action: 'object'; replayId: string; key: string }
  | { action: 'finish'; replayId: string }
  /** After finish or fail: deletes the dropped versions' cells, from `cursor` (what finish, fail or the last drop returned). */
  | { action: 'drop'; replayId: string; cursor: DropCursor }
  | { action: 'fail'; replayId: string; error?: unknown }
  /** Local runner: every object key of the archive, recorded as the replay's total. */
  | { action: 'list'; replayId: string }
  /** Local runner: many objects as one chunk (sole: it holds every object of the replay). */
  | { action: 'chunk'; replayId: string; keys: string[]; chunkId: string; sole: boolean };

/**
 * Replay tasks (Step Functions, or the local runner calling the same actions in order). Errors
 * are thrown: the state machine's Catch sends the replay to `fail`; `start` throws an error named
 * `ReplayInProgress` while another replay runs.
 */
export const handler = async (input: ReplayTask): Promise<unknown> => {
  switch (input.action) {
    case 'start':
      return startReplay(
        { views: input.views, fromMs: input.fromMs, toMs: input.toMs, executionId: input.executionId },
        deps,
      );
    case 'abandon':
      return abandonStart(input.executionId, errorText(input.error), deps);
    case 'ready':
      return replayReady(input.replayId, deps, input.maxWaitMs);
    case 'claim': {
      const { events } = await offerChunkCopies(input.replayId, [input.key], deps);
      return { events };
    }
    case 'object': {
      const { events } = await replayChunk(
        input.replayId,
        [input.key],
        { chunkId: input.key, sole: false },
        deps,
      );
      return { events };
    }
    case 'finish': {
      const { version, flipped, drop } = await finishReplay(input.replayId, deps);
      return { version, flipped, drop };
    }
    case 'drop':
      return dropReplayCells(input.replayId, input.cursor, deps);
    case 'fail':
      return failReplay(input.replayId, errorText(input.error), deps);
    case 'list': {
      const keys = await deps.archive.list();
      await deps.control.setProgress(input.replayId, {
        reset: true,
        objectsTotal: keys.length,
        phase: 'reading',
      });
      return { keys };
    }
    case 'chunk':
      return replayChunk(input.replayId, input.keys, { chunkId: input.chunkId, sole: input.sole }, deps);
    default:
      throw new Error(`unknown replay action ${JSON.stringify((input as { action?: unknown }).action)}`);
  }
};

/** Step Functions' Catch hands over {Error, Cause}: kept readable in the replay record. */
function errorText(error: unknown): string {
  return typeof error === 'string' ? error : JSON.stringify(error ?? 'unknown error');
}
