/**
 * A structural checker for Amazon States Language (no ASL validator is in node_modules and the
 * project adds no dependency for one): the rules of https://states-language.net/spec.html that a
 * CDK-built definition can break, plus the Distributed Map fields the replay relies on.
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type AslState = { [key: string]: Json };
export type AslMachine = { StartAt: string; States: Record<string, AslState>; [key: string]: Json };

const PSEUDO: Record<string, string> = {
  'AWS::Partition': 'aws',
  'AWS::Region': 'eu-west-1',
  'AWS::AccountId': '123456789012',
  'AWS::URLSuffix': 'amazonaws.com',
};

/**
 * Resolves the CloudFormation intrinsics of a DefinitionString into text, with placeholder values:
 * pseudo parameters as above, `Ref` of a resource as `REF:<logicalId>`, `Fn::GetAtt [id, Arn]` as
 * `arn:aws:placeholder:eu-west-1:123456789012:<logicalId>`, `Fn::Select`/`Fn::Split` evaluated.
 */
export function resolveIntrinsics(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if ('Fn::Join' in o) {
      const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
      return parts.map(resolveIntrinsics).join(sep);
    }
    if ('Ref' in o) {
      const ref = o.Ref as string;
      return PSEUDO[ref] ?? `REF:${ref}`;
    }
    if ('Fn::GetAtt' in o) {
      const [id, attribute] = o['Fn::GetAtt'] as [string, string];
      return attribute === 'Arn'
        ? `arn:aws:placeholder:eu-west-1:123456789012:${id}`
        : `GETATT:${id}.${attribute}`;
    }
    if ('Fn::Select' in o) {
      const [index, list] = o['Fn::Select'] as [number, unknown];
      const items = Array.isArray(list)
        ? list.map(resolveIntrinsics)
        : resolveIntrinsics(list).split('\u0000');
      return items[index] ?? '';
    }
    if ('Fn::Split' in o) {
      const [sep, text] = o['Fn::Split'] as [string, unknown];
      return resolveIntrinsics(text).split(sep).join('\u0000');
    }
  }
  throw new Error(`cannot resolve ${JSON.stringify(value)}`);
}

const TYPES = new Set(['Task', 'Pass', 'Choice', 'Wait', 'Succeed', 'Fail', 'Parallel', 'Map']);
const JSONPATH_ONLY = ['Parameters', 'ResultPath', 'InputPath', 'OutputPath', 'ResultSelector', 'ItemsPath'];
const JSONATA_ONLY = ['Arguments', 'Output', 'Items'];

function isPath(text: string): boolean {
  return text.startsWith('$') || text.startsWith('States.');
}

/** `.$` fields must hold a path or an intrinsic; payload templates must be objects. */
function checkTemplate(where: string, template: Json, errors: string[]): void {
  if (template === null || typeof template !== 'object' || Array.isArray(template)) {
    errors.push(`${where} must be an object (given ${JSON.stringify(template)})`);
    return;
  }
  for (const [key, value] of Object.entries(template)) {
    if (key.endsWith('.$')) {
      if (typeof value !== 'string' || !isPath(value))
        errors.push(
          `${where}.${key} must be a path or an intrinsic function (given ${JSON.stringify(value)})`,
        );
    } else if (value && typeof value === 'object' && !Array.isArray(value)) {
      checkTemplate(`${where}.${key}`, value, errors);
    }
  }
}

function checkRetriersAndCatchers(
  where: string,
  state: AslState,
  names: Set<string>,
  errors: string[],
): void {
  for (const field of ['Retry', 'Catch'] as const) {
    const list = state[field];
    if (list === undefined) continue;
    if (!Array.isArray(list)) {
      errors.push(`${where}.${field} must be an array`);
      continue;
    }
    list.forEach((entry, i) => {
      const e = entry as AslState;
      const equals = e.ErrorEquals;
      if (!Array.isArray(equals) || equals.length === 0)
        errors.push(`${where}.${field}[${i}].ErrorEquals must be a non-empty array`);
      else if (equals.includes('States.ALL') && (equals.length > 1 || i !== list.length - 1))
        errors.push(`${where}.${field}[${i}]: States.ALL must appear alone and last`);
      if (field === 'Catch' && (typeof e.Next !== 'string' || !names.has(e.Next)))
        errors.push(`${where}.Catch[${i}].Next ${JSON.stringify(e.Next)} is not a state`);
      if (
        field === 'Retry' &&
        e.MaxAttempts !== undefined &&
        (typeof e.MaxAttempts !== 'number' || e.MaxAttempts < 0)
      )
        errors.push(`${where}.Retry[${i}].MaxAttempts must be a non-negative number`);
    });
  }
}

/**
 * Checks one state machine (or a Map's ItemProcessor: the same rules, its own scope of names) and
 * returns every problem found; an empty list means the definition is structurally valid.
 */
export function checkAsl(machine: AslMachine, scope = 'StateMachine', inherited = 'JSONPath'): string[] {
  const errors: string[] = [];
  const language = (machine.QueryLanguage as string | undefined) ?? inherited;
  if (
    typeof machine.States !== 'object' ||
    machine.States === null ||
    Object.keys(machine.States).length === 0
  )
    return [`${scope}.States must be a non-empty object`];
  const names = new Set(Object.keys(machine.States));
  if (!names.has(machine.StartAt))
    errors.push(`${scope}.StartAt ${JSON.stringify(machine.StartAt)} is not a state`);
  const next = new Map<string, string[]>();

  for (const [name, state] of Object.entries(machine.States)) {
    const where = `${scope}.States.${name}`;
    const targets: string[] = [];
    next.set(name, targets);
    if (name.length > 80) errors.push(`${where}: state names are at most 80 characters`);
    const type = state.Type as string;
    if (!TYPES.has(type)) {
      errors.push(`${where}.Type ${JSON.stringify(type)} is not a state type`);
      continue;
    }
    const stateLanguage = (state.QueryLanguage as string | undefined) ?? language;
    if (language === 'JSONata' && stateLanguage === 'JSONPath')
      errors.push(`${where}: a JSONPath state cannot sit in a JSONata state machine`);
    for (const field of stateLanguage === 'JSONata' ? JSONPATH_ONLY : JSONATA_ONLY)
      if (field in state) errors.push(`${where}.${field} is not allowed in a ${stateLanguage} state`);

    const terminal = type === 'Succeed' || type === 'Fail' || type === 'Choice';
    if (terminal) {
      if ('Next' in state || 'End' in state)
        errors.push(`${where}: a ${type} state has neither Next nor End`);
    } else {
      const hasNext = typeof state.Next === 'string';
      const hasEnd = state.End === true;
      if (hasNext === hasEnd) errors.push(`${where}: exactly one of Next and End (End: true) is required`);
      if (hasNext) {
        if (!names.has(state.Next as string))
          errors.push(`${where}.Next ${JSON.stringify(state.Next)} is not a state`);
        targets.push(state.Next as string);
      }
    }
    if (type === 'Task' && typeof state.Resource !== 'string')
      errors.push(`${where}.Resource must be a string`);
    if (type === 'Task' || type === 'Parallel' || type === 'Map') {
      checkRetriersAndCatchers(where, state, names, errors);
      for (const c of (state.Catch as AslState[] | undefined) ?? []) targets.push(c.Next as string);
    } else if ('Retry' in state || 'Catch' in state) {
      errors.push(`${where}: only Task, Parallel and Map states retry or catch`);
    }
    for (const field of ['Parameters', 'ItemSelector', 'ResultSelector'])
      if (field in state) checkTemplate(`${where}.${field}`, state[field], errors);
    if (type === 'Choice') {
      const choices = state.Choices;
      if (!Array.isArray(choices) || choices.length === 0)
        errors.push(`${where}.Choices must be a non-empty array`);
      else
        choices.forEach((choice, i) => {
          const target = (choice as AslState).Next;
          if (typeof target !== 'string' || !names.has(target))
            errors.push(`${where}.Choices[${i}].Next ${JSON.stringify(target)} is not a state`);
          else targets.push(target);
        });
      if (state.Default !== undefined) {
        if (typeof state.Default !== 'string' || !names.has(state.Default))
          errors.push(`${where}.Default ${JSON.stringify(state.Default)} is not a state`);
        else targets.push(state.Default);
      }
    }
    if (type === 'Wait') {
      const given = ['Seconds', 'Timestamp', 'SecondsPath', 'TimestampPath'].filter((f) => f in state);
      if (given.length !== 1)
        errors.push(`${where}: exactly one of Seconds, Timestamp, SecondsPath, TimestampPath`);
    }
    if (type === 'Map') {
      const processor = (state.ItemProcessor ?? state.Iterator) as AslMachine | undefined;
      if (!processor) errors.push(`${where}: a Map state needs an ItemProcessor`);
      else errors.push(...checkAsl(processor, `${where}.ItemProcessor`, stateLanguage));
      const config = processor?.ProcessorConfig as AslState | undefined;
      if (config?.Mode === 'DISTRIBUTED') {
        if (!['STANDARD', 'EXPRESS'].includes(config.ExecutionType as string))
          errors.push(`${where}.ItemProcessor.ProcessorConfig.ExecutionType must be STANDARD or EXPRESS`);
        const reader = state.ItemReader as AslState | undefined;
        if (
          reader &&
          (typeof reader.Resource !== 'string' || !/^arn:aws[a-z-]*:states:::s3:/.test(reader.Resource))
        )
          errors.push(`${where}.ItemReader.Resource must be an arn:aws:states:::s3:* integration`);
        if (reader?.Parameters !== undefined)
          checkTemplate(`${where}.ItemReader.Parameters`, reader.Parameters, errors);
        const writer = state.ResultWriter as AslState | undefined;
        if (
          writer &&
          writer.Resource !== undefined &&
          !/^arn:aws[a-z-]*:states:::s3:putObject$/.test(writer.Resource as string)
        )
          errors.push(`${where}.ResultWriter.Resource must be arn:aws:states:::s3:putObject`);
      }
      const concurrency = state.MaxConcurrency;
      if (concurrency !== undefined && (!Number.isInteger(concurrency) || (concurrency as number) < 0))
        errors.push(`${where}.MaxConcurrency must be a non-negative integer`);
    }
  }

  // Every state is reachable from StartAt, and some path ends.
  const reached = new Set<string>();
  const queue = [machine.StartAt];
  while (queue.length) {
    const name = queue.pop()!;
    if (reached.has(name) || !names.has(name)) continue;
    reached.add(name);
    queue.push(...(next.get(name) ?? []));
  }
  for (const name of names)
    if (!reached.has(name)) errors.push(`${scope}.States.${name} is unreachable from StartAt`);
  const ends = [...reached].some((name) => {
    const s = machine.States[name];
    return s.Type === 'Succeed' || s.Type === 'Fail' || s.End === true;
  });
  if (!ends) errors.push(`${scope}: no reachable state ends the execution`);
  return errors;
}
