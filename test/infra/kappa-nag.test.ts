import { App, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../bin/build-app';
import { synthKappa } from './kappa-fixture';

function nag(
  mutate?: (stack: ReturnType<typeof synthKappa>['stack']) => void,
  props: Parameters<typeof synthKappa>[0] = {},
) {
  const { app, stack } = synthKappa(props);
  mutate?.(stack);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
  return () => app.synth();
}

describe('cdk-nag on the Kappa stack', () => {
  it('finds nothing unacknowledged in the AwsSolutions and Serverless packs', () => {
    // GIVEN the Kappa stack with both packs / WHEN synthesized / THEN no finding is left
    expect(nag()).not.toThrow();
  });

  it('finds nothing unacknowledged with the processor on an enhanced fan-out consumer (ADR 025)', () => {
    expect(nag(undefined, { processorEnhancedFanOut: true })).not.toThrow();
  });

  it('fails if the admin function gets a wildcard resource (acknowledgements are per finding, not blanket)', () => {
    const run = nag((stack) => {
      stack.admin.role.addToPolicy(
        new iam.PolicyStatement({
          actions: ['states:DescribeExecution'],
          resources: [`${stack.replay.stateMachine.stateMachineArn}:*`],
        }),
      );
    });
    expect(run).toThrow(
      /KappaAdmin\/Role\/DefaultPolicy[\s\S]*AwsSolutions-IAM5\[Resource::<ReplayStateMachine\w+>:\*\]/,
    );
  });

  it('fails if the replay state machine role gets a new wildcard resource', () => {
    const run = nag((stack) => {
      stack.replay.stateMachine.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['dynamodb:Query'],
          resources: [`${stack.tables.kappaTable.tableArn}/index/*`],
        }),
      );
    });
    expect(run).toThrow(
      /Replay\/StateMachine\/Role\/DefaultPolicy[\s\S]*AwsSolutions-IAM5\[Resource::<TablesKappaTable\w+\.Arn>\/index\/\*\]/,
    );
  });
});

describe('cdk-nag with architecture=both', () => {
  it('finds nothing unacknowledged in either stack when the Kappa stack shares the Lambda stack stream and archive', () => {
    // GIVEN both stacks from the app entry, the nag packs on the app
    const app = new App({
      context: { 'aws:cdk:bundling-stacks': [], architecture: 'both', views: 'test/infra/fixtures/views.ts' },
    });
    buildApp(app);
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
    // WHEN synthesized THEN no finding is left
    expect(() => app.synth()).not.toThrow();
  });
});
