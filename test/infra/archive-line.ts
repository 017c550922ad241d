import { normalizeStreamRecord, toArchiveLine } from '../../lambdas/core/event';
import { validateViews } from '../../lambdas/core/view';
import { FIXTURE_VIEWS } from './stack-fixture';

const views = validateViews(FIXTURE_VIEWS);

/**
 * The archive line of a page view of `/a` by `userId` as the archive keeps it (the record's shard,
 * sequence number and arrival), for the state machine runs that read the archive.
 */
export function pageViewLine(
  id: string,
  seq: number,
  arrivedMs: number,
  time: string,
  userId = 'u1',
): string {
  const body = JSON.stringify({ id, type: 'page.view', time, page: '/a', userId });
  return toArchiveLine(
    normalizeStreamRecord(
      body,
      { shardId: 'shardId-000000000000', sequenceNumber: String(seq), partitionKey: id, arrivedMs },
      views,
    ),
  );
}
