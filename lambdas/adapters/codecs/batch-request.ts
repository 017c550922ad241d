import { parseTime, toIso } from '../../core/time';
import type { BatchRunRequest } from '../../services/batch-layer';

/** Longest backfill one run takes: a year of event time (wider ranges: a full run). */
const MAX_BACKFILL_MS = 366 * 86_400_000;

/**
 * Reads what a batch run is asked to do, from the body of POST /admin/batch or the `detail` of a
 * scheduled event: nothing (`{}` or no body) is an incremental run; `{"full": true}` recomputes
 * every view; `{"from", "to"}` (ISO-8601 or epoch ms) also recomputes that event-time range.
 */
export function parseBatchRequest(input: unknown): BatchRunRequest | { problems: string[] } {
  let value = input;
  if (typeof input === 'string') {
    if (input.trim() === '') return {};
    try {
      value = JSON.parse(input) as unknown;
    } catch {
      return { problems: ['the body must be JSON: {}, {"full": true} or {"from": <time>, "to": <time>}'] };
    }
  }
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value))
    return {
      problems: [`the body must be a JSON object (given ${Array.isArray(value) ? 'array' : typeof value})`],
    };
  const body = value as Record<string, unknown>;
  const problems: string[] = [];
  const unknown = Object.keys(body).filter((k) => !['full', 'from', 'to'].includes(k));
  if (unknown.length > 0) problems.push(`unknown field(s) ${unknown.join(', ')}; allowed: full, from, to`);
  if (body.full !== undefined && typeof body.full !== 'boolean')
    problems.push(`full must be true or false (given ${JSON.stringify(body.full)})`);
  const hasRange = body.from !== undefined || body.to !== undefined;
  if (!hasRange) return problems.length > 0 ? { problems } : { full: body.full === true };
  const from = parseTime(body.from);
  const to = parseTime(body.to);
  if (typeof from === 'string') problems.push(`from ${from}`);
  if (typeof to === 'string') problems.push(`to ${to}`);
  if (typeof from === 'number' && typeof to === 'number') {
    if (from >= to) problems.push(`from must be before to (given ${toIso(from)} and ${toIso(to)})`);
    else if (to - from > MAX_BACKFILL_MS)
      problems.push('a backfill spans at most 366 days; for more, run {"full": true}');
  }
  if (problems.length > 0) return { problems };
  return { full: body.full === true, backfill: { fromMs: from as number, toMs: to as number } };
}
