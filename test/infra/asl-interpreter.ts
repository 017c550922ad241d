import jsonata from 'jsonata';
import { randomUUID } from 'node:crypto';
import type { AslMachine, AslState } from './asl';

/**
 * Runs a synthesized state machine definition in process, the states the project's machines use
 * and nothing more, as https://states-language.net/spec.html and the Step Functions developer guide
 * describe them: Task (a Lambda function ARN, or `arn:aws:states:::lambda:invoke` in JSONata),
 * Wait, Choice, Map (a Distributed Map reading an S3 listing), Succeed, Fail; Parameters,
 * ItemSelector, ResultPath, Retry and Catch in JSONPath; Arguments and Output in JSONata. Anything
 * else throws, naming the field: a definition that drifts out of this subset fails its test
 * instead of passing unread. It runs what the deployed machine would run against the real handler
 * code, which the structural checks of `asl.ts` cannot: field names a handler does not read, a
 * path nothing writes, a step order that breaks a protocol.
 */

/** What the machine's tasks reach outside it. */
export interface AslWorld {
  /** Invokes the Lambda function `arn` with `payload`; a throw is the function's error (its `name` the Error). */
  invoke(arn: string, payload: unknown): Promise<unknown>;
  /** The S3 ItemReader's listing (`s3:listObjectsV2`): every object under the prefix. */
  listObjects(bucket: string, prefix: string): Promise<{ Key: string; Size?: number }[]>;
  /**
   * A Distributed Map's ResultWriter (`s3:putObject`): writes `body` as object `key` of `bucket`.
   * A Map with a ResultWriter in a world without it does not run.
   */
  writeObject?(bucket: string, key: string, body: string): Promise<void>;
  /** A Wait state's pause (tests shorten it). */
  wait(seconds: number): Promise<void>;
  /** The order a Map starts its children in, as a permutation of 0..n-1. @default in order */
  childOrder?(n: number): number[];
}

export type AslOutcome =
  | { readonly status: 'SUCCEEDED'; readonly output: unknown; readonly visited: string[] }
  | { readonly status: 'FAILED'; readonly error: string; readonly cause: string; readonly visited: string[] };

/** A state's failure, as Step Functions names it (`Error`, `Cause`). */
class StatesError extends Error {
  constructor(
    readonly error: string,
    readonly cause: string,
  ) {
    super(`${error}: ${cause}`);
  }
}

type Json = unknown;
type Context = Record<string, unknown>;

const MAX_TRANSITIONS = 10_000;

function unsupported(where: string, what: string): never {
  throw new Error(`asl-interpreter: ${where}: ${what} is not supported; extend the interpreter or the test`);
}

/** A JSONPath reference: `$`, `$.a.b` on the input, `$$.a.b` on the context object. */
function readPath(path: string, input: Json, context: Context, where: string): Json {
  const [root, rest] = path.startsWith('$$') ? [context as Json, path.slice(2)] : [input, path.slice(1)];
  if (!path.startsWith('$')) unsupported(where, `the path ${JSON.stringify(path)}`);
  if (rest === '') return root;
  if (!/^(\.[A-Za-z_][A-Za-z0-9_]*)+$/.test(rest)) unsupported(where, `the path ${JSON.stringify(path)}`);
  let value = root;
  for (const name of rest.slice(1).split('.')) {
    if (value === null || typeof value !== 'object' || !(name in value))
      throw new StatesError('States.Runtime', `${where}: the path ${path} matches nothing`);
    value = (value as Record<string, Json>)[name];
  }
  return value;
}

/** A payload template: `key.$` fields read paths, other fields are copied (objects recursively). */
function fillTemplate(template: Json, input: Json, context: Context, where: string): Json {
  if (template === null || typeof template !== 'object') return template;
  if (Array.isArray(template)) return template.map((t) => fillTemplate(t, input, context, where));
  const out: Record<string, Json> = {};
  for (const [key, value] of Object.entries(template)) {
    if (key.endsWith('.$')) {
      if (typeof value !== 'string' || value.startsWith('States.'))
        unsupported(where, `the field ${key} (intrinsic functions)`);
      out[key.slice(0, -2)] = readPath(value, input, context, where);
    } else out[key] = fillTemplate(value, input, context, where);
  }
  return out;
}

/** ResultPath: the result replaces the input (absent or `$`), goes under a path, or is dropped (null). */
function placeResult(input: Json, result: Json, resultPath: Json, where: string): Json {
  if (resultPath === undefined || resultPath === '$') return result;
  if (resultPath === null) return input;
  if (typeof resultPath !== 'string' || !/^\$(\.[A-Za-z_][A-Za-z0-9_]*)+$/.test(resultPath))
    unsupported(where, `ResultPath ${JSON.stringify(resultPath)}`);
  const names = resultPath.slice(2).split('.');
  const out = structuredClone((input ?? {}) as Record<string, Json>);
  let target = out;
  for (const name of names.slice(0, -1)) {
    if (typeof target[name] !== 'object' || target[name] === null) target[name] = {};
    target = target[name] as Record<string, Json>;
  }
  target[names[names.length - 1]] = result;
  return out;
}

/** JSONata: strings `{% expr %}` are evaluated with `$states`, other values copied (objects recursively). */
async function evaluateJsonata(value: Json, states: Record<string, Json>): Promise<Json> {
  if (typeof value === 'string') {
    const match = /^\{%([\s\S]*)%\}$/.exec(value.trim());
    if (!match) return value;
    return jsonata(match[1]).evaluate({}, { states });
  }
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return Promise.all(value.map((v) => evaluateJsonata(v, states)));
  const out: Record<string, Json> = {};
  for (const [k, v] of Object.entries(value)) out[k] = await evaluateJsonata(v, states);
  return out;
}

/**
 * Whether a Retrier's or Catcher's ErrorEquals names `error`: the name itself, `States.ALL`, or
 * `States.TaskFailed`, which names every error but `States.Timeout`.
 */
export function errorMatches(errorEquals: readonly string[], error: string): boolean {
  return errorEquals.some(
    (e) => e === error || e === 'States.ALL' || (e === 'States.TaskFailed' && error !== 'States.Timeout'),
  );
}

const CHOICE_RULES: Record<string, (a: Json, b: Json) => boolean> = {
  BooleanEquals: (a, b) => a === b,
  StringEquals: (a, b) => a === b,
  NumericEquals: (a, b) => a === b,
  NumericGreaterThan: (a, b) => typeof a === 'number' && a > (b as number),
  NumericLessThan: (a, b) => typeof a === 'number' && a < (b as number),
};

function chooses(rule: Record<string, Json>, input: Json, where: string): boolean {
  if (Array.isArray(rule.And)) return rule.And.every((r) => chooses(r as Record<string, Json>, input, where));
  if (Array.isArray(rule.Or)) return rule.Or.some((r) => chooses(r as Record<string, Json>, input, where));
  if (rule.Not) return !chooses(rule.Not as Record<string, Json>, input, where);
  const variable = rule.Variable as string;
  if (rule.IsPresent !== undefined) {
    let present = true;
    try {
      readPath(variable, input, {}, where);
    } catch {
      present = false;
    }
    return present === rule.IsPresent;
  }
  const operator = Object.keys(rule).find((k) => k in CHOICE_RULES);
  if (!operator) unsupported(where, `the choice rule ${JSON.stringify(rule)}`);
  return CHOICE_RULES[operator](readPath(variable, input, {}, where), rule[operator]);
}

let executions = 0;

/**
 * Runs `machine` on `input`; `visited` lists the states entered, in order, `Map/Child` for children's.
 * The context object holds the execution's id (`$$.Execution.Id`, `$states.context.Execution.Id`).
 */
export async function runAsl(
  machine: AslMachine,
  input: Json,
  world: AslWorld,
  executionId = `arn:aws:states:eu-west-1:123456789012:execution:machine:run-${++executions}`,
): Promise<AslOutcome> {
  const visited: string[] = [];
  try {
    const context = { Execution: { Id: executionId } };
    const output = await runStates(machine, input, world, context, visited, '', 'JSONPath');
    return { status: 'SUCCEEDED', output, visited };
  } catch (error) {
    if (error instanceof StatesError)
      return { status: 'FAILED', error: error.error, cause: error.cause, visited };
    throw error;
  }
}

async function runStates(
  machine: AslMachine,
  input: Json,
  world: AslWorld,
  context: Context,
  visited: string[],
  prefix: string,
  inherited: string,
): Promise<Json> {
  const language = (machine.QueryLanguage as string | undefined) ?? inherited;
  let name = machine.StartAt;
  let data = input;
  for (let transitions = 0; transitions < MAX_TRANSITIONS; transitions++) {
    const state = machine.States[name];
    if (!state) throw new Error(`asl-interpreter: no state ${name}`);
    visited.push(prefix + name);
    const where = prefix + name;
    const stateLanguage = (state.QueryLanguage as string | undefined) ?? language;
    const type = state.Type as string;
    if (type === 'Succeed') return data;
    if (type === 'Fail') throw new StatesError(String(state.Error ?? ''), String(state.Cause ?? ''));
    let next: string | undefined;
    try {
      if (type === 'Wait') {
        if (typeof state.Seconds !== 'number') unsupported(where, 'a Wait without Seconds');
        await world.wait(state.Seconds);
      } else if (type === 'Choice') {
        const choices = (state.Choices ?? []) as Record<string, Json>[];
        const chosen = choices.find((c) => chooses(c, data, where));
        next = (chosen?.Next as string | undefined) ?? (state.Default as string | undefined);
        if (next === undefined) throw new StatesError('States.NoChoiceMatched', where);
      } else if (type === 'Task') {
        data = await runTask(state, data, world, context, where, stateLanguage);
      } else if (type === 'Map') {
        data = await runMap(state, data, world, visited, where, stateLanguage);
      } else unsupported(where, `the state type ${type}`);
    } catch (error) {
      const failure =
        error instanceof StatesError
          ? error
          : error instanceof Error && !error.message.startsWith('asl-interpreter:')
            ? new StatesError(error.name, error.message)
            : undefined;
      if (!failure) throw error;
      const catcher = ((state.Catch ?? []) as AslState[]).find((c) =>
        errorMatches(c.ErrorEquals as string[], failure.error),
      );
      if (!catcher) throw failure;
      const errorOutput = { Error: failure.error, Cause: failure.cause };
      data =
        stateLanguage === 'JSONata' ? errorOutput : placeResult(data, errorOutput, catcher.ResultPath, where);
      name = catcher.Next as string;
      continue;
    }
    if (type === 'Choice') {
      name = next as string;
      continue;
    }
    if (state.End === true) return data;
    name = state.Next as string;
  }
  throw new Error(`asl-interpreter: more than ${MAX_TRANSITIONS} transitions: a loop that never ends`);
}

/** One task, with its Retry: attempts after the first as many as the first matching retrier allows. */
async function runTask(
  state: AslState,
  input: Json,
  world: AslWorld,
  context: Context,
  where: string,
  language: string,
): Promise<Json> {
  for (const field of ['InputPath', 'OutputPath', 'ResultSelector'])
    if (state[field] !== undefined) unsupported(where, field);
  const retried = new Map<Json, number>();
  for (;;) {
    try {
      if (language === 'JSONata') {
        if (state.Resource !== 'arn:aws:states:::lambda:invoke')
          unsupported(where, `the JSONata resource ${String(state.Resource)}`);
        const args = (await evaluateJsonata(state.Arguments, { input, context: context as Json })) as {
          FunctionName: string;
          Payload: Json;
        };
        const result = { Payload: await world.invoke(args.FunctionName, args.Payload), StatusCode: 200 };
        return state.Output === undefined ? result : evaluateJsonata(state.Output, { input, result });
      }
      const resource = String(state.Resource);
      if (resource.startsWith('arn:aws:states:::')) unsupported(where, `the JSONPath resource ${resource}`);
      const payload =
        state.Parameters === undefined ? input : fillTemplate(state.Parameters, input, context, where);
      return placeResult(input, await world.invoke(resource, payload), state.ResultPath, where);
    } catch (error) {
      if (!(error instanceof Error) || error.message.startsWith('asl-interpreter:')) throw error;
      const name = error instanceof StatesError ? error.error : error.name;
      const retrier = ((state.Retry ?? []) as AslState[]).find((r) =>
        errorMatches(r.ErrorEquals as string[], name),
      );
      const attempts = retried.get(retrier) ?? 0;
      if (!retrier || attempts >= ((retrier.MaxAttempts as number | undefined) ?? 3)) throw error;
      retried.set(retrier, attempts + 1);
    }
  }
}

/** One child execution of a Map Run, as its result file describes it. */
interface ChildRun {
  readonly index: number;
  readonly input: Json;
  readonly startDate: Date;
  readonly stopDate: Date;
  readonly output?: Json;
  readonly failure?: StatesError;
}

/**
 * What a Distributed Map's ResultWriter leaves in S3, as
 * https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html lays it
 * out: under `<Prefix>/<Map Run id>/`, one result file per status (`SUCCEEDED_0.json`,
 * `FAILED_0.json`; AWS splits files past 5 GB, never reached here; no PENDING file since every
 * child ran to its end) and `manifest.json` listing them. An entry is the child's metadata with
 * its input and output as JSON text (Transformation NONE, the default) or its output alone
 * (COMPACT); a file is a JSON array (OutputType JSON, the default) or JSON Lines. The state's
 * output is `{MapRunArn, ResultWriterDetails: {Bucket, Key}}`, Key naming the manifest.
 */
async function writeMapResults(
  state: AslState,
  input: Json,
  world: AslWorld,
  where: string,
  runs: readonly ChildRun[],
): Promise<Json> {
  const writer = state.ResultWriter as AslState;
  if (writer.Resource !== 'arn:aws:states:::s3:putObject')
    unsupported(where, `the ResultWriter resource ${String(writer.Resource)}`);
  if (!world.writeObject) unsupported(where, 'a ResultWriter in a world without writeObject');
  const config = (writer.WriterConfig ?? {}) as { Transformation?: string; OutputType?: string };
  const transformation = config.Transformation ?? 'NONE';
  const outputType = config.OutputType ?? 'JSON';
  if (!['NONE', 'COMPACT'].includes(transformation))
    unsupported(where, `the ResultWriter transformation ${transformation}`);
  if (!['JSON', 'JSONL'].includes(outputType))
    unsupported(where, `the ResultWriter output type ${outputType}`);
  const target = fillTemplate(writer.Parameters, input, {}, where) as { Bucket?: string; Prefix?: string };
  if (typeof target.Bucket !== 'string') unsupported(where, 'a ResultWriter without a Bucket');
  const mapRunId = randomUUID();
  const label = typeof state.Label === 'string' ? state.Label : where;
  const mapRunArn = `arn:aws:states:eu-west-1:123456789012:mapRun:machine/${label}:${mapRunId}`;
  // The docs' example joins Prefix and the Map Run id with a slash; a Prefix given with its own
  // trailing slash is not doubled.
  const folder = `${target.Prefix ? `${target.Prefix.replace(/\/$/, '')}/` : ''}${mapRunId}/`;
  const entry = (run: ChildRun): Json => {
    if (transformation === 'COMPACT')
      return run.failure ? { Error: run.failure.error, Cause: run.failure.cause } : run.output;
    const name = `${mapRunId}_${run.index}`;
    return {
      ExecutionArn: `arn:aws:states:eu-west-1:123456789012:execution:machine/${label}:${name}`,
      Input: JSON.stringify(run.input),
      InputDetails: { Included: true },
      Name: name,
      StartDate: run.startDate.toISOString(),
      StateMachineArn: `arn:aws:states:eu-west-1:123456789012:stateMachine:machine/${label}`,
      Status: run.failure ? 'FAILED' : 'SUCCEEDED',
      StopDate: run.stopDate.toISOString(),
      ...(run.failure
        ? { Error: run.failure.error, Cause: run.failure.cause }
        : { Output: JSON.stringify(run.output), OutputDetails: { Included: true } }),
    };
  };
  const files: Record<'SUCCEEDED' | 'FAILED' | 'PENDING', { Key: string; Size: number }[]> = {
    FAILED: [],
    PENDING: [],
    SUCCEEDED: [],
  };
  for (const status of ['SUCCEEDED', 'FAILED'] as const) {
    const entries = runs.filter((r) => (status === 'FAILED') === (r.failure !== undefined)).map(entry);
    if (entries.length === 0) continue;
    const body =
      outputType === 'JSON' ? JSON.stringify(entries) : entries.map((e) => JSON.stringify(e)).join('\n');
    const key = `${folder}${status}_0.json`;
    await world.writeObject(target.Bucket, key, body);
    files[status].push({ Key: key, Size: Buffer.byteLength(body) });
  }
  const manifestKey = `${folder}manifest.json`;
  await world.writeObject(
    target.Bucket,
    manifestKey,
    JSON.stringify({ DestinationBucket: target.Bucket, MapRunArn: mapRunArn, ResultFiles: files }),
  );
  return { MapRunArn: mapRunArn, ResultWriterDetails: { Bucket: target.Bucket, Key: manifestKey } };
}

/**
 * A Distributed Map over an S3 listing: one child execution of the ItemProcessor per object, at
 * most MaxConcurrency at once, in the world's order. With ToleratedFailureCount 0 one failed child
 * fails the Map (States.ExceedToleratedFailureThreshold) once the children running end. With a
 * ResultWriter the children's results are written to S3 (writeMapResults, also when the Map
 * fails) and the output is where they went, not the results.
 */
async function runMap(
  state: AslState,
  input: Json,
  world: AslWorld,
  visited: string[],
  where: string,
  language: string,
): Promise<Json> {
  if (language !== 'JSONPath') unsupported(where, 'a JSONata Map');
  const reader = state.ItemReader as AslState | undefined;
  if (!reader || reader.Resource !== 'arn:aws:states:::s3:listObjectsV2')
    unsupported(where, 'a Map without an s3:listObjectsV2 ItemReader');
  const processor = state.ItemProcessor as AslMachine & { ProcessorConfig?: { Mode?: string } };
  if (processor.ProcessorConfig?.Mode !== 'DISTRIBUTED') unsupported(where, 'an inline Map');
  const parameters = fillTemplate(reader.Parameters, input, {}, where) as { Bucket: string; Prefix?: string };
  const items = await world.listObjects(parameters.Bucket, parameters.Prefix ?? '');
  const order = world.childOrder?.(items.length) ?? items.map((_, i) => i);
  const tolerated = (state.ToleratedFailureCount as number | undefined) ?? 0;
  const concurrency = (state.MaxConcurrency as number | undefined) || items.length || 1;
  let failures = 0;
  let firstFailure: StatesError | undefined;
  let cursor = 0;
  const runs: ChildRun[] = [];
  const child = async () => {
    while (cursor < order.length) {
      const index = order[cursor++];
      const context = { Map: { Item: { Index: index, Value: items[index] } } };
      const childInput =
        state.ItemSelector === undefined
          ? items[index]
          : fillTemplate(state.ItemSelector, input, context, where);
      const startDate = new Date();
      try {
        const output = await runStates(processor, childInput, world, context, visited, `${where}/`, language);
        runs.push({ index, input: childInput, startDate, stopDate: new Date(), output });
      } catch (error) {
        if (!(error instanceof StatesError)) throw error;
        runs.push({ index, input: childInput, startDate, stopDate: new Date(), failure: error });
        failures++;
        firstFailure ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(order.length, 1)) }, child));
  const written = state.ResultWriter ? await writeMapResults(state, input, world, where, runs) : undefined;
  if (failures > tolerated)
    throw new StatesError(
      'States.ExceedToleratedFailureThreshold',
      `${failures} of ${items.length} children failed; the first: ${firstFailure?.error}: ${firstFailure?.cause}`,
    );
  return placeResult(input, written ?? { children: items.length }, state.ResultPath, where);
}
