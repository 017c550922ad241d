import { App, Stack } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { validateViews, type ViewDefinition } from '../../lambdas/core/view';
import {
  DEPLOY_TIME_VALUE_BYTES,
  environmentBytes,
  LAMBDA_ENVIRONMENT_MAX_BYTES,
} from '../../lib/constructs/lambda-environment-size';
import { HandlerFunction } from '../../lib/constructs/handler-function';
import { synth } from './stack-fixture';

/**
 * Lambda caps a function's environment at 4 KB in all, counted (by its refusal message) as the
 * variables' JSON object, so the views JSON's quotes count twice. A deploy past it fails only when
 * CloudFormation creates the function; synth refuses it first, per function, with the deploy-time
 * names at their longest.
 */
const views = (count: number, nameLength: number): ViewDefinition[] =>
  validateViews(
    Array.from({ length: count }, (_, i) => ({
      name: `v${String(i).padStart(nameLength - 1, '0')}`,
      eventType: 'some.event.type',
      key: ['someKeyField'],
      granularity: '1m',
      measures: { count: { kind: 'count' } },
    })),
  );

describe('environmentBytes', () => {
  it('counts names and values as one JSON object, every quote and backslash in a value twice', () => {
    const stack = new Stack(new App(), 'S');
    expect(environmentBytes(stack, { A: 'b' })).toBe('{"A":"b"}'.length);
    expect(environmentBytes(stack, { A: '"\\' })).toBe('{"A":"\\"\\\\"}'.length);
    expect(environmentBytes(stack, { A: 'é' })).toBe('{"A":"é"}'.length + 1);
  });

  it('counts a deploy-time value at its longest, and a value the stack knows as it is', () => {
    const stack = new Stack(new App(), 'S');
    expect(environmentBytes(stack, { A: `arn:${stack.stackId}` })).toBe(
      `{"A":"arn:${'x'.repeat(DEPLOY_TIME_VALUE_BYTES)}"}`.length,
    );
    expect(environmentBytes(stack, { A: stack.stackName })).toBe('{"A":"S"}'.length);
  });
});

describe('a function whose environment cannot fit', () => {
  it('is refused at synth, naming the function, where the views alone (under 3,000 bytes) passed', () => {
    const big = views(18, 24);
    const bytes = Buffer.byteLength(JSON.stringify(big));
    expect(bytes).toBeGreaterThan(2_600);
    expect(bytes).toBeLessThanOrEqual(3_000);
    expect(() => synth({ views: big }).template()).toThrow(
      /function's environment takes about \d+ bytes as Lambda counts it.*over Lambda's 4096/,
    );
  });

  it('passes with the default views and with views of about 1,900 bytes, every function under 4 KB', () => {
    for (const set of [undefined, views(12, 24)]) {
      const { stack, template } = synth(set === undefined ? {} : { views: set });
      template();
      const sizes = stack.node
        .findAll()
        .filter((c): c is HandlerFunction => c instanceof HandlerFunction)
        .map((f) => {
          const variables = (
            f.function.node.defaultChild as { environment?: { variables?: Record<string, string> } }
          ).environment?.variables;
          return environmentBytes(stack, variables ?? {});
        });
      expect(sizes.length).toBeGreaterThan(4);
      expect(Math.max(...sizes)).toBeLessThanOrEqual(LAMBDA_ENVIRONMENT_MAX_BYTES);
    }
  });
});
