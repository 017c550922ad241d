import type { Template } from 'aws-cdk-lib/assertions';

/**
 * The environment the stack gives the function whose logical id starts with `logicalIdPrefix`,
 * each `Ref` whose logical id starts with one of `refs`' prefixes replaced by its local name, and
 * a placeholder ARN the state machine's definition names it by. A reference with no local
 * counterpart is left out: the Firehose delivery stream, whose delays are read from CloudWatch,
 * which no emulator answers.
 */
export function functionEnvironment(
  template: Template,
  logicalIdPrefix: string,
  refs: readonly (readonly [string, string])[],
): { arn: string; env: Record<string, string> } {
  const [[id, fn]] = Object.entries(template.findResources('AWS::Lambda::Function')).filter(([logicalId]) =>
    logicalId.startsWith(logicalIdPrefix),
  );
  const variables = (fn as { Properties: { Environment: { Variables: Record<string, unknown> } } }).Properties
    .Environment.Variables;
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(variables)) {
    if (typeof value === 'string') env[name] = value;
    else {
      const ref = (value as { Ref?: string }).Ref ?? '';
      const local = refs.find(([prefix]) => ref.startsWith(prefix))?.[1];
      if (local !== undefined) env[name] = local;
    }
  }
  return { arn: `arn:aws:placeholder:eu-west-1:123456789012:${id}`, env };
}
