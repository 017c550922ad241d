import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import * as path from 'node:path';
import { environmentBytes, LAMBDA_ENVIRONMENT_MAX_BYTES } from './lambda-environment-size';

/** Props of HandlerFunction. */
export interface HandlerFunctionProps {
  /** File name under lambdas/handlers, without extension, e.g. `speed`. */
  readonly handler: string;
  /** Environment variables (names from lambdas/runtime/env.ts). */
  readonly environment: Readonly<Record<string, string>>;
  /**
   * Timeout.
   * @default Duration.seconds(30)
   */
  readonly timeout?: Duration;
  /**
   * Memory in MiB.
   * @default 512
   */
  readonly memorySize?: number;
  /**
   * Days CloudWatch keeps the function's logs.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Where failed asynchronous invocations go (functions invoked by EventBridge).
   * @default - none: the function is invoked synchronously or by an event source mapping with its own destination
   */
  readonly deadLetterQueue?: sqs.IQueue;
  /**
   * Concurrent executions reserved for (and capped at) this function.
   * @default - none: the function shares the account's unreserved concurrency
   */
  readonly reservedConcurrentExecutions?: number;
  /**
   * Files the handler reads at run time, copied into the bundle: `from` relative to the repository
   * root, `to` relative to the bundle (the handler's directory).
   * @default - none
   */
  readonly bundleFiles?: ReadonlyArray<{ readonly from: string; readonly to: string }>;
}

const HANDLERS = path.resolve(__dirname, '..', '..', 'lambdas', 'handlers');

/**
 * A deployed handler: bundled by the local esbuild (no Docker), Node.js 24 on ARM, X-Ray
 * tracing, its own log group and its own role with no managed policy: every permission is an
 * explicit grant, so each role's actions are exactly what the function needs.
 */
export class HandlerFunction extends Construct {
  readonly function: NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;
  /** The function's environment variables, as given to Lambda (deploy-time values as tokens). */
  readonly environment: Readonly<Record<string, string>>;

  constructor(scope: Construct, id: string, props: HandlerFunctionProps) {
    super(scope, id);
    this.environment = { ...props.environment, NODE_OPTIONS: '--enable-source-maps' };
    this.role = new iam.Role(this, 'Role', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.logGroup.grantWrite(this.role);
    this.function = new NodejsFunction(this, 'Function', {
      entry: path.join(HANDLERS, `${props.handler}.ts`),
      handler: 'handler',
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(30),
      role: this.role,
      logGroup: this.logGroup,
      tracing: lambda.Tracing.ACTIVE,
      deadLetterQueue: props.deadLetterQueue,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      environment: { ...this.environment },
      bundling: {
        format: OutputFormat.CJS,
        target: 'node24',
        minify: true,
        sourceMap: true,
        // The DuckDB adapter is only used locally; its native module never goes into a bundle.
        externalModules: ['@duckdb/node-api'],
        commandHooks: props.bundleFiles
          ? {
              beforeBundling: () => [],
              beforeInstall: () => [],
              afterBundling: (inputDir: string, outputDir: string) =>
                props.bundleFiles!.flatMap(({ from, to }) => [
                  `mkdir -p "${path.posix.dirname(`${outputDir}/${to}`)}"`,
                  `cp "${inputDir}/${from}" "${outputDir}/${to}"`,
                ]),
            }
          : undefined,
      },
    });
    // Lambda refuses a function whose environment passes 4 KB only when CloudFormation creates or
    // updates it: checked at synth instead, with the deploy-time names at their longest.
    this.node.addValidation({
      validate: () => {
        const bytes = environmentBytes(Stack.of(this), this.environment);
        return bytes <= LAMBDA_ENVIRONMENT_MAX_BYTES
          ? []
          : [
              `the ${props.handler} function's environment takes about ${bytes} bytes as Lambda counts it (names and values as one JSON object, deploy-time names at their longest), over Lambda's ${LAMBDA_ENVIRONMENT_MAX_BYTES} in all; the views JSON is most of it (every quote in it counts twice): shorten view, field and measure names, or split the views over two deployments`,
            ];
      },
    });
    Validations.of(this.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions (the only * resource in this role).',
    });
    if (!props.deadLetterQueue) {
      Validations.of(this.function).acknowledge({
        id: 'Serverless-LambdaDLQ',
        reason:
          'Invoked synchronously (API Gateway, Firehose) or by a Kinesis event source mapping whose on-failure destination is an S3 bucket; a function DLQ only applies to asynchronous invocations.',
      });
    }
  }
}
