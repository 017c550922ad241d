import { describe, expect, it } from 'vitest';
import { dedupeMaxHeldIds } from '../../lambdas/runtime/config';

describe("the speed function's dedupe budget, from the memory Lambda gives it", () => {
  it('fits two shards at Kinesis write limit (1,000 records/s for the 15-minute window) at the stack’s 1,024 MB', () => {
    expect(dedupeMaxHeldIds({ AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '1024' })).toBeGreaterThanOrEqual(2 * 900_000);
    // Absent (the local runtime): the stack's setting.
    expect(dedupeMaxHeldIds({})).toBe(dedupeMaxHeldIds({ AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '1024' }));
  });

  it('grows with the memory and refuses a malformed value', () => {
    const at1024 = dedupeMaxHeldIds({ AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '1024' });
    expect(dedupeMaxHeldIds({ AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '4096' })).toBeGreaterThanOrEqual(4 * at1024);
    expect(() => dedupeMaxHeldIds({ AWS_LAMBDA_FUNCTION_MEMORY_SIZE: 'lots' })).toThrow(
      /AWS_LAMBDA_FUNCTION_MEMORY_SIZE/,
    );
  });
});
