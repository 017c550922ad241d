import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it, vi } from 'vitest';
import { DynamoDbBatchViewStore } from '../../lambdas/adapters/aws/dynamodb-batch-view-store';
import { DynamoDbControlStore } from '../../lambdas/adapters/aws/dynamodb-control-store';
import { DynamoDbSpeedRowStore } from '../../lambdas/adapters/aws/dynamodb-speed-row-store';
import { validateViews } from '../../lambdas/core/view';

const [view] = validateViews([
  { name: 'v', eventType: 't', key: ['k'], granularity: '1m', measures: { n: { kind: 'count' } } },
]);

/**
 * DynamoDB reads are eventually consistent unless asked otherwise, and dynalite (the local
 * emulator) is always consistent, so no integration test can see a stale read: this records the
 * requests instead. Every read a served answer is made of follows the strongly consistent read of
 * the pointer; one of them eventually consistent could pair the new cutoff with the previous
 * segment's cells (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.ReadConsistency.html).
 */
function recordingClient(): {
  doc: DynamoDBDocumentClient;
  reads: { name: string; input: Record<string, unknown> }[];
} {
  const doc = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
  const reads: { name: string; input: Record<string, unknown> }[] = [];
  // The paginators check the client's class, so the real client is kept and only send() is replaced.
  const send = (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
    reads.push({ name: command.constructor.name, input: command.input });
    return Promise.resolve({ Items: [] });
  };
  // eslint-disable-next-line @typescript-eslint/no-misused-promises -- send's overloads include the callback form (void); this stands in for the promise form
  vi.spyOn(doc, 'send').mockImplementation(send as unknown as DynamoDBDocumentClient['send']);
  return { doc, reads };
}

describe('the reads a served answer is made of are strongly consistent', () => {
  it('reads batch cells (segments and legacy versions), speed rows and the pointer with ConsistentRead', async () => {
    const { doc, reads } = recordingClient();
    const batch = new DynamoDbBatchViewStore(doc, 'batch');
    await batch.query(3, view, ['x'], 0, 3_600_000, { base: 1, skip: [] });
    await batch.query(3, view, ['x'], 0, 3_600_000);
    const speed = new DynamoDbSpeedRowStore(doc, 'speed');
    await speed.query(view, ['x'], 0, 3_600_000, 60_000);
    await new DynamoDbControlStore(doc, 'control').readPointer();
    expect(reads.map((r) => r.name)).toEqual([
      'QueryCommand',
      'QueryCommand',
      'QueryCommand',
      'GetItemCommand',
    ]);
    for (const read of reads)
      expect(read.input.ConsistentRead, `${read.name} of ${String(read.input.TableName)}`).toBe(true);
  });
});
