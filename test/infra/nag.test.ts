import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { synth } from './stack-fixture';

function nag(
  mutate?: (stack: ReturnType<typeof synth>['stack']) => void,
  props: Parameters<typeof synth>[0] = {},
) {
  const { app, stack } = synth(props);
  mutate?.(stack);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
  return () => app.synth();
}

describe('cdk-nag', () => {
  it('finds nothing unacknowledged in the AwsSolutions and Serverless packs', () => {
    // GIVEN the stack with both packs
    const run = nag();
    // WHEN synthesized THEN no finding is left (an unacknowledged one fails the synth: see the next test)
    expect(run).not.toThrow();
  });

  it('finds nothing unacknowledged with dataRemovalPolicy DESTROY (the buckets emptied by autoDeleteObjects)', () => {
    expect(nag(undefined, { dataRemovalPolicy: RemovalPolicy.DESTROY })).not.toThrow();
  });

  it('finds nothing unacknowledged with the speed layer on an enhanced fan-out consumer (ADR 025)', () => {
    expect(nag(undefined, { speedEnhancedFanOut: true })).not.toThrow();
  });

  it('fails if a new wildcard permission appears (acknowledgements are per finding, not blanket)', () => {
    const run = nag((stack) => {
      stack.query.role.addToPolicy(
        new iam.PolicyStatement({
          actions: ['dynamodb:Query'],
          resources: [`${stack.tables.batchTable.tableArn}/index/*`],
        }),
      );
    });
    // THEN the synth fails on exactly that finding (any other synth error would not match)
    expect(run).toThrow(
      /TestStack\/Query\/Role\/DefaultPolicy[\s\S]*AwsSolutions-IAM5\[Resource::<TablesBatchTable\w+\.Arn>\/index\/\*\]/,
    );
  });
});
