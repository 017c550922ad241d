import { createRequire } from 'node:module';

/**
 * dynalite parses every request's expressions with PEG parsers (UpdateExpression,
 * ConditionExpression, KeyConditionExpression, FilterExpression, ProjectionExpression), and that
 * parse was 61% of its main-thread time per speed-row write (970 of 1,595 ms for 4,000 UpdateItems
 * with a ConditionExpression, a profile of 2026-12-05): the local runtime sends the same few
 * expressions over and over with new values.
 *
 * The parsers resolve `:value` placeholders into the tree (the request's own value objects), check
 * the values' types, and remove what they used from the context's "unused" lists. So a parse is
 * cached by everything it can depend on except the values themselves: the parser, the expression,
 * whether it is a key condition, the attribute names, and each value's key and type. A hit gives
 * a copy of the cached tree with this request's values put back where the placeholders were, and
 * the same names and values marked used. Two checks also read the values themselves (BETWEEN's
 * bounds are compared, attribute_type's type name is read), so expressions holding either are
 * never cached; nor is a parse that failed (its message is the parser's own, every time).
 */

interface ParseContext {
  attrNames?: Record<string, string>;
  attrVals?: Record<string, Record<string, unknown>>;
  unusedAttrNames?: Record<string, boolean>;
  unusedAttrVals?: Record<string, boolean>;
  isKeyCondition?: boolean;
}

interface PegParser {
  parse(input: string, options: { context: ParseContext }): unknown;
}

interface CachedParse {
  /** The tree, each value replaced by a {@link Placeholder}. */
  readonly tree: unknown;
  readonly usedNames: readonly string[];
  readonly usedValues: readonly string[];
}

class Placeholder {
  constructor(readonly key: string) {}
}

const PATCHED = Symbol.for('streamfold.dynalite.expressionCache');
/** Distinct expressions a process keeps; a runtime sends a few dozen. */
const MAX_ENTRIES = 2_000;
const VALUE_DEPENDENT = /between|attribute_type/i;
const TYPES = ['S', 'N', 'B', 'NULL', 'BOOL', 'SS', 'NS', 'BS', 'L', 'M'];

let hits = 0;
let misses = 0;

/** Parses answered from the cache and parsed afresh in this thread, since it started. */
export function dynaliteExpressionCacheCounts(): { hits: number; misses: number } {
  return { hits, misses };
}

function typeOf(value: Record<string, unknown>): string {
  for (const type of TYPES) if (value[type] != null) return type;
  return '?';
}

/** What a parse may depend on besides the values' contents, or undefined when it must not be cached. */
function cacheKey(id: number, input: string, context: ParseContext): string | undefined {
  if (VALUE_DEPENDENT.test(input)) return undefined;
  const values = context.attrVals ?? {};
  let types = '';
  for (const key of Object.keys(values)) {
    const value = values[key];
    if (value === null || typeof value !== 'object') return undefined;
    types += `${key}:${typeOf(value)},`;
  }
  return `${id}\u0000${context.isKeyCondition === true ? 1 : 0}\u0000${input}\u0000${JSON.stringify(context.attrNames ?? null)}\u0000${types}`;
}

/** A deep copy of `tree` with each object `replace` gives a replacement for replaced by it. */
function copyTree(tree: unknown, replace: (node: object) => unknown): unknown {
  if (tree === null || typeof tree !== 'object') return tree;
  const replaced = replace(tree);
  if (replaced !== undefined) return replaced;
  if (Array.isArray(tree)) {
    const items: unknown[] = new Array(tree.length);
    for (let i = 0; i < tree.length; i++) items[i] = copyTree(tree[i], replace);
    return items;
  }
  // With its prototype: the parsers keep paths in Object.create(null) maps, which dynalite then
  // asks for a key attribute by name (a key named `constructor` must not find Object's).
  const copy = Object.create(Object.getPrototypeOf(tree) as object | null) as Record<string, unknown>;
  const node = tree as Record<string, unknown>;
  for (const key in node) if (Object.hasOwn(node, key)) copy[key] = copyTree(node[key], replace);
  return copy;
}

function cachingParse(
  id: number,
  parse: PegParser['parse'],
  cache: Map<string, CachedParse>,
): PegParser['parse'] {
  return function (this: PegParser, input, options) {
    const context = options.context;
    const key = typeof input === 'string' ? cacheKey(id, input, context) : undefined;
    if (key === undefined) return parse.call(this, input, options);
    const values = context.attrVals ?? {};
    const cached = cache.get(key);
    if (cached) {
      hits++;
      for (const name of cached.usedNames) delete context.unusedAttrNames?.[name];
      for (const value of cached.usedValues) delete context.unusedAttrVals?.[value];
      return copyTree(cached.tree, (node) => (node instanceof Placeholder ? values[node.key] : undefined));
    }
    misses++;
    // Parsed against full "unused" lists of its own, so what this expression uses is known even
    // when an earlier expression of the request used the same names or values first.
    const probe: ParseContext = {
      ...context,
      unusedAttrNames: Object.fromEntries(Object.keys(context.attrNames ?? {}).map((n) => [n, true])),
      unusedAttrVals: Object.fromEntries(Object.keys(values).map((v) => [v, true])),
    };
    const result = parse.call(this, input, { ...options, context: probe });
    const usedNames = Object.keys(context.attrNames ?? {}).filter(
      (n) => !(n in (probe.unusedAttrNames ?? {})),
    );
    const usedValues = Object.keys(values).filter((v) => !(v in (probe.unusedAttrVals ?? {})));
    for (const name of usedNames) delete context.unusedAttrNames?.[name];
    for (const value of usedValues) delete context.unusedAttrVals?.[value];
    // A string is the parser's error message: not cached, so every request gets it afresh.
    if (result === null || typeof result !== 'object') return result;
    const byIdentity = new Map<object, string>();
    for (const [name, value] of Object.entries(values)) byIdentity.set(value, name);
    // Copied now: dynalite may change the tree it is given (a key condition's operands are swapped).
    const tree = copyTree(result, (node) => {
      const name = byIdentity.get(node);
      return name === undefined ? undefined : new Placeholder(name);
    });
    if (cache.size >= MAX_ENTRIES) cache.clear();
    cache.set(key, { tree, usedNames, usedValues });
    return result;
  };
}

/** Caches dynalite's expression parses in this thread (once; the thread that loads dynalite). */
export function cacheDynaliteExpressions(): void {
  const fromDynalite = createRequire(require.resolve('dynalite'));
  const cache = new Map<string, CachedParse>();
  ['./db/updateParser', './db/conditionParser', './db/projectionParser'].forEach((path, id) => {
    const parser = fromDynalite(path) as PegParser & { [PATCHED]?: true };
    if (parser[PATCHED]) return;
    parser[PATCHED] = true;
    parser.parse = cachingParse(id, parser.parse, cache);
  });
}
