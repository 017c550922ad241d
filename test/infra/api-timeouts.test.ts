import type { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { synthKappa } from './kappa-fixture';
import { synth } from './stack-fixture';

/**
 * Every function behind the API times out before API Gateway stops waiting for it (29 s for a
 * REST API's Lambda proxy integration: https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html),
 * so its own answer or error reaches the client. With a longer timeout (the query function had
 * 30 s) API Gateway answers 504 on its own and the function's later answer is lost.
 */
function apiFunctions(
  template: Template,
): { fn: string; functionTimeoutS: number; integrationTimeoutS: number }[] {
  const functions = template.findResources('AWS::Lambda::Function');
  const out: { fn: string; functionTimeoutS: number; integrationTimeoutS: number }[] = [];
  for (const method of Object.values(template.findResources('AWS::ApiGateway::Method'))) {
    const integration = (method.Properties as { Integration?: { Uri?: unknown; TimeoutInMillis?: number } })
      .Integration;
    const fn = /"Fn::GetAtt":\["(\w+)","Arn"\]/.exec(JSON.stringify(integration?.Uri ?? ''))?.[1];
    if (fn === undefined) continue;
    out.push({
      fn,
      // CloudFormation's defaults when unset: Lambda 3 s, API Gateway 29,000 ms.
      functionTimeoutS: (functions[fn].Properties as { Timeout?: number }).Timeout ?? 3,
      integrationTimeoutS: (integration?.TimeoutInMillis ?? 29_000) / 1000,
    });
  }
  return out;
}

describe.each([
  ['Lambda architecture', () => synth({ dashboard: true }).template()],
  ['Kappa architecture', () => synthKappa({ dashboard: true }).template()],
])('%s: every API-fronted function answers within the integration timeout', (_, template) => {
  // GIVEN the stack with every optional route (the dashboard too)
  const fronted = apiFunctions(template());

  it('finds the functions behind the API', () => {
    const names = [...new Set(fronted.map((f) => f.fn))];
    // ingest, query, dashboard, and the batch starter or the Kappa admin function
    expect(names.length).toBe(4);
    expect(names.some((n) => n.startsWith('QueryFunction'))).toBe(true);
  });

  it('gives each a timeout under its integration timeout of at most 29 s', () => {
    for (const f of fronted) {
      expect(f.integrationTimeoutS, f.fn).toBeLessThanOrEqual(29);
      expect(f.functionTimeoutS, f.fn).toBeLessThan(f.integrationTimeoutS);
    }
  });
});
