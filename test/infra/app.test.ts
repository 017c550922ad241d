import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { buildApp, KAPPA_NOT_YET, loadViewsModule } from '../../bin/build-app';

const FIXTURE = 'test/infra/fixtures/views.ts';
const app = (context: Record<string, unknown>) =>
  new App({ context: { 'aws:cdk:bundling-stacks': [], ...context } });

describe('the CDK app (bin/app.ts)', () => {
  it('synthesizes the Lambda architecture from a views module, with its outputs', () => {
    // GIVEN the context cdk.json and the command line give
    const given = app({ architecture: 'lambda', views: FIXTURE, shardCount: '2', apiRateLimit: '50' });
    // WHEN the app is built
    const [stack] = buildApp(given);
    // THEN one stack holds the fixture's views and takes the context options
    expect(stack.stackName).toBe('StreamfoldLambda');
    const template = Template.fromStack(stack);
    template.hasOutput('ApiUrl', {});
    template.hasOutput('StreamName', {});
    template.hasOutput('ArchiveBucketName', {});
    template.hasResourceProperties('AWS::Kinesis::Stream', { ShardCount: 2 });
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      MethodSettings: [Match.objectLike({ ThrottlingRateLimit: 50 })],
    });
  });

  it.each(['kappa', 'both'])('fails if architecture=%s, naming the issue it arrives with', (architecture) => {
    expect(() => buildApp(app({ architecture, views: FIXTURE }))).toThrow(KAPPA_NOT_YET);
  });

  it('fails if the architecture is unknown', () => {
    expect(() => buildApp(app({ architecture: 'lamda', views: FIXTURE }))).toThrow(
      'architecture must be one of lambda, kappa, both (given lamda)',
    );
  });

  it('fails if a numeric context option is not a number', () => {
    expect(() => buildApp(app({ views: FIXTURE, shardCount: 'four' }))).toThrow(
      'context shardCount must be a number (given "four")',
    );
  });

  it('fails if the views module does not exist, saying which option names it', () => {
    expect(() => loadViewsModule('no/such/views.ts')).toThrow(/does not exist; pass -c views=/);
  });

  it('loads CommonJS views modules too', () => {
    expect(loadViewsModule('test/fixtures/views.cjs').map((v) => v.name)).toEqual(['clicks']);
  });
});
