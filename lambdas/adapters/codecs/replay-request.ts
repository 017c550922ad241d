import { parseTime } from '../../core/time';

/** `{views?, from?, to?}` of POST /admin/replay, or the problem to answer 400 with. */
export function parseReplayRequest(
  body: string,
  declared: readonly string[],
): { views?: string[]; fromMs?: number; toMs?: number } | { error: string } {
  let raw: unknown = {};
  if (body.trim() !== '') {
    try {
      raw = JSON.parse(body);
    } catch {
      return { error: 'the body must be JSON: {"views"?: [...], "from"?: time, "to"?: time}' };
    }
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    return { error: 'the body must be a JSON object: {"views"?: [...], "from"?: time, "to"?: time}' };
  // Refused, not ignored: a misspelt range (`fromMs`) would otherwise start a replay of the whole
  // archive, whose version then replaces the served one.
  const extra = Object.keys(raw).filter((name) => !['views', 'from', 'to'].includes(name));
  if (extra.length > 0)
    return {
      error: `unknown field(s) ${extra.join(', ')}: the body is {"views"?: [...], "from"?: time, "to"?: time}`,
    };
  const { views, from, to } = raw as Record<string, unknown>;
  if (views !== undefined && (!Array.isArray(views) || views.some((v) => typeof v !== 'string')))
    return { error: 'views must be an array of view names' };
  // Refused, not read as "every view": a list a client built empty (a filter that matched nothing)
  // would otherwise replay or roll back every view (black-box probe, 2026-12-04).
  if (Array.isArray(views) && views.length === 0)
    return { error: 'views is empty: name at least one view, or leave views out for every view' };
  const unknown = ((views as string[] | undefined) ?? []).filter((v) => !declared.includes(v));
  if (unknown.length > 0)
    return { error: `unknown view(s) ${unknown.join(', ')}; declared: ${declared.join(', ')}` };
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
  return { views: views as string[] | undefined, fromMs, toMs };
}
