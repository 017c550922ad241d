import { App, Duration } from 'aws-cdk-lib';
import { LambdaArchitectureStack } from '../lib/stacks/lambda-architecture-stack';
import { loadViews } from '../local/load-views';

/**
 * The CDK app. Context:
 *   -c architecture=lambda        (kappa and both arrive with the Kappa variant)
 *   -c views=views.ts             the views module, the same one `npm start` reads
 *   -c shardCount=4               provisioned shards (default: on-demand)
 *   -c batchScheduleMinutes=15    batch schedule
 *   -c archiveBufferSeconds=60    Firehose buffer interval
 *   -c apiKeyRequired=true        API keys + usage plan on top of IAM
 */
const app = new App();
const context = (name: string): string | undefined => {
  const value: unknown = app.node.tryGetContext(name);
  return value === undefined || value === null ? undefined : String(value);
};
const number = (name: string): number | undefined => {
  const text = context(name);
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isFinite(value))
    throw new Error(`context ${name} must be a number (given ${JSON.stringify(text)})`);
  return value;
};

const architecture = context('architecture') ?? 'lambda';
if (architecture !== 'lambda') {
  throw new Error(
    `-c architecture=${architecture} is not available yet: the Kappa variant arrives with its own issue; use -c architecture=lambda`,
  );
}
const views = loadViews(context('views') ?? 'views.ts');
const batchMinutes = number('batchScheduleMinutes');
const bufferSeconds = number('archiveBufferSeconds');

new LambdaArchitectureStack(app, 'StreamfoldLambda', {
  description: 'streamfold: the Lambda architecture (ingestion, archive, batch, speed, serving)',
  views,
  shardCount: number('shardCount'),
  batchSchedule: batchMinutes === undefined ? undefined : Duration.minutes(batchMinutes),
  archiveBufferInterval: bufferSeconds === undefined ? undefined : Duration.seconds(bufferSeconds),
  apiKeyRequired: context('apiKeyRequired') === 'true',
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});
