import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { validateViews } from '../../lambdas/core/view';
import fixtureViews from './fixtures/views';
import {
  LambdaArchitectureStack,
  type LambdaArchitectureStackProps,
} from '../../lib/stacks/lambda-architecture-stack';

/** The views of test/infra/fixtures/views.ts, validated as the app validates them. */
export const FIXTURE_VIEWS = validateViews(fixtureViews);

/** Synthesizes the stack without bundling (assertion tests do not need the code assets). */
export function synth(
  props: Partial<LambdaArchitectureStackProps> = {},
  bundle = false,
): { app: App; stack: LambdaArchitectureStack; template: () => Template } {
  const app = new App({ context: bundle ? {} : { 'aws:cdk:bundling-stacks': [] } });
  const stack = new LambdaArchitectureStack(app, 'TestStack', {
    views: FIXTURE_VIEWS,
    ...props,
    env: { account: '123456789012', region: 'eu-west-1' },
  });
  // Lazy: synthesizing locks the app, and cdk-nag's plugins must be added before that.
  return { app, stack, template: () => Template.fromStack(stack) };
}
