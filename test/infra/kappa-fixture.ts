import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import {
  KappaArchitectureStack,
  type KappaArchitectureStackProps,
} from '../../lib/stacks/kappa-architecture-stack';
import { FIXTURE_VIEWS } from './stack-fixture';
import { resolveIntrinsics, type AslMachine } from './asl';

/** Synthesizes the Kappa stack without bundling (assertion tests do not need the code assets). */
export function synthKappa(
  props: Partial<KappaArchitectureStackProps> = {},
  bundle = false,
): { app: App; stack: KappaArchitectureStack; template: () => Template } {
  const app = new App({ context: bundle ? {} : { 'aws:cdk:bundling-stacks': [] } });
  const stack = new KappaArchitectureStack(app, 'KappaTestStack', {
    views: FIXTURE_VIEWS,
    ...props,
    env: { account: '123456789012', region: 'eu-west-1' },
  });
  return { app, stack, template: () => Template.fromStack(stack) };
}

/** The replay state machine's definition, its CloudFormation intrinsics resolved to placeholder values. */
export function replayDefinition(template: Template): AslMachine {
  const machines = Object.values(template.findResources('AWS::StepFunctions::StateMachine'));
  if (machines.length !== 1) throw new Error(`expected one state machine, found ${machines.length}`);
  const properties = (machines[0] as { Properties: { DefinitionString: unknown } }).Properties;
  return JSON.parse(resolveIntrinsics(properties.DefinitionString)) as AslMachine;
}
