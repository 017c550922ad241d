import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { withFastConfig } from '../../lambdas/runtime/clients/fast-config';

const run = promisify(execFile);

describe('withFastConfig (lambdas/runtime/clients/fast-config.ts)', () => {
  it("leaves every client factory's configuration with fast properties; the SDK's own is a dictionary", async () => {
    const script = path.join(__dirname, '..', 'fixtures', 'client-config-layout.ts');
    const { stdout } = await run(process.execPath, ['--allow-natives-syntax', '--import', 'tsx', script], {
      env: { ...process.env, NODE_NO_WARNINGS: '1' },
    });
    const fast = JSON.parse(stdout.trim().split('\n').pop() ?? '') as Record<string, boolean>;
    expect(fast).toEqual({
      sdkDefault: false,
      dynamodb: true,
      dynamodbItems: true,
      document: true,
      kinesis: true,
      s3: true,
      s3Cloud: true,
      sqs: true,
      sfn: true,
      athena: true,
      cloudwatch: true,
    });
  });

  it('keeps the configuration: the same object, properties, order and values', () => {
    const client = new DynamoDBClient({ region: 'eu-west-1', endpoint: 'http://127.0.0.1:9' });
    const config = client.config as unknown as Record<string, unknown>;
    const before = Object.entries(config);
    expect(withFastConfig(client)).toBe(client);
    expect(client.config).toBe(config);
    const after = Object.entries(config);
    expect(after.map(([k]) => k)).toEqual(before.map(([k]) => k));
    after.forEach(([, value], i) => expect(value).toBe(before[i][1]));
    expect(Object.getPrototypeOf(config)).toBe(Object.prototype);
  });
});
