import { getField, SCALAR_RULE, scalarText, summableProblem } from './fields';
import { MAX_EVENT_DEPTH, nestsDeeperThan } from './json-depth';
import { inexactNumberPaths, pathText, type JsonPath } from './json-numbers';
import { measureEntries } from './measures';
import { keyProblem, passesWhere } from './reducer';
import { shown } from './shown-value';
import { parseTime, toIso } from './time';
import { hasLoneSurrogate } from './unicode-text';
import type { ViewDefinition } from './view';

/** One problem with one event, named by the field it concerns. */
export interface EventProblem {
  /** Position in the request's `events` array (0 for a single event). */
  readonly index: number;
  /** The offending field (dotted path), or `event` for the event as a whole. */
  readonly field: string;
  readonly message: string;
}

/**
 * An event as the pipeline carries it after reading it off the stream: envelope, position on the
 * stream, and the JSON body every field is read from. The same function builds it for the speed
 * layer, the archive and replay, so every layer sees the same id, times and fields.
 */
export interface NormalizedEvent {
  readonly id: string;
  readonly type: string;
  /** Event time, epoch ms: decides the view bucket. */
  readonly timeMs: number;
  /** Arrival on the stream (Kinesis approximateArrivalTimestamp), epoch ms: decides batch vs speed. */
  readonly arrivedMs: number;
  readonly shardId: string;
  /** Kinesis sequence number, decimal digits (up to 129). */
  readonly seq: string;
  readonly partitionKey: string;
  /** The event's fields (user fields at the top level) plus the envelope. */
  readonly body: Readonly<Record<string, unknown>>;
}

/** Where a record sat on the stream, as Lambda's event source, Firehose and GetRecords all report it. */
export interface StreamPosition {
  readonly shardId: string;
  readonly sequenceNumber: string;
  readonly partitionKey: string;
  readonly arrivedMs: number;
}

const MAX_ID_LENGTH = 256;
const MAX_TYPE_LENGTH = 256;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;

/**
 * Whether JSON text may decode to a lone surrogate: JSON.parse makes one only from a
 * \uD800-\uDFFF escape (decoded UTF-8 holds none). Tested once per text: a request's events
 * share its body, and testing the whole body once per event cost the ingest handler a third of
 * its time at 500 events a request (a 90 KB body scanned 500 times; profile of 2026-12-04).
 */
export function mayHoldLoneSurrogates(jsonText: string): boolean {
  return SURROGATE_ESCAPE.test(jsonText);
}

const NO_PATHS: ReadonlySet<string> = new Set();

/**
 * Paths of the names and strings in a JSON value that hold a lone surrogate (iterative: any
 * depth): valid JSON text ("\ud800") but not Unicode, so SQL engines refuse the archive line
 * (DuckDB fails the whole batch query) and UTF-8 cannot carry it.
 */
function loneSurrogatePaths(root: Record<string, unknown>): string[] {
  const found: string[] = [];
  const stack: [string, unknown][] = Object.entries(root);
  while (stack.length > 0) {
    const [path, value] = stack.pop()!;
    if (hasLoneSurrogate(path)) found.push(path);
    else if (typeof value === 'string' && hasLoneSurrogate(value)) found.push(path);
    else if (Array.isArray(value)) value.forEach((v, i) => stack.push([`${path}[${i}]`, v]));
    else if (isRecord(value)) for (const [k, v] of Object.entries(value)) stack.push([`${path}.${k}`, v]);
  }
  return found;
}

/**
 * Maps a CloudEvents 1.0 JSON event onto the flat shape (`data` fields at the top level);
 * returns flat events unchanged.
 */
export function flattenEnvelope(raw: Record<string, unknown>): Record<string, unknown> {
  if (raw.specversion === undefined) return raw;
  const data = isRecord(raw.data) ? raw.data : {};
  const flat: Record<string, unknown> = { ...data, type: raw.type, time: raw.time };
  // data's id is dropped even when the envelope has none: taken as the idempotency key, one
  // producer's data.id would make unrelated events copies of each other (found by an independent
  // check, 2026-12-03: two envelopes without id sharing data.id served as one event).
  delete flat.id;
  if (raw.id !== undefined) flat.id = raw.id;
  return flat;
}

/** Checks the envelope and, for the views the event feeds, the fields they read. */
export function eventProblems(
  raw: unknown,
  views: readonly ViewDefinition[],
  index = 0,
  inexactNumbers: readonly JsonPath[] = [],
  /**
   * False when the JSON text it was parsed from holds no surrogate escape
   * (mayHoldLoneSurrogates): the Unicode check then skips the walk over every string.
   */
  mayHoldSurrogates = true,
): { problems: EventProblem[]; flat?: Record<string, unknown>; timeMs?: number } {
  const problems: EventProblem[] = [];
  const problem = (field: string, message: string) => problems.push({ index, field, message });
  if (!isRecord(raw)) {
    problem(
      'event',
      Array.isArray(raw)
        ? 'must be a JSON object; send several events as {"events": [...]}'
        : `must be a JSON object (given ${shown(raw)})`,
    );
    return { problems };
  }
  // Checked first: the checks below quote values (JSON.stringify recurses) and walk every field.
  if (nestsDeeperThan(raw, MAX_EVENT_DEPTH)) {
    problem('event', `nests deeper than ${MAX_EVENT_DEPTH} levels of objects and arrays; flatten it`);
    return { problems };
  }
  if (raw.specversion !== undefined && raw.specversion !== '1.0') {
    problem('specversion', `must be "1.0" for CloudEvents (given ${shown(raw.specversion)})`);
  }
  if (raw.specversion !== undefined && raw.data !== undefined && !isRecord(raw.data)) {
    problem('data', 'must be a JSON object when given');
  }
  // Stored flat, a data field named specversion would make the stored event read as an envelope.
  if (raw.specversion !== undefined && isRecord(raw.data) && Object.hasOwn(raw.data, 'specversion')) {
    problem('data.specversion', 'is reserved for the CloudEvents envelope; rename the field');
  }
  const flat = flattenEnvelope(raw);
  if (typeof flat.type !== 'string' || flat.type.length === 0 || flat.type.length > MAX_TYPE_LENGTH) {
    problem(
      'type',
      `must be a non-empty string of at most ${MAX_TYPE_LENGTH} characters (given ${shown(flat.type)})`,
    );
  }
  const time = parseTime(flat.time);
  if (typeof time === 'string') problem('time', time);
  if (
    flat.id !== undefined &&
    (typeof flat.id !== 'string' || flat.id.length === 0 || flat.id.length > MAX_ID_LENGTH)
  ) {
    problem(
      'id',
      `must be a non-empty string of at most ${MAX_ID_LENGTH} characters when given (given ${shown(flat.id)})`,
    );
  }
  // for-in, not Object.keys(): no array of names per event (checked per record by the speed layer).
  for (const field in flat) {
    if (field.charCodeAt(0) === 95 && Object.hasOwn(flat, field))
      problem(field, 'fields starting with "_" are reserved for the pipeline');
  }
  for (const field of mayHoldSurrogates ? loneSurrogatePaths(flat) : []) {
    problem(field, 'must be valid Unicode text (it holds an unpaired UTF-16 surrogate such as \\ud800)');
  }
  // Numbers JSON.parse could not keep, named as the flat event's fields (CloudEvents: below data).
  const inexact =
    inexactNumbers.length === 0
      ? NO_PATHS
      : new Set(
          inexactNumbers
            .map((path) => (raw.specversion !== undefined ? (path[0] === 'data' ? path.slice(1) : []) : path))
            .filter((path) => path.length > 0)
            .map(pathText),
        );
  for (const view of views) {
    if (view.eventType !== flat.type) continue;
    // An event the view's `where` leaves out does not feed it: its rules are not this event's.
    if (!passesWhere(view, flat)) continue;
    const keyTexts: string[] = [];
    for (const field of view.key) {
      const value = getField(flat, field);
      if (value === undefined || value === null) {
        problem(field, `is required by view "${view.name}" (its key)`);
      } else if (scalarText(value) === undefined) {
        problem(
          field,
          `must be ${SCALAR_RULE}: it is part of view "${view.name}"'s key (given ${shown(value)})`,
        );
      } else keyTexts.push(scalarText(value) as string);
    }
    if (keyTexts.length === view.key.length) {
      const tooLong = keyProblem(view, keyTexts);
      if (tooLong) problem(view.key.join(','), `${tooLong}; shorten the key values`);
    }
    for (const [name, spec] of measureEntries(view)) {
      if (spec.field === undefined) continue;
      const value = getField(flat, spec.field);
      if (value === undefined || value === null) continue; // a measure skips events without its field, as SQL does
      if (spec.kind === 'distinct') {
        if (scalarText(value) === undefined) {
          problem(
            spec.field,
            `must be ${SCALAR_RULE} for view "${view.name}" measure "${name}" (distinct) (given ${shown(value)})`,
          );
        }
      } else if (typeof value !== 'number') {
        problem(
          spec.field,
          `must be a number for view "${view.name}" measure "${name}" (${spec.kind}) (given ${shown(value)})`,
        );
      } else if ((spec.kind === 'sum' || spec.kind === 'avg') && inexact.has(spec.field)) {
        problem(
          spec.field,
          `has more significant digits than a double holds (15 are always kept), so it cannot be summed exactly, for view "${view.name}" measure "${name}" (${spec.kind}); round it`,
        );
      } else if (spec.kind === 'sum' || spec.kind === 'avg') {
        const why = summableProblem(value);
        if (why) problem(spec.field, `${why}, for view "${view.name}" measure "${name}" (${spec.kind})`);
      } else if (!Number.isFinite(value)) {
        problem(spec.field, `must be a finite number for view "${view.name}" measure "${name}"`);
      }
    }
  }
  // Duplicated problems (a field read by two views) are reported once.
  const unique =
    problems.length < 2
      ? problems
      : problems.filter(
          (p, i) => problems.findIndex((q) => q.field === p.field && q.message === p.message) === i,
        );
  return { problems: unique, flat, timeMs: typeof time === 'number' ? time : undefined };
}

/** Thrown when a record on the stream cannot be read: the speed layer dead-letters it, the archive routes it apart. */
export class PoisonRecordError extends Error {
  constructor(
    message: string,
    readonly problems: readonly EventProblem[] = [],
  ) {
    super(message);
    this.name = 'PoisonRecordError';
  }
}

/**
 * Turns one stream record's data into a NormalizedEvent. Records put by the ingestion API carry
 * `id` and `ingestedAt`; records put by any other Kinesis client get the id `<shard>:<sequence>`,
 * which is stable across redeliveries, so the speed layer and the archive agree on it.
 */
export function normalizeStreamRecord(
  data: string,
  position: StreamPosition,
  views: readonly ViewDefinition[],
): NormalizedEvent {
  let raw: unknown;
  try {
    raw = JSON.parse(data);
  } catch (error) {
    throw new PoisonRecordError(
      `record ${position.shardId}/${position.sequenceNumber} is not JSON: ${(error as Error).message}`,
    );
  }
  // Paths of inexact numbers cost one path per number: not worth finding in an event refused for its depth.
  const inexact = nestsDeeperThan(raw, MAX_EVENT_DEPTH) ? [] : inexactNumberPaths(data);
  const { problems, flat, timeMs } = eventProblems(raw, views, 0, inexact, mayHoldLoneSurrogates(data));
  if (problems.length > 0 || flat === undefined || timeMs === undefined) {
    const summary = problems.map((p) => `${p.field} ${p.message}`).join('; ');
    throw new PoisonRecordError(
      `record ${position.shardId}/${position.sequenceNumber} is invalid: ${summary}`,
      problems,
    );
  }
  const id = typeof flat.id === 'string' ? flat.id : `${position.shardId}:${position.sequenceNumber}`;
  // Validation refused fields starting with "_", so the archive's own columns cannot be among them.
  // A flat event is the object JSON.parse just made: ours to complete, no copy needed.
  const body: Record<string, unknown> = flat === raw ? flat : Object.assign({}, flat);
  body.id = id;
  body.time = toIso(timeMs);
  body.arrivedAt = toIso(position.arrivedMs);
  return {
    id,
    type: flat.type as string,
    timeMs,
    arrivedMs: position.arrivedMs,
    shardId: position.shardId,
    seq: position.sequenceNumber,
    partitionKey: position.partitionKey,
    body,
  };
}

/**
 * Reads a stream record as every reader of the stream does (speed layer, Kappa processor, local
 * archiver, Firehose's transform): by the rules every event obeys whatever the views, not by the
 * views' own rules. The door checked those against the views module of its time, and the readers
 * may run another (a deploy while records are in flight, `npm start` on a backlog with a changed
 * views module): validated against theirs, an accepted event that a new view cannot read was
 * dead-lettered and kept out of the archive, so every view lost it (found 2026-12-04: three
 * accepted events of a view served as none after a restart that added a view keyed on a field
 * they lacked). Each view reads such an event as it reads events archived before it existed: a
 * key that breaks the key rules keeps the event out of that view, a measure value that breaks
 * its rule is missing for that measure (reducer.ts `matches`, fields.ts `admits`).
 */
export function readStreamRecord(data: string, position: StreamPosition): NormalizedEvent {
  return normalizeStreamRecord(data, position, []);
}

/**
 * One line of the archive (NDJSON). The underscore columns are what the generated batch SQL reads:
 * `_tm` event time ms, `_am` arrival ms, `_shard`/`_seq` the stream position (to pick one copy of a
 * repeated id), `_pk` the partition key (for replay's fences).
 */
export function toArchiveLine(event: NormalizedEvent): string {
  return JSON.stringify({
    ...event.body,
    _tm: event.timeMs,
    _am: event.arrivedMs,
    _shard: event.shardId,
    _seq: event.seq,
    _pk: event.partitionKey,
  });
}

export function fromArchiveLine(line: string): NormalizedEvent {
  const parsed = JSON.parse(line) as Record<string, unknown>;
  const body = { ...parsed };
  for (const column of ARCHIVE_COLUMNS) delete body[column];
  return archivedEvent(line, parsed, body);
}

/** The underscore columns toArchiveLine adds to an event's body. */
const ARCHIVE_COLUMNS = ['_tm', '_am', '_shard', '_seq', '_pk'] as const;

/**
 * An archive line's event with the underscore columns left in its body, where no view can read
 * them (field paths start with a letter): what the Kappa replay folds, saving an object copy per
 * event on its hot path.
 */
export function fromArchiveLineKeepingColumns(line: string): NormalizedEvent {
  const parsed = JSON.parse(line) as Record<string, unknown>;
  return archivedEvent(line, parsed, parsed);
}

function archivedEvent(
  line: string,
  parsed: Record<string, unknown>,
  body: Record<string, unknown>,
): NormalizedEvent {
  const { _tm, _am, _shard, _seq, _pk } = parsed;
  if (
    typeof _tm !== 'number' ||
    typeof _am !== 'number' ||
    typeof _shard !== 'string' ||
    typeof _seq !== 'string'
  ) {
    throw new Error(`archive line lacks _tm/_am/_shard/_seq: ${line.slice(0, 200)}`);
  }
  return {
    id: String(body.id),
    type: String(body.type),
    timeMs: _tm,
    arrivedMs: _am,
    shardId: _shard,
    seq: _seq,
    partitionKey: typeof _pk === 'string' ? _pk : '',
    body,
  };
}
