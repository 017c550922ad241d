import { SCALAR_RULE } from './fields';
import { isGranularity, GRANULARITIES, type Granularity } from './time';
import { hasLoneSurrogate } from './unicode-text';

/** The measures a view may declare. Each is a commutative monoid (see measures.ts). */
export type MeasureKind = 'count' | 'sum' | 'min' | 'max' | 'avg' | 'distinct';

/** A measure as declared: plain data, so a view survives JSON (env vars, the CDK app). */
export interface MeasureSpec {
  readonly kind: MeasureKind;
  /** Event field the measure reads (dotted path). Absent only for count. */
  readonly field?: string;
}

export const count = (): MeasureSpec => ({ kind: 'count' });
export const sum = (field: string): MeasureSpec => ({ kind: 'sum', field });
export const min = (field: string): MeasureSpec => ({ kind: 'min', field });
export const max = (field: string): MeasureSpec => ({ kind: 'max', field });
export const avg = (field: string): MeasureSpec => ({ kind: 'avg', field });
/** Distinct values of a field: exact in the batch layer, HyperLogLog (p=12, ~1.6% standard error) in the speed layer. */
export const distinct = (field: string): MeasureSpec => ({ kind: 'distinct', field });

export type FilterValue = string | number | boolean;

/** What a user writes in views.ts. */
export interface ViewInput {
  /** `[a-z0-9_]+`, unique among the views of a deployment. */
  readonly name: string;
  /** Events whose `type` equals this string feed the view. */
  readonly eventType: string;
  /** One or more event fields (dotted paths allowed) the view is grouped by. */
  readonly key: string | readonly string[];
  /** Width of the event-time buckets. */
  readonly granularity: Granularity;
  /** Measures by output name (`[A-Za-z][A-Za-z0-9_]*`). */
  readonly measures: Readonly<Record<string, MeasureSpec>>;
  /** Optional equality filter: every listed field must equal the value. */
  readonly where?: Readonly<Record<string, FilterValue>>;
}

/** A validated, normalized view: what every layer derives its behaviour from. */
export interface ViewDefinition {
  readonly name: string;
  readonly eventType: string;
  readonly key: readonly string[];
  readonly granularity: Granularity;
  readonly measures: Readonly<Record<string, MeasureSpec>>;
  readonly where: Readonly<Record<string, FilterValue>>;
}

export class ViewDefinitionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ViewDefinitionError';
  }
}

const VIEW_NAME = /^[a-z0-9_]+$/;
const MEASURE_NAME = /^[A-Za-z][A-Za-z0-9_]*$/;
// Field paths end up inside JSON paths of generated SQL: only plain identifiers, so nothing needs escaping.
const FIELD_PATH = /^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$/;
const MEASURE_KINDS: readonly MeasureKind[] = ['count', 'sum', 'min', 'max', 'avg', 'distinct'];
/** Query parameters of GET /views/{view} besides the key fields: a key field may not take their names. */
export const QUERY_PARAMETERS: readonly string[] = ['from', 'to'];
/** View names go into every table key (see MAX_KEY_PREFIX_BYTES in reducer.ts). */
export const MAX_VIEW_NAME_LENGTH = 64;
/** A speed row holds one sketch (at most 32 KB as stored) per distinct measure; an item at most 400 KB. */
export const MAX_DISTINCT_MEASURES = 8;
/** Envelope fields owned by the pipeline; a view may not group, measure or filter on them. */
export const RESERVED_FIELDS: readonly string[] = ['id', 'type', 'time', 'ingestedAt', 'arrivedAt'];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkField(view: string, where: string, field: unknown): string {
  if (typeof field !== 'string' || !FIELD_PATH.test(field)) {
    throw new ViewDefinitionError(
      `view "${view}": ${where} must be a field path like "page" or "geo.country" (letters, digits, _; given ${JSON.stringify(field)})`,
    );
  }
  if (RESERVED_FIELDS.includes(field.split('.')[0])) {
    throw new ViewDefinitionError(
      `view "${view}": ${where} uses the reserved envelope field "${field}"; reserved: ${RESERVED_FIELDS.join(', ')}`,
    );
  }
  return field;
}

/**
 * Text a view compares events with (its eventType, a where value) must mean the same in every
 * layer. A NUL ends the SQL text DuckDB parses (every batch run then failed, for every view), and
 * an unpaired surrogate becomes U+FFFD in the UTF-8 the SQL engines read, so the batch layer
 * matched events holding U+FFFD while the speed layer and Kappa, comparing code units, matched
 * none (the door refuses such text in events; a black-box probe found both, 2026-12-04).
 */
function checkText(view: string, where: string, text: string): string {
  if (text.includes('\u0000'))
    throw new ViewDefinitionError(
      `view "${view}": ${where} holds U+0000 (NUL), which the batch layer's SQL cannot carry; remove it`,
    );
  if (hasLoneSurrogate(text))
    throw new ViewDefinitionError(
      `view "${view}": ${where} holds an unpaired UTF-16 surrogate (such as \\ud800), which is not Unicode text and matches no accepted event; remove it`,
    );
  return text;
}

function checkMeasure(view: string, name: string, spec: unknown): MeasureSpec {
  if (!MEASURE_NAME.test(name)) {
    throw new ViewDefinitionError(`view "${view}": measure name "${name}" must match [A-Za-z][A-Za-z0-9_]*`);
  }
  if (!isRecord(spec) || typeof spec.kind !== 'string' || !MEASURE_KINDS.includes(spec.kind as MeasureKind)) {
    const given = isRecord(spec) ? JSON.stringify(spec.kind) : JSON.stringify(spec);
    throw new ViewDefinitionError(
      `view "${view}": measure "${name}" has unknown kind ${given}; use count(), sum(f), min(f), max(f), avg(f) or distinct(f)`,
    );
  }
  const kind = spec.kind as MeasureKind;
  if (kind === 'count') {
    if (spec.field !== undefined) {
      throw new ViewDefinitionError(`view "${view}": measure "${name}": count() takes no field`);
    }
    return { kind };
  }
  return { kind, field: checkField(view, `measure "${name}" (${kind})`, spec.field) };
}

/**
 * Declares a view. Validates it at once, so a mistake fails when views.ts is loaded (by the CDK
 * app, the local runtime or a handler's cold start) with a message naming the view and the field.
 */
export function defineView(input: ViewInput): ViewDefinition {
  return validateView(input);
}

export function validateView(input: unknown): ViewDefinition {
  if (!isRecord(input))
    throw new ViewDefinitionError(`a view must be an object (given ${JSON.stringify(input)})`);
  const name = input.name;
  if (typeof name !== 'string' || !VIEW_NAME.test(name) || name.length > MAX_VIEW_NAME_LENGTH) {
    throw new ViewDefinitionError(
      `view name must match [a-z0-9_]+ with at most ${MAX_VIEW_NAME_LENGTH} characters (given ${JSON.stringify(name)})`,
    );
  }
  const known = ['name', 'eventType', 'key', 'granularity', 'measures', 'where'];
  for (const prop of Object.keys(input)) {
    if (!known.includes(prop)) {
      throw new ViewDefinitionError(
        `view "${name}": unknown property "${prop}"; allowed: ${known.join(', ')}`,
      );
    }
  }
  if (typeof input.eventType !== 'string' || input.eventType.length === 0) {
    throw new ViewDefinitionError(
      `view "${name}": eventType must be a non-empty string (given ${JSON.stringify(input.eventType)})`,
    );
  }
  checkText(name, 'eventType', input.eventType);
  const rawKey = typeof input.key === 'string' ? [input.key] : input.key;
  if (!Array.isArray(rawKey) || rawKey.length === 0) {
    throw new ViewDefinitionError(
      `view "${name}": key must name one or more event fields (given ${JSON.stringify(input.key)})`,
    );
  }
  const key = rawKey.map((field: unknown) => checkField(name, 'key', field));
  for (const field of key) {
    if (QUERY_PARAMETERS.includes(field)) {
      throw new ViewDefinitionError(
        `view "${name}": key field "${field}" has the name of a query parameter of GET /views/{view} (${QUERY_PARAMETERS.join(', ')}); rename the event field, or key on a nested path like "x.${field}"`,
      );
    }
  }
  if (new Set(key).size !== key.length) {
    throw new ViewDefinitionError(`view "${name}": key lists a field twice (${key.join(', ')})`);
  }
  if (!isGranularity(input.granularity)) {
    throw new ViewDefinitionError(
      `view "${name}": granularity must be one of ${Object.keys(GRANULARITIES).join(', ')} (given ${JSON.stringify(input.granularity)})`,
    );
  }
  if (!isRecord(input.measures) || Object.keys(input.measures).length === 0) {
    throw new ViewDefinitionError(
      `view "${name}": measures must declare at least one measure, e.g. { events: count() }`,
    );
  }
  const measures: Record<string, MeasureSpec> = {};
  for (const [measureName, spec] of Object.entries(input.measures)) {
    measures[measureName] = checkMeasure(name, measureName, spec);
  }
  const sketches = Object.values(measures).filter((m) => m.kind === 'distinct').length;
  if (sketches > MAX_DISTINCT_MEASURES) {
    throw new ViewDefinitionError(
      `view "${name}": at most ${MAX_DISTINCT_MEASURES} distinct() measures per view (given ${sketches}); each keeps a sketch of up to 32 KB in every row and a DynamoDB item holds 400 KB: split the view`,
    );
  }
  const where: Record<string, FilterValue> = {};
  if (input.where !== undefined) {
    if (!isRecord(input.where)) {
      throw new ViewDefinitionError(
        `view "${name}": where must be an object of field: value (given ${JSON.stringify(input.where)})`,
      );
    }
    for (const [field, value] of Object.entries(input.where)) {
      checkField(name, 'where', field);
      const ok =
        typeof value === 'string' ||
        typeof value === 'boolean' ||
        (typeof value === 'number' && Number.isSafeInteger(value));
      if (!ok) {
        throw new ViewDefinitionError(
          `view "${name}": where.${field} must be ${SCALAR_RULE} (given ${JSON.stringify(value)})`,
        );
      }
      if (typeof value === 'string') checkText(name, `where.${field}`, value);
      where[field] = value as FilterValue;
    }
  }
  return Object.freeze({
    name,
    eventType: input.eventType,
    key: Object.freeze(key),
    granularity: input.granularity,
    measures: Object.freeze(measures),
    where: Object.freeze(where),
  });
}

/** Validates a whole deployment's views (e.g. parsed from JSON): each view, and unique names. */
export function validateViews(input: unknown): ViewDefinition[] {
  if (!Array.isArray(input)) {
    throw new ViewDefinitionError(
      `views must be an array of defineView(...) results (given ${typeof input})`,
    );
  }
  if (input.length === 0) throw new ViewDefinitionError('views must declare at least one view');
  const views = input.map((view) => validateView(view));
  const seen = new Set<string>();
  for (const view of views) {
    if (seen.has(view.name))
      throw new ViewDefinitionError(`view "${view.name}" is declared twice; names must be unique`);
    seen.add(view.name);
  }
  return views;
}
