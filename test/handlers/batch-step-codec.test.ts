import { describe, expect, it } from 'vitest';
import { isBatchStep, parseBatchStep } from '../../lambdas/adapters/codecs/batch-step';

const plan = { version: 3, cutoffMs: 120_000, expectedVersion: 2, fullViews: ['a'], startedMs: 1 };

describe('the batch state machine step codec', () => {
  it('tells a step from a scheduled event or an API request', () => {
    expect(isBatchStep({ action: 'plan' })).toBe(true);
    expect(isBatchStep({ 'detail-type': 'Scheduled Event', detail: {} })).toBe(false);
    expect(isBatchStep({ httpMethod: 'POST' })).toBe(false);
  });

  it('reads each action the state machine sends', () => {
    expect(parseBatchStep({ action: 'plan', request: { full: true } } as never)).toEqual({
      action: 'plan',
      request: { full: true },
    });
    expect(parseBatchStep({ action: 'write', plan, key: 'batch-runs/v3/a/x.gz' } as never)).toEqual({
      action: 'write',
      plan,
      key: 'batch-runs/v3/a/x.gz',
    });
    expect(parseBatchStep({ action: 'publish', plan, written: [] } as never)).toMatchObject({
      action: 'publish',
    });
    expect(parseBatchStep({ action: 'abandon', plan, queries: ['q1'] } as never)).toMatchObject({
      queries: ['q1'],
    });
  });

  it('reads a compact step: absent compaction starts one, a returned one advances', () => {
    expect(parseBatchStep({ action: 'compact', request: {} } as never)).toEqual({
      action: 'compact',
      request: {},
      compaction: null,
    });
    const step = {
      phase: 'unload',
      cutoffMs: 1,
      attempt: 1,
      generation: 2,
      folder: 'f',
      rows: 3,
      queries: ['q'],
    };
    expect(parseBatchStep({ action: 'compact', compaction: step } as never)).toMatchObject({
      compaction: step,
    });
    expect(() =>
      parseBatchStep({ action: 'compact', compaction: { phase: 'unload', queries: [] } } as never),
    ).toThrow(/batch step compact: compaction must be null or what the previous compact step returned/);
    expect(() =>
      parseBatchStep({ action: 'compact', compaction: { phase: 'later', queries: [] } } as never),
    ).toThrow(/batch step compact: compaction must be null/);
  });

  it('fails naming the field when the definition sends something else', () => {
    expect(() => parseBatchStep({ action: 'write', plan: { version: 'x' }, key: 'k' } as never)).toThrow(
      /batch step write: plan must be \{version, cutoffMs, expectedVersion, fullViews, startedMs\}/,
    );
    expect(() => parseBatchStep({ action: 'unloaded', queries: [1] } as never)).toThrow(
      'batch step unloaded: queries must be an array of strings (given [1])',
    );
    expect(() => parseBatchStep({ action: 'rewind' })).toThrow(
      /unknown action; one of compact, plan, unloaded, write, publish, abandon/,
    );
  });
});
