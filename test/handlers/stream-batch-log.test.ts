import type { Context } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';
import { logger } from '../../lambdas/runtime/logger';
import { logStreamBatch } from '../../lambdas/runtime/stream-batch-log';

/** What a Lambda invocation's context carries that the logger reads. */
const context = {
  awsRequestId: 'req-1',
  functionName: 'speed',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:speed',
  memoryLimitInMB: '1024',
} as Context;

/** The JSON lines written to stdout and stderr while `run` runs. */
function captureLines(run: () => void): Record<string, unknown>[] {
  const lines: string[] = [];
  const capture = (chunk: unknown) => {
    lines.push(...String(chunk).split('\n').filter(Boolean));
    return true;
  };
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(capture);
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(capture);
  try {
    run();
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
  return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('logStreamBatch', () => {
  it('logs every poison record and every store failure with its cause, the request id and cold start, and the earlier copies as a metric', () => {
    // GIVEN an invocation of a function with its context
    logger.addContext(context);
    // WHEN a batch with a poison record, a store failure and earlier copies is logged
    const lines = captureLines(() =>
      logStreamBatch({
        failedFrom: '7',
        poison: [{ sequenceNumber: '3', error: 'record s/3 is not JSON' }],
        errors: [
          { sequenceNumber: '7', stage: 'write', error: 'clicks row: AccessDeniedException: not authorized' },
        ],
        applied: 1,
        rowsWritten: 1,
        duplicates: 2,
        earlierCopies: 2,
      }),
    );
    // THEN each problem is one ERROR line with its cause and the invocation's request id
    const errors = lines.filter((l) => l.level === 'ERROR');
    expect(errors).toEqual([
      expect.objectContaining({
        message: 'poison record',
        sequenceNumber: '3',
        error: 'record s/3 is not JSON',
        service: 'streamfold',
        function_request_id: 'req-1',
        // true on a cold start in Lambda (Powertools reads AWS_LAMBDA_INITIALIZATION_TYPE, unset here)
        cold_start: expect.any(Boolean),
      }),
      expect.objectContaining({
        message: 'write failed; the event source retries from this record',
        sequenceNumber: '7',
        stage: 'write',
        error: 'clicks row: AccessDeniedException: not authorized',
        function_request_id: 'req-1',
      }),
    ]);
    // AND the earlier copies are an embedded metric in the namespace and dimension the alarms use
    const emf = lines.find((l) => '_aws' in l) as {
      _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][] }[] };
      KeptCopyConflicts: number;
      service: string;
    };
    expect(emf.KeptCopyConflicts).toBe(2);
    expect(emf._aws.CloudWatchMetrics[0]).toMatchObject({
      Namespace: 'Streamfold',
      Dimensions: [['service']],
    });
    expect(emf.service).toBe('streamfold');
  });
});
