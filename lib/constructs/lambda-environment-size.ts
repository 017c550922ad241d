import { CfnResource, Stack, Tokenization } from 'aws-cdk-lib';

/**
 * Lambda's cap on a function's environment variables: "4 KB, for all environment variables
 * associated with the function, in aggregate"
 * (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
 */
export const LAMBDA_ENVIRONMENT_MAX_BYTES = 4096;

/**
 * What a deploy-time value counts for when its shape is unknown (a value imported from another
 * stack, an intrinsic other than a Ref): generous for the names and ARNs these stacks pass.
 */
export const DEPLOY_TIME_VALUE_BYTES = 140;

/** What an ARN adds to the name it ends with: `arn:aws:states:<region>:<account>:stateMachine:` and the like. */
const ARN_PREFIX_BYTES = 70;

/** Resource types whose Ref is an ARN (or a URL), not a name. */
const REF_IS_ARN = new Set(['AWS::StepFunctions::StateMachine', 'AWS::SNS::Topic', 'AWS::SQS::Queue']);

/**
 * The longest a Ref of a resource of this stack resolves to: the name CloudFormation generates,
 * `<stack name>-<logical id>-<13 characters>` (at most the 255 a DynamoDB table takes; the few
 * resources these stacks name themselves, like the Athena workgroup, have shorter names), with an
 * ARN's prefix for the types whose Ref is one.
 */
function refBytes(scope: Stack, logicalId: string, resources: ReadonlyMap<string, CfnResource>): number {
  const resource = resources.get(logicalId);
  if (resource === undefined) return DEPLOY_TIME_VALUE_BYTES;
  const generated = Math.min(255, scope.stackName.length + logicalId.length + 15);
  return generated + (REF_IS_ARN.has(resource.cfnResourceType) ? ARN_PREFIX_BYTES : 0);
}

/**
 * The bytes Lambda counts for `variables`, with each deploy-time value at its longest.
 * How Lambda measures is not documented; its refusal quotes the string it measured, the variables
 * as one JSON object (`{"NAME":"value",...}`), so every `"` and `\` inside a value counts twice:
 * the views JSON, about a fifth quotes, takes some 20% more than its own length
 * (https://github.com/github-aws-runners/terraform-aws-github-runner/issues/3594 shows the message).
 */
export function environmentBytes(scope: Stack, variables: Readonly<Record<string, string>>): number {
  const resources = new Map<string, CfnResource>();
  for (const c of scope.node.findAll())
    if (CfnResource.isCfnResource(c)) resources.set(scope.resolve(c.logicalId) as string, c);
  const longest = (resolved: unknown): number => {
    const ref = (resolved as { Ref?: unknown } | null)?.Ref;
    return typeof ref === 'string' ? refBytes(scope, ref, resources) : DEPLOY_TIME_VALUE_BYTES;
  };
  const measured: Record<string, string> = {};
  for (const [name, value] of Object.entries(variables)) {
    // Each token becomes its resolved text when the stack knows it, else a stand-in of the
    // longest length; the literal parts stay as they are.
    const text: unknown = Tokenization.reverseString(value)
      .mapTokens({
        mapToken: (token) => {
          const resolved: unknown = scope.resolve(token);
          return typeof resolved === 'string' || typeof resolved === 'number'
            ? String(resolved)
            : 'x'.repeat(longest(resolved));
        },
      })
      .join({ join: (left: unknown, right: unknown) => `${String(left)}${String(right)}` });
    measured[name] = String(text ?? '');
  }
  return Buffer.byteLength(JSON.stringify(measured));
}
