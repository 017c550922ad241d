import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';

/** A conditional write lost (by class, or by name when two SDK copies are loaded, as in tests). */
export function isConditionalCheckFailed(error: unknown): boolean {
  return (
    error instanceof ConditionalCheckFailedException ||
    (error as Error | undefined)?.name === 'ConditionalCheckFailedException'
  );
}
