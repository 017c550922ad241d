import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { validateViews } from '../../lambdas/core/view';
import {
  LambdaArchitectureStack,
  type LambdaArchitectureStackProps,
} from '../../lib/stacks/lambda-architecture-stack';

export const FIXTURE_VIEWS = validateViews([
  {
    name: 'page_views',
    eventType: 'page.view',
    key: ['page'],
    granularity: '1m',
    measures: { views: { kind: 'count' }, visitors: { kind: 'distinct', field: 'userId' } },
  },
]);

/** Synthesizes the stack without bundling (assertion tests do not need the code assets). */
export function synth(
  props: Partial<LambdaArchitectureStackProps> = {},
  bundle = false,
): { app: App; stack: LambdaArchitectureStack; template: () => Template } {
  const app = new App({
    context: bundle
      ? {}
      : { 'aws:cdk:bundling-stacks': [], '@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy': true },
  });
  if (bundle) app.node.setContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy', true);
  const stack = new LambdaArchitectureStack(app, 'TestStack', {
    views: FIXTURE_VIEWS,
    ...props,
    env: { account: '123456789012', region: 'eu-west-1' },
  });
  // Lazy: synthesizing locks the app, and cdk-nag's plugins must be added before that.
  return { app, stack, template: () => Template.fromStack(stack) };
}
