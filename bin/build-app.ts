import { Duration, RemovalPolicy, type App, type Stack } from 'aws-cdk-lib';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { validateViews, type ViewDefinition } from '../lambdas/core/view';
import { KappaArchitectureStack } from '../lib/stacks/kappa-architecture-stack';
import { LambdaArchitectureStack } from '../lib/stacks/lambda-architecture-stack';

/** The values `-c architecture=...` takes. */
export const ARCHITECTURES = ['lambda', 'kappa', 'both'] as const;
/** The values `-c dataRemovalPolicy=...` takes. */
export const DATA_REMOVAL_POLICIES = {
  retain: RemovalPolicy.RETAIN,
  destroy: RemovalPolicy.DESTROY,
} as const;

/**
 * CloudFormation stack names: 1 to 128 characters, letters, digits and hyphens, starting with a
 * letter (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStack.html).
 */
const STACK_NAME = /^[A-Za-z][A-Za-z0-9-]*$/;

/**
 * The stack names for `-c stackName=<name>`: `lambda` and `kappa` use the name itself; `both`
 * uses `<name>-Lambda` and `<name>-Kappa`. Without it: StreamfoldLambda and StreamfoldKappa.
 */
export function stackNames(
  architecture: string,
  name: string | undefined,
): { lambda: string; kappa: string } {
  if (name === undefined) return { lambda: 'StreamfoldLambda', kappa: 'StreamfoldKappa' };
  const names =
    architecture === 'both'
      ? { lambda: `${name}-Lambda`, kappa: `${name}-Kappa` }
      : { lambda: name, kappa: name };
  for (const n of [names.lambda, names.kappa]) {
    if (!STACK_NAME.test(n) || n.length > 128) {
      throw new Error(
        `context stackName must start with a letter and hold only letters, digits and hyphens, at most ${architecture === 'both' ? 121 : 128} characters (CloudFormation's stack name rules; given ${JSON.stringify(name)})`,
      );
    }
  }
  return names;
}

// A TypeScript views module needs a TypeScript loader. `cdk synth` runs this file under tsx
// already; tsx's scoped require makes loading work under plain Node and in tests too.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- tsx's CommonJS API has no node10 types entry
const tsx = require('tsx/cjs/api') as { require: (id: string, fromFile: string) => unknown };

/**
 * Loads the views module named by `-c views=<path>` (relative to the working directory): a
 * TypeScript or JavaScript module whose default export (or `views` export, or CommonJS
 * `module.exports`) is an array of view definitions, then validates it.
 */
export function loadViewsModule(file: string): ViewDefinition[] {
  const full = path.resolve(file);
  if (!existsSync(full))
    throw new Error(`views module ${full} does not exist; pass -c views=<path to a .ts or .js module>`);
  const mod = tsx.require(full, __filename) as { default?: unknown; views?: unknown } | unknown[];
  const views = Array.isArray(mod) ? mod : (mod.default ?? mod.views);
  if (views === undefined)
    throw new Error(`views module ${full} must default-export an array of defineView(...) results`);
  return validateViews(views);
}

/**
 * Reads the app's context and adds its stacks. Context (all optional):
 *   architecture=lambda            lambda | kappa | both (both: StreamfoldLambda and StreamfoldKappa on one
 *                                  stream and one archive, the Kappa stack importing them from the Lambda one)
 *   views=views.ts                 the views module, the same one `npm start` reads
 *   shardCount=4                   provisioned shards (default: on-demand)
 *   streamRetentionHours=168       how long records stay on the stream (24 to 8760; beyond 24 billed as
 *                                  extended retention)
 *   speedBatchingWindowSeconds=0   the speed layer's batching window (0 to 300 s; ADR 014)
 *   speedAggregationWindowSeconds=0  the speed layer's aggregation window (0: off, up to 900 s; ADR 012)
 *   batchScheduleMinutes=15        how often the batch layer runs
 *   batchCompaction=true           compact the archive into Parquet before each batch run (ADR 011); false: read NDJSON
 *   batchCompactionHours=24        the compaction period in whole hours (1 to 720)
 *   archiveBufferSeconds=60        Firehose buffer interval (60 to 900)
 *   archiveStartDate=2026-11-24    first arrival day the archive's partition projection enumerates (yyyy-MM-dd):
 *                                  your first deployment's day or earlier, never later
 *   apiKeyRequired=true            API keys and a usage plan on top of IAM authorization
 *   dashboard=true                 the dashboard page at GET / of the API (IAM-authorized, like every route)
 *   apiRateLimit=1000              stage throttling, requests per second
 *   apiBurstLimit=2000             stage throttling, burst
 *   enhancedFanOut=true           the speed layer and the Kappa processor read through enhanced fan-out consumers
 *                                  (records pushed, served sooner; a consumer-shard hour and per-GB charge, ADR 025)
 *   replayConcurrency=100          Kappa: archive objects a replay processes at once (1 to 1000)
 *   stackName=<name>               stack name (lambda, kappa) or prefix (both: <name>-Lambda, <name>-Kappa):
 *                                  a second deployment in the same account and region
 *   dataRemovalPolicy=retain       retain | destroy (destroy: cdk destroy also deletes the stream, the
 *                                  tables and the emptied buckets)
 *   ingestMaxBodyBytes=1048576     largest POST /events body (1 to 3000000; 413 above it)
 */
export function buildApp(app: App): Stack[] {
  const context = (name: string): string | undefined => {
    const value: unknown = app.node.tryGetContext(name);
    return value === undefined || value === null || value === '' ? undefined : String(value);
  };
  const number = (name: string): number | undefined => {
    const text = context(name);
    if (text === undefined) return undefined;
    const value = Number(text);
    if (!Number.isFinite(value))
      throw new Error(`context ${name} must be a number (given ${JSON.stringify(text)})`);
    return value;
  };
  const flag = (name: string): boolean | undefined => {
    const text = context(name);
    if (text === undefined) return undefined;
    if (text !== 'true' && text !== 'false')
      throw new Error(`context ${name} must be true or false (given ${JSON.stringify(text)})`);
    return text === 'true';
  };

  const architecture = context('architecture') ?? 'lambda';
  if (!(ARCHITECTURES as readonly string[]).includes(architecture)) {
    throw new Error(`architecture must be one of ${ARCHITECTURES.join(', ')} (given ${architecture})`);
  }

  const names = stackNames(architecture, context('stackName'));
  const removalText = context('dataRemovalPolicy') ?? 'retain';
  if (!Object.keys(DATA_REMOVAL_POLICIES).includes(removalText)) {
    throw new Error(
      `context dataRemovalPolicy must be one of ${Object.keys(DATA_REMOVAL_POLICIES).join(', ')} (given ${JSON.stringify(removalText)})`,
    );
  }
  const dataRemovalPolicy = DATA_REMOVAL_POLICIES[removalText as keyof typeof DATA_REMOVAL_POLICIES];
  const ingestMaxBodyBytes = number('ingestMaxBodyBytes');
  const views = loadViewsModule(context('views') ?? 'views.ts');
  const batchMinutes = number('batchScheduleMinutes');
  const compactionHours = number('batchCompactionHours');
  const bufferSeconds = number('archiveBufferSeconds');
  // Kinesis retention and Lambda's windows are whole hours and seconds: said here, with the option's
  // name, rather than by CDK's Duration without it.
  const whole = (name: string, unit: 'hours' | 'seconds'): Duration | undefined => {
    const value = number(name);
    if (value === undefined) return undefined;
    if (!Number.isInteger(value) || value < 0)
      throw new Error(`context ${name} must be a whole number of ${unit}, 0 or more (given ${value})`);
    return unit === 'hours' ? Duration.hours(value) : Duration.seconds(value);
  };
  const streamRetention = whole('streamRetentionHours', 'hours');
  const seconds = (name: string) => whole(name, 'seconds');
  const env = { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION };
  const shared = {
    views,
    apiKeyRequired: flag('apiKeyRequired'),
    dashboard: flag('dashboard'),
    apiRateLimit: number('apiRateLimit'),
    apiBurstLimit: number('apiBurstLimit'),
    ingestMaxBodyBytes,
    dataRemovalPolicy,
    env,
  };
  const archiveBufferInterval = bufferSeconds === undefined ? undefined : Duration.seconds(bufferSeconds);
  const archiveStartDate = context('archiveStartDate');
  if (architecture === 'both' && context('@aws-cdk/core:defaultCrossStackReferences') === undefined) {
    // The Kappa stack imports the Lambda stack's stream and bucket through CloudFormation exports
    // ("strong" references, CDK's behaviour until now, stated so it does not warn): the Lambda
    // stack cannot drop them while StreamfoldKappa uses them; destroy StreamfoldKappa first.
    app.node.setContext('@aws-cdk/core:defaultCrossStackReferences', 'strong');
  }
  for (const name of ['speedBatchingWindowSeconds', 'speedAggregationWindowSeconds'])
    if (architecture === 'kappa' && context(name) !== undefined)
      throw new Error(
        `context ${name} configures the Lambda architecture's speed layer; architecture=kappa has none (use architecture=lambda or both)`,
      );
  const stacks: Stack[] = [];
  let lambdaStack: LambdaArchitectureStack | undefined;
  if (architecture !== 'kappa') {
    lambdaStack = new LambdaArchitectureStack(app, names.lambda, {
      ...shared,
      description: 'streamfold: the Lambda architecture (ingestion, archive, batch, speed, serving)',
      shardCount: number('shardCount'),
      streamRetention,
      batchSchedule: batchMinutes === undefined ? undefined : Duration.minutes(batchMinutes),
      batchCompaction: flag('batchCompaction'),
      batchCompactionPeriod: compactionHours === undefined ? undefined : Duration.hours(compactionHours),
      archiveBufferInterval,
      archiveStartDate,
      speedEnhancedFanOut: flag('enhancedFanOut'),
      speedMaxBatchingWindow: seconds('speedBatchingWindowSeconds'),
      speedAggregationWindow: seconds('speedAggregationWindowSeconds'),
    });
    stacks.push(lambdaStack);
  }
  if (architecture !== 'lambda') {
    const replayConcurrency = number('replayConcurrency');
    // both: one stream and one archive (the Lambda stack's), so the two architectures see the very
    // same events and can be compared; each keeps its own tables, functions and API.
    const kappaStack = new KappaArchitectureStack(app, names.kappa, {
      ...shared,
      description: lambdaStack
        ? `streamfold: the Kappa architecture (processor, replay, serving) on ${names.lambda}'s stream and archive`
        : 'streamfold: the Kappa architecture (ingestion, archive, processor, replay, serving)',
      ...(lambdaStack
        ? { stream: lambdaStack.eventStream.stream, archive: lambdaStack.archive }
        : { shardCount: number('shardCount'), streamRetention, archiveBufferInterval, archiveStartDate }),
      replayConcurrency,
      processorEnhancedFanOut: flag('enhancedFanOut'),
    });
    stacks.push(kappaStack);
  }
  return stacks;
}
