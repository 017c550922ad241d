import { expect } from 'vitest';

/**
 * Waiting for the local runtime's state instead of sleeping a fixed time: a fixed sleep is too
 * short on a loaded machine and too long on an idle one. Timeouts are generous (the machine is
 * shared); they bound a hang, they are not a speed assertion.
 */

/** Polls `check` until it holds; fails naming what was awaited and, if given, what was last seen. */
export async function waitFor(
  check: () => Promise<boolean>,
  what: string,
  timeoutMs = 60_000,
  seen?: () => Promise<string>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${seen ? `; last seen: ${await seen()}` : ''}`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The part of GET /admin/status the waits read. */
interface ArchiveStatus {
  readonly archive: { readonly watermarkMs: number | null };
}

/**
 * Waits until a batch run would cover every event that arrived before `arrivedBeforeMs`: the
 * archive's published watermark (GET /admin/status), aligned down to the arrival buckets as the
 * batch layer aligns its cutoff, has passed it. Returns that cutoff.
 */
export async function waitForArchivedBefore(
  apiUrl: string,
  arrivedBeforeMs: number,
  arrivalBucketMs: number,
  timeoutMs = 60_000,
): Promise<number> {
  let cutoffMs: number | null = null;
  await waitFor(
    async () => {
      const res = await fetch(`${apiUrl}/admin/status`);
      if (!res.ok) return false;
      const { watermarkMs } = ((await res.json()) as ArchiveStatus).archive;
      cutoffMs = watermarkMs === null ? null : Math.floor(watermarkMs / arrivalBucketMs) * arrivalBucketMs;
      return cutoffMs !== null && cutoffMs > arrivedBeforeMs;
    },
    `the archive watermark to pass ${new Date(arrivedBeforeMs).toISOString()}`,
    timeoutMs,
    async () => (cutoffMs === null ? 'no watermark' : `cutoff ${new Date(cutoffMs).toISOString()}`),
  );
  return cutoffMs!;
}

/**
 * Runs the batch layer (POST /admin/batch) once the archive holds every event acknowledged so far
 * and the speed layer has them; checks that the run published and that its cutoff covers them.
 */
export async function runBatchOnceArchived(
  pipeline: { readonly url?: string; idle(): Promise<void> },
  arrivalBucketMs: number,
): Promise<Record<string, unknown>> {
  const covered = await waitForArchivedBefore(pipeline.url!, Date.now(), arrivalBucketMs);
  await pipeline.idle();
  const res = await fetch(`${pipeline.url}/admin/batch`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{}',
  });
  const body = (await res.json()) as Record<string, unknown>;
  expect(res.status, JSON.stringify(body)).toBe(200);
  expect(body.status).toBe('published');
  expect(body.cutoffMs).toBeGreaterThanOrEqual(covered);
  return body;
}
