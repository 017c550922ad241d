// The page's only way to the API: same origin, relative paths (so it works under a stage prefix),
// one place that tells the page whether the API answers.

/** An answer the API gave with an error status: the API is up, the request was refused. */
export class ApiRefusal extends Error {
  constructor(status, body) {
    super(`${status}: ${body?.error ?? JSON.stringify(body)}`);
    this.status = status;
    this.body = body;
  }
}

const listeners = new Set();

/** Calls `listener(state, detail)` on every change: 'live' or 'down' with the reason. */
export function onApiState(listener) {
  listeners.add(listener);
}

let state = 'connecting';
function setState(next, detail) {
  if (next === state && next === 'live') return;
  state = next;
  for (const listener of listeners) listener(next, detail);
}

/**
 * GET or POST `path` (relative, no leading slash) and return the JSON body. A network failure or
 * a 5xx from the gateway marks the API down; a 4xx is the request's own problem (ApiRefusal).
 */
export async function api(path, { method = 'GET', body, timeoutMs = 15_000 } = {}) {
  let res;
  try {
    res = await fetch(path, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
      cache: 'no-store',
    });
  } catch (error) {
    setState('down', `the API at ${location.origin} does not answer (${error.message})`);
    throw error;
  }
  const text = await res.text();
  let parsed;
  try {
    parsed = text === '' ? null : JSON.parse(text);
  } catch {
    parsed = { error: text.slice(0, 200) };
  }
  if (res.status > 500) {
    // 502/503/504: the gateway or a handler is down, not this request's fault.
    setState('down', `the API answers ${res.status}: ${parsed?.error ?? text.slice(0, 200)}`);
    throw new ApiRefusal(res.status, parsed);
  }
  setState('live');
  if (!res.ok) throw new ApiRefusal(res.status, parsed);
  return parsed;
}
