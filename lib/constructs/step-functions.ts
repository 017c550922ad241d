import { type CfnElement, Duration, Stack, Token, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';

/**
 * Step Functions fails an execution at its 25,000th history event unless that event ends it
 * successfully, and no fail step or Catch runs then
 * (https://docs.aws.amazon.com/step-functions/latest/dg/bp-history-limit.html).
 */
export const EXECUTION_HISTORY_LIMIT = 25_000;

/**
 * History events of one turn of a polling loop: a Wait (entered, exited), a Lambda task (entered,
 * scheduled, started, succeeded, exited) and a Choice (entered, exited).
 */
export const EVENTS_PER_POLL = 9;

/**
 * Throws unless a loop polling every `poll` for at most `longest` stays, with `eventsPerPoll`
 * history events a turn and `reserve` events for the rest of the execution, under
 * {@link EXECUTION_HISTORY_LIMIT}: past it the execution fails without its fail step.
 */
export function checkPollingHistory(
  names: { readonly longest: string; readonly poll: string },
  longest: Duration,
  poll: Duration,
  eventsPerPoll: number,
  reserve: number,
): void {
  if (Token.isUnresolved(longest.toSeconds()) || Token.isUnresolved(poll.toSeconds())) return;
  const turns = Math.floor(longest.toSeconds() / poll.toSeconds()) + 1;
  const events = turns * eventsPerPoll + reserve;
  if (events > EXECUTION_HISTORY_LIMIT)
    throw new Error(
      `${names.longest} (${longest.toSeconds()} s) / ${names.poll} (${poll.toSeconds()} s) allows ${turns} polls of ${eventsPerPoll} execution history events each (${events} with the rest of the run), past Step Functions' limit of ${EXECUTION_HISTORY_LIMIT} events per execution, where the execution fails without its fail step (https://docs.aws.amazon.com/step-functions/latest/dg/bp-history-limit.html): raise ${names.poll} or lower ${names.longest}`,
    );
}

/**
 * A Distributed Map that states `ToleratedFailureCount: 0` in its definition. ASL's default is the
 * same (any failed child fails the Map Run), but CDK drops a 0 it was given, and the definition
 * should say it: one item not processed would leave a new version incomplete.
 */
export class ZeroToleranceDistributedMap extends sfn.DistributedMap {
  override toStateJson(queryLanguage?: sfn.QueryLanguage): object {
    return { ...super.toStateJson(queryLanguage), ToleratedFailureCount: 0 };
  }
}

/**
 * ResultWriter whose IAM statement is scoped to the results prefix. CDK's own ResultWriterV2 grants
 * s3:PutObject and s3:GetObject on every object of the bucket (here: the whole archive); AWS
 * documents the narrower prefix-scoped policy:
 * https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html#resultwriter-iam-policies
 * Without `writerConfig` the results are written in the exported default (NONE: a JSON array per
 * file of each child's metadata, its output as text in `Output`).
 */
export class PrefixResultWriter extends sfn.ResultWriterV2 {
  constructor(
    private readonly target: s3.IBucket,
    private readonly keyPrefix: string,
    writerConfig?: sfn.WriterConfigProps,
  ) {
    super({
      bucket: target,
      prefix: keyPrefix,
      writerConfig: writerConfig ? new sfn.WriterConfig(writerConfig) : undefined,
    });
  }

  override providePolicyStatements(): iam.PolicyStatement[] {
    return [
      new iam.PolicyStatement({
        actions: ['s3:PutObject', 's3:GetObject', 's3:ListMultipartUploadParts', 's3:AbortMultipartUpload'],
        resources: [this.target.arnForObjects(`${this.keyPrefix}*`)],
      }),
    ];
  }
}

/** A task invoking `fn` with a fixed payload (JSONPath values allowed), its answer at `resultPath`. */
export function invokeStep(
  scope: Construct,
  id: string,
  fn: lambda.IFunction,
  payload: Record<string, unknown>,
  resultPath: string,
): tasks.LambdaInvoke {
  return new tasks.LambdaInvoke(scope, id, {
    lambdaFunction: fn,
    payload: sfn.TaskInput.fromObject(payload),
    payloadResponseOnly: true,
    resultPath,
  });
}

/**
 * Retries a Lambda invoke whose function never ran: Lambda refused the invocation because the
 * account or function was at its concurrency limit (`Lambda.TooManyRequestsException`), with
 * jittered backoff, as many tasks may be refused at once. LambdaInvoke already retries Lambda's
 * transient service errors (`Lambda.ClientExecutionTimeoutException`, `Lambda.ServiceException`,
 * `Lambda.AWSLambdaException`, `Lambda.SdkClientException`; CDK's `retryOnServiceExceptions`,
 * AWS's recommendation): https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html
 * Safe for any step, idempotent or not.
 */
export function retryThrottled(task: tasks.LambdaInvoke): void {
  task.addRetry({
    errors: ['Lambda.TooManyRequestsException'],
    interval: Duration.seconds(2),
    maxAttempts: 10,
    backoffRate: 2,
    jitterStrategy: sfn.JitterType.FULL,
  });
}

/**
 * The retries of a step whose work is idempotent (a readiness poll, a fenced write, a conditional
 * flip): throttled invocations (retryThrottled), then twice more for any failure of the function
 * itself: `States.TaskFailed` matches every error but `States.Timeout`, so also a handled error
 * (a DynamoDB call throttled past the SDK's retries) and `Lambda.Unknown` (the function timed out
 * or ran out of memory), per the page above and
 * https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html.
 * `neverRetried`: error names (the thrown Error's `name`) that mean the step decided to fail, which
 * go straight to the Catch (a Retrier with MaxAttempts 0, placed before the others).
 */
export function retryIdempotent(task: tasks.LambdaInvoke, neverRetried: readonly string[] = []): void {
  if (neverRetried.length > 0) task.addRetry({ errors: [...neverRetried], maxAttempts: 0 });
  retryThrottled(task);
  task.addRetry({
    errors: ['States.TaskFailed', 'States.Timeout'],
    interval: Duration.seconds(5),
    maxAttempts: 2,
    backoffRate: 2,
  });
}

/**
 * Acknowledges cdk-nag's IAM5 findings on CDK's DistributedMapPolicy of `stateMachine`: what AWS
 * documents for a Distributed Map (https://docs.aws.amazon.com/step-functions/latest/dg/iam-policies-eg-dist-map.html):
 * states:StartExecution on this state machine, Describe/StopExecution on its own executions,
 * RedriveExecution on the Map Run `mapLabel`'s child executions, whose names are not known in advance.
 */
export function acknowledgeDistributedMapPolicy(
  stateMachine: sfn.StateMachine,
  mapLabel: string,
  what: string,
): void {
  const policy = stateMachine.node.tryFindChild('DistributedMapPolicy');
  if (!policy) return;
  const stack = Stack.of(stateMachine);
  const smId = stack.getLogicalId(stateMachine.node.defaultChild as CfnElement);
  const region = Token.isUnresolved(stack.region) ? '<AWS::Region>' : stack.region;
  const account = Token.isUnresolved(stack.account) ? '<AWS::AccountId>' : stack.account;
  const name = `{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"${smId}"}]}]}`;
  for (const suffix of [':*', `/${mapLabel}:*`])
    Validations.of(policy).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:${region}:${account}:execution:${name}${suffix}]`,
      reason: `The Distributed Map starts one child execution per ${what}: describe/stop (and redrive) executions of this state machine only; their names are not known in advance.`,
    });
}
