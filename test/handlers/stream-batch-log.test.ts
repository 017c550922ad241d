import { describe, expect, it, vi } from 'vitest';
import { logStreamBatch } from '../../lambdas/runtime/stream-batch-log';

describe('logStreamBatch', () => {
  it('logs every poison record and every store failure with its cause, and the earlier copies as a metric', () => {
    const lines: string[] = [];
    const metrics = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    logStreamBatch(
      {
        failedFrom: '7',
        poison: [{ sequenceNumber: '3', error: 'record s/3 is not JSON' }],
        errors: [
          { sequenceNumber: '7', stage: 'write', error: 'clicks row: AccessDeniedException: not authorized' },
        ],
        applied: 1,
        rowsWritten: 1,
        duplicates: 2,
        earlierCopies: 2,
      },
      (line) => lines.push(line),
    );
    expect(lines.map((l) => JSON.parse(l) as Record<string, unknown>)).toEqual([
      { level: 'ERROR', message: 'poison record', sequenceNumber: '3', error: 'record s/3 is not JSON' },
      {
        level: 'ERROR',
        message: 'write failed; the event source retries from this record',
        sequenceNumber: '7',
        stage: 'write',
        error: 'clicks row: AccessDeniedException: not authorized',
      },
    ]);
    const emf = JSON.parse(metrics.mock.calls[0][0] as string) as Record<string, unknown>;
    expect(emf.KeptCopyConflicts).toBe(2);
    metrics.mockRestore();
  });
});
