import { parseTime } from '../../core/time';

const REPLAY_SHAPE = '{"views"?: [...], "from"?: time, "to"?: time}';
const ROLLBACK_SHAPE = '{"views"?: [...]}';

/**
 * The JSON object of an admin body with only `fields`, and its `views` checked against the
 * declared views (deduplicated), or the problem to answer 400 with.
 */
function parseAdminBody(
  body: string,
  declared: readonly string[],
  fields: readonly string[],
  shape: string,
): { raw: Record<string, unknown>; views?: string[] } | { error: string } {
  let raw: unknown = {};
  if (body.trim() !== '') {
    try {
      raw = JSON.parse(body);
    } catch {
      return { error: `the body must be JSON: ${shape}` };
    }
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    return { error: `the body must be a JSON object: ${shape}` };
  // Refused, not ignored: a misspelt range (`fromMs`) would otherwise start a replay of the whole
  // archive, whose version then replaces the served one; a range given to a rollback would read
  // as honoured.
  const extra = Object.keys(raw).filter((name) => !fields.includes(name));
  if (extra.length > 0) return { error: `unknown field(s) ${extra.join(', ')}: the body is ${shape}` };
  const { views } = raw as Record<string, unknown>;
  if (views !== undefined && (!Array.isArray(views) || views.some((v) => typeof v !== 'string')))
    return { error: 'views must be an array of view names' };
  // Refused, not read as "every view": a list a client built empty (a filter that matched nothing)
  // would otherwise replay or roll back every view (black-box probe, 2026-12-04).
  if (Array.isArray(views) && views.length === 0)
    return { error: 'views is empty: name at least one view, or leave views out for every view' };
  const unknown = ((views as string[] | undefined) ?? []).filter((v) => !declared.includes(v));
  if (unknown.length > 0)
    return { error: `unknown view(s) ${unknown.join(', ')}; declared: ${declared.join(', ')}` };
  // A view named twice is the same view: a rollback that swapped once per mention cancelled itself.
  return {
    raw: raw as Record<string, unknown>,
    views: views === undefined ? undefined : [...new Set(views as string[])],
  };
}

/** `{views?}` of POST /admin/rollback, or the problem to answer 400 with. */
export function parseRollbackRequest(
  body: string,
  declared: readonly string[],
): { views?: string[] } | { error: string } {
  const parsed = parseAdminBody(body, declared, ['views'], ROLLBACK_SHAPE);
  return 'error' in parsed ? parsed : { views: parsed.views };
}

/**
 * `{views?, from?, to?}` of POST /admin/replay, or the problem to answer 400 with. `nowMs` is the
 * time the request is answered at: a `from` after it is refused.
 */
export function parseReplayRequest(
  body: string,
  declared: readonly string[],
  nowMs: number,
): { views?: string[]; fromMs?: number; toMs?: number } | { error: string } {
  const parsed = parseAdminBody(body, declared, ['views', 'from', 'to'], REPLAY_SHAPE);
  if ('error' in parsed) return parsed;
  const { views } = parsed;
  const { from, to } = parsed.raw;
  const time = (value: unknown, name: string): number | string | undefined => {
    if (value === undefined || value === null) return undefined;
    const parsed = parseTime(value);
    return typeof parsed === 'string' ? `${name} ${parsed}` : parsed;
  };
  const fromMs = time(from, 'from');
  const toMs = time(to, 'to');
  if (typeof fromMs === 'string') return { error: fromMs };
  if (typeof toMs === 'string') return { error: toMs };
  if (fromMs !== undefined && toMs !== undefined && toMs <= fromMs) return { error: 'to must be after from' };
  // Nothing has arrived after now: such a replay would build an empty version of every view it
  // names and serve it in place of the current one (black-box probe, 2026-12-06).
  if (fromMs !== undefined && fromMs > nowMs)
    return {
      error: `from (${new Date(fromMs).toISOString()}) is in the future: no event has arrived in the range, so the replay would serve empty views; give a from in the past, or leave it out`,
    };
  return { views, fromMs, toMs };
}
