import { describe, expect, it } from 'vitest';
import { parseCli } from '../../local/cli';

describe('streamfold start flags', () => {
  it('reads the documented flags', () => {
    const options = parseCli([
      'start',
      '--views',
      'test/fixtures/views.cjs',
      '--port',
      '0',
      '--in-memory',
      '--no-generator',
      '--batch-every',
      '30s',
      '--archive-flush',
      '1s',
      '--shards',
      '3',
    ]);
    expect(options).toMatchObject({
      views: [expect.objectContaining({ name: 'clicks' })],
      port: 0,
      dataDir: null,
      generator: false,
      batchEveryMs: 30_000,
      archiveFlushMs: 1000,
      firstBatchAfterMs: 6000,
      shards: 3,
    });
  });

  it('takes the architecture and the Kappa flags', () => {
    const options = parseCli([
      '--views',
      'test/fixtures/views.cjs',
      '--architecture',
      'both',
      '--no-auto-replay',
      '--replay-handoff',
      '500ms',
    ]);
    expect(options).toMatchObject({
      architecture: 'both',
      kappaAutoReplay: false,
      replayHandoffDelayMs: 500,
    });
    expect(parseCli(['--views', 'test/fixtures/views.cjs'])).toMatchObject({
      architecture: 'lambda',
      kappaAutoReplay: true,
      compactionPeriodMs: 86_400_000,
    });
  });

  it('reads the compaction period, and --no-compaction turns it off', () => {
    const views = ['--views', 'test/fixtures/views.cjs'];
    expect(parseCli([...views, '--compaction-period', '1h'])).toMatchObject({
      compactionPeriodMs: 3_600_000,
    });
    expect(parseCli([...views, '--no-compaction'])).toMatchObject({ compactionPeriodMs: 0 });
  });

  it("reads DuckDB's memory limit and threads for batch runs, left to the engine's defaults when absent", () => {
    const views = ['--views', 'test/fixtures/views.cjs'];
    expect(parseCli([...views, '--duckdb-memory', '2GB', '--duckdb-threads', '2'])).toMatchObject({
      duckdbMemoryLimit: '2GB',
      duckdbThreads: 2,
    });
    const defaults = parseCli(views);
    expect(defaults).not.toHaveProperty('duckdbMemoryLimit');
    expect(defaults).not.toHaveProperty('duckdbThreads');
  });

  it('reads where the emulators run, the main thread unless asked, and fails on an unknown placement', () => {
    const views = ['--views', 'test/fixtures/views.cjs'];
    expect(parseCli(views)).toMatchObject({ emulatorThreads: 'none' });
    expect(parseCli([...views, '--emulator-threads', 'each'])).toMatchObject({ emulatorThreads: 'each' });
    expect(() => parseCli([...views, '--emulator-threads', 'all'])).toThrow(
      /--emulator-threads must be none, each, shared \(given "all"\)/,
    );
  });

  it('reads where SIGUSR2 writes heap snapshots, not handled unless given', () => {
    const views = ['--views', 'test/fixtures/views.cjs'];
    expect(parseCli(views)).not.toHaveProperty('heapSnapshotDir');
    expect(parseCli([...views, '--heap-snapshots', '/tmp/heaps'])).toMatchObject({
      heapSnapshotDir: '/tmp/heaps',
    });
  });

  it('reads --enhanced-fan-out, off by default', () => {
    const views = ['--views', 'test/fixtures/views.cjs'];
    expect(parseCli([...views, '--enhanced-fan-out'])).toMatchObject({ enhancedFanOut: true });
    expect(parseCli(views)).toMatchObject({ enhancedFanOut: false });
  });

  it('reads the speed aggregation window, off by default', () => {
    const views = ['--views', 'test/fixtures/views.cjs'];
    expect(parseCli([...views, '--aggregation-window', '60s'])).toMatchObject({
      speedAggregationWindowMs: 60_000,
    });
    expect(parseCli(views)).toMatchObject({ speedAggregationWindowMs: 0 });
  });

  it.each([
    [
      ['--views', 'test/fixtures/views.cjs', '--aggregation-window', '16m'],
      /--aggregation-window must be whole seconds from 0s to 15m, as Lambda's tumbling windows \(given 16m\)/,
    ],
    [
      ['--views', 'test/fixtures/views.cjs', '--aggregation-window', '1500ms'],
      /--aggregation-window must be whole seconds/,
    ],
    [
      ['--batch-every', 'soon'],
      /--batch-every must be a duration like 500ms, 10s, 5m, 1h or 1d \(given "soon"\)/,
    ],
    [['--views', 'test/fixtures/views.cjs', '--port=-1'], /--port must be an integer >= 0/],
    [['--architecture', 'lambada'], /--architecture must be lambda, kappa or both \(given "lambada"\)/],
    [
      ['--views', 'test/fixtures/views.cjs', '--replay-handoff', 'now'],
      /--replay-handoff must be a duration/,
    ],
    [
      ['--views', 'test/fixtures/views.cjs', '--replay-handoff', '0s'],
      /--replay-handoff must be at least 100ms: a replay's handoff must be written before it passes \(given 0s\)/,
    ],
    [
      ['--views', 'test/fixtures/views.cjs', '--arrival-bucket', '7s'],
      /--arrival-bucket must be at least 1s and divide a minute evenly/,
    ],
    [
      ['--views', 'test/fixtures/views.cjs', '--compaction-period', '500ms'],
      /--compaction-period must be at least 1s \(given 500ms\); --no-compaction turns compaction off/,
    ],
    [
      ['--views', 'test/fixtures/views.cjs', '--duckdb-memory', 'lots'],
      /--duckdb-memory must be a size such as 256MB or 2GB \(given "lots"\)/,
    ],
    [
      ['--views', 'test/fixtures/views.cjs', '--duckdb-threads', '0'],
      /--duckdb-threads must be an integer >= 1/,
    ],
    [['--views', 'nope.ts'], /views file .*nope.ts does not exist/],
    [['stop'], /unknown command "stop"/],
  ])('refuses %j with a message that says what to do', (args, message) => {
    expect(() => parseCli(args as string[])).toThrow(message);
  });
});
