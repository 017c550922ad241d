import { randomUUID } from 'node:crypto';
import { eventProblems, mayHoldLoneSurrogates, type EventProblem } from '../core/event';
import { MAX_EVENT_DEPTH, nestsDeeperThan } from '../core/json-depth';
import { inexactNumberPaths, type JsonPath } from '../core/json-numbers';
import { toIso } from '../core/time';
import type { ViewDefinition } from '../core/view';
import type { Clock } from '../ports/clock';
import type { EventStream, StreamEntry } from '../ports/event-stream';
import type { HttpResult } from './query-view';
import { settleWithin } from './settle-within';

export const MAX_EVENTS_PER_REQUEST = 500;
/**
 * API Gateway ends a Lambda proxy request after 29 s with a 504 that names no id
 * (https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html): a producer that
 * let the API stamp the ids could then only resend under new ids, and each copy would be counted.
 * The put rounds stop in time to answer 503 with every stamped id instead, Lambda's own start
 * and the answer within the rest.
 */
export const INGEST_ANSWER_WITHIN_MS = 25_000;
/** A Kinesis record holds at most 1 MiB of data with its partition key: a round limit below it, stated in the refusal. */
const MAX_RECORD_BYTES = 1_000_000;

export interface IngestDeps {
  readonly views: readonly ViewDefinition[];
  readonly stream: EventStream;
  readonly clock: Clock;
  readonly maxBodyBytes: number;
  /** PutRecords rounds for entries the stream refused (throttling), with backoff between. */
  readonly putAttempts?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly newId?: () => string;
  /**
   * How long the put rounds may take in all (a hung call included) before the answer is a 503
   * naming every stamped id.
   * @default INGEST_ANSWER_WITHIN_MS
   */
  readonly answerWithinMs?: number;
}

/**
 * POST /events: one event, or `{ "events": [...] }` with 1 to 500. Validation is all or nothing:
 * if any event is invalid the answer is 400 naming every bad event and field, and nothing is
 * written. Accepted events get an `id` (when they have none) and `ingestedAt`, and are written
 * with the id as partition key (so a producer's retry of an event lands on the same shard).
 */
export async function ingestEvents(rawBody: string, deps: IngestDeps): Promise<HttpResult> {
  const bytes = Buffer.byteLength(rawBody, 'utf8');
  if (bytes > deps.maxBodyBytes) {
    return {
      status: 413,
      body: {
        error: `request body is ${bytes} bytes; the limit is ${deps.maxBodyBytes}. Split the events over several requests.`,
      },
    };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(rawBody);
  } catch (error) {
    return { status: 400, body: { error: `request body is not JSON: ${(error as Error).message}` } };
  }
  // A batch is an object whose only member is `events`; anything else is one event (a flat
  // event always has `type` and `time`, so it can carry a field named `events` of its own).
  const isBatch =
    typeof parsed === 'object' &&
    parsed !== null &&
    !Array.isArray(parsed) &&
    Object.keys(parsed).length === 1 &&
    Object.prototype.hasOwnProperty.call(parsed, 'events');
  // Before anything walks the body (finding inexact numbers costs a path per number and level).
  if (nestsDeeperThan(parsed, MAX_EVENT_DEPTH + (isBatch ? 2 : 0))) {
    return {
      status: 400,
      body: {
        error: `request body nests deeper than ${MAX_EVENT_DEPTH} levels of objects and arrays in an event; flatten the events`,
      },
    };
  }
  const events: unknown[] = isBatch ? ((parsed as { events: unknown }).events as unknown[]) : [parsed];
  const inexact = inexactNumberPaths(rawBody);
  // Grouped by event once: filtered per event, a body of many long numbers cost events x numbers.
  const inexactByEvent = new Map<unknown, JsonPath[]>();
  if (isBatch)
    for (const p of inexact) {
      if (p[0] !== 'events') continue;
      const paths = inexactByEvent.get(p[1]);
      if (paths) paths.push(p.slice(2));
      else inexactByEvent.set(p[1], [p.slice(2)]);
    }
  const inexactOf = (index: number): JsonPath[] => (isBatch ? (inexactByEvent.get(index) ?? []) : inexact);
  if (!Array.isArray(events)) return { status: 400, body: { error: '"events" must be an array of events' } };
  if (events.length === 0 || events.length > MAX_EVENTS_PER_REQUEST) {
    return {
      status: 400,
      body: { error: `"events" must hold 1 to ${MAX_EVENTS_PER_REQUEST} events (given ${events.length})` },
    };
  }
  const problems: EventProblem[] = [];
  const now = deps.clock.now();
  const entries: StreamEntry[] = [];
  const ids: string[] = [];
  const newId = deps.newId ?? randomUUID;
  const mayHoldSurrogates = mayHoldLoneSurrogates(rawBody);
  const ingestedAt = toIso(now);
  events.forEach((event, index) => {
    const checked = eventProblems(event, deps.views, index, inexactOf(index), mayHoldSurrogates);
    if (checked.problems.length > 0 || !checked.flat || checked.timeMs === undefined) {
      problems.push(...checked.problems);
      return;
    }
    const id = typeof checked.flat.id === 'string' ? checked.flat.id : newId();
    const record = { ...checked.flat, id, time: toIso(checked.timeMs), ingestedAt };
    const data = JSON.stringify(record);
    const recordBytes = Buffer.byteLength(data, 'utf8') + Buffer.byteLength(id, 'utf8');
    if (recordBytes > MAX_RECORD_BYTES) {
      problems.push({
        index,
        field: 'event',
        message: `is ${recordBytes} bytes as a stream record (the event with its id and ingestedAt, and the id as its partition key); the limit is ${MAX_RECORD_BYTES}, under a Kinesis record's 1 MiB: make it smaller`,
      });
      return;
    }
    entries.push({ data, partitionKey: id });
    ids.push(id);
  });
  if (problems.length > 0) {
    return { status: 400, body: { error: 'invalid events: nothing was accepted', problems } };
  }
  const attempts = deps.putAttempts ?? 5;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  let pending = entries.map((_, i) => i);
  let callError: string | undefined;
  const deadline = deps.clock.now() + (deps.answerWithinMs ?? INGEST_ANSWER_WITHIN_MS);
  let made = 0;
  for (let attempt = 0; attempt < attempts && pending.length > 0; attempt++) {
    if (attempt > 0) {
      const backoff = Math.min(2000, 50 * 2 ** attempt) * (0.5 + Math.random() / 2);
      if (deps.clock.now() + backoff >= deadline) break;
      await sleep(backoff);
    }
    let refused: number[];
    made++;
    try {
      const withinMs = Math.max(1, deadline - deps.clock.now());
      refused = await settleWithin(deps.stream.putRecords(pending.map((i) => entries[i])), withinMs, () => {
        throw new Error(`the stream did not answer within ${withinMs} ms`);
      });
    } catch (error) {
      // The whole call failed: its entries stay pending (they may be on the stream or not), so the
      // answer still names every stamped id, accepted and failed, and a resend keeps the same ids.
      callError = (error as Error).message;
      continue;
    }
    pending = refused.map((r) => pending[r]);
  }
  if (pending.length > 0) {
    const failed = new Set(pending);
    return {
      status: 503,
      body: {
        error: `the stream refused ${pending.length} of ${entries.length} events after ${made} attempts${callError === undefined ? '' : ` (last error: ${callError})`}; resend the failed ones with the same ids`,
        accepted: ids.filter((_, i) => !failed.has(i)),
        failed: pending.map((i) => ({ index: i, id: ids[i] })),
      },
    };
  }
  return { status: 202, body: { accepted: ids.length, ids } };
}
