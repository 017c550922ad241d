import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runFaultSuite, type FaultSuiteOptions } from './faults/fault-suite';

/**
 * Exactly once under every fault the architecture claims to survive (fault-suite.ts).
 * `npm test` runs a smoke version (600 events, at least one SIGKILL mid-replay and one emulator
 * restart); `STREAMFOLD_FAULTS=short` a short one (2,000 events); `npm run test:faults` the full
 * one (100,000 events), which also writes its figures to bench/results/faults.json.
 */
const mode = process.env.STREAMFOLD_FAULTS ?? 'smoke';
const full = mode === 'full';
const seed = Number(process.env.STREAMFOLD_FAULTS_SEED ?? 12);
/** A mode's shape over another number of events (a full run too long for the machine's load, scaled down). */
const eventsOverride = process.env.STREAMFOLD_FAULTS_EVENTS
  ? Number(process.env.STREAMFOLD_FAULTS_EVENTS)
  : undefined;

/**
 * The kinds the full run goes on injecting until each reached 1,000, the producer sending new
 * events meanwhile (issue 12 names each): crashes before and after the DynamoDB write, timeouts,
 * redelivered batches, DynamoDB throttling, lost answers and the lost conditions they cause, the
 * archiver failing mid-object (cut uploads), and restarts of the emulators behind the proxy. They
 * take about 10 minutes of chaos here, the restarts about 20: a restart took 81 ms on average in
 * the run of 2026-12-02 (629 in 51 s), so the 2-second pause between them, not the restart, set
 * their pace; one a second reaches 1,000 within the chaos the other kinds need.
 *
 * The kinds that cost a whole batch run or a restart each get phases of their own after the chaos
 * (a batch run under the chaos took 10 to 13 s here, a restart of the runtime 4 to 6 s, during
 * which nothing else runs): the batch phase drives `batchRunsFailed` and `batchWriteFail` (a
 * refused write of a run's rows) to 1,000, the SIGKILL phase `runtimeSigkills`. The kills that
 * fall mid-publish and mid-replay are counted as they happen (bench/RESULTS.md and README's Tests
 * section give the counts reached).
 */
const FULL_RUN_KINDS = [
  'crashBeforeWrite',
  'crashAfterWrite',
  'timeout',
  'redelivery',
  'dynamoThrottle',
  'dynamoResponseLost',
  'lostConditions',
  's3PutCut',
  'emulatorRestarts',
] as const;

const common = {
  seed,
  ...(process.env.STREAMFOLD_FAULTS_RUNTIME_LOG
    ? { runtimeLog: process.env.STREAMFOLD_FAULTS_RUNTIME_LOG }
    : {}),
  duplicateShare: 0.05,
  log: (line: string) => console.log(line),
  kappa: true,
};
const shaped: FaultSuiteOptions = full
  ? {
      ...common,
      events: 100_000,
      eventsPerRequest: 250,
      // The invocation faults need thousands of invocations, not records: batches of 32 (an
      // invocation took 1.0 s at 16 records and 1.5 s at 64 on this machine at load 17 to 19),
      // 20% of invocations per kind (60% fail; a failed batch is bisected and retried, about 14
      // invocations per batch of 32). Once the faults stop, the runtime restarts with batches
      // of 500 to drain what is left.
      speedBatchSize: 32,
      settleSpeedBatchSize: 500,
      // A record bisected down to itself fails 31 times in a row once in 7.6 million.
      speedRetryAttempts: 30,
      invokeRates: { crashBeforeWrite: 0.2, crashAfterWrite: 0.2, timeout: 0.2, redelivery: 0.2 },
      wireRates: {
        dynamoThrottle: 0.02,
        dynamoResponseLost: 0.04,
        s3PutCut: 0.5,
        batchWriteFail: 0.03,
      },
      // Batch runs back to back (the schedule never starts a second beside one in progress): a
      // thousand of them must fail midway.
      batchEveryMs: 500,
      // A restart of the runtime takes 10 to 55 s on this shared 2-core machine (eight handler
      // workers load the SDK) and nothing runs meanwhile: killing more often starves every
      // other kind.
      killEveryMs: 150_000,
      publishWaitMs: 8_000,
      emulatorRestartEveryMs: 1_000,
      minChaosMs: 0,
      minFaults: { kinds: FULL_RUN_KINDS, each: 1000 },
      maxChaosMs: 24 * 60_000,
      // Then the batch kinds, in a phase of their own (FaultSuiteOptions.batchFaults): half the
      // row writes refused, so a run fails at its first chunks, and one run in 11 let through.
      // A run over the 110,000-event archive took 3 to 8 s here (2026-12-04, load 4 to 6), so
      // 1,000 failed runs take one to two hours.
      // Then 1,000 runs killed mid-publish: the batch function killed while the run's row write or
      // pointer flip is held on the wire.
      batchFaults: {
        each: 1000,
        batchWriteFail: 0.5,
        failuresPerPublish: 10,
        maxMs: 150 * 60_000,
        killMidPublishEach: 1000,
        killMaxMs: 150 * 60_000,
        // npm start's flush: at the chaos's 500 ms each run slowed as the arrival hour filled.
        archiveFlushMs: 5_000,
      },
      // Then the SIGKILLs, in a phase of their own (FaultSuiteOptions.killFaults): each at a random
      // moment within 2 s of the runtime serving again.
      killFaults: { each: 1000, upMs: 2_000, maxMs: 150 * 60_000 },
      settleTimeoutMs: 900_000,
    }
  : mode === 'smoke'
    ? {
        ...common,
        events: 600,
        eventsPerRequest: 50,
        speedBatchSize: 20,
        invokeRates: { crashBeforeWrite: 0.08, crashAfterWrite: 0.08, timeout: 0.08, redelivery: 0.08 },
        wireRates: { dynamoThrottle: 0.02, dynamoResponseLost: 0.02, s3PutCut: 0.3, batchWriteFail: 0.05 },
        killEveryMs: 5_000,
        publishWaitMs: 4_000,
        emulatorRestartEveryMs: 4_000,
        minChaosMs: 6_000,
        settleTimeoutMs: 180_000,
      }
    : {
        ...common,
        events: 2_000,
        eventsPerRequest: 100,
        speedBatchSize: 32,
        speedRetryAttempts: 30,
        invokeRates: { crashBeforeWrite: 0.15, crashAfterWrite: 0.15, timeout: 0.15, redelivery: 0.15 },
        wireRates: { dynamoThrottle: 0.02, dynamoResponseLost: 0.02, s3PutCut: 0.4, batchWriteFail: 0.05 },
        killEveryMs: 8_000,
        publishWaitMs: 6_000,
        emulatorRestartEveryMs: 3_000,
        minChaosMs: 10_000,
        settleTimeoutMs: 180_000,
      };
/** A full run's shape with another minimum per kind (a trial of the settings, scaled down). */
const minEachOverride = process.env.STREAMFOLD_FAULTS_MIN_EACH
  ? Number(process.env.STREAMFOLD_FAULTS_MIN_EACH)
  : undefined;
/** A batch phase's minimum in any mode (the full run's is 1,000): a trial of the phase, scaled down. */
const batchEachOverride = process.env.STREAMFOLD_FAULTS_BATCH_EACH
  ? Number(process.env.STREAMFOLD_FAULTS_BATCH_EACH)
  : undefined;
/** The batch phase's runs killed mid-publish (the full run's 1,000), with STREAMFOLD_FAULTS_BATCH_EACH. */
const batchKillEachOverride = process.env.STREAMFOLD_FAULTS_BATCH_KILL_EACH
  ? Number(process.env.STREAMFOLD_FAULTS_BATCH_KILL_EACH)
  : undefined;
/** A SIGKILL phase's minimum in any mode (the full run's is 1,000): a trial of the phase, scaled down. */
const killEachOverride = process.env.STREAMFOLD_FAULTS_KILL_EACH
  ? Number(process.env.STREAMFOLD_FAULTS_KILL_EACH)
  : undefined;
const options: FaultSuiteOptions = {
  ...shaped,
  ...(killEachOverride !== undefined
    ? { killFaults: { upMs: 2_000, maxMs: 150 * 60_000, ...shaped.killFaults, each: killEachOverride } }
    : {}),
  ...(batchEachOverride !== undefined
    ? {
        // Runs back to back, as in the full run: each kill or failure waited up to 2 s for the next.
        batchEveryMs: shaped.batchEveryMs ?? 500,
        batchFaults: {
          batchWriteFail: 0.5,
          failuresPerPublish: 10,
          maxMs: 150 * 60_000,
          ...shaped.batchFaults,
          each: batchEachOverride,
          ...(batchKillEachOverride !== undefined
            ? { killMidPublishEach: batchKillEachOverride, killMaxMs: 150 * 60_000, archiveFlushMs: 5_000 }
            : {}),
        },
      }
    : {}),
  ...(eventsOverride ? { events: eventsOverride } : {}),
  ...(minEachOverride !== undefined && shaped.minFaults
    ? { minFaults: { ...shaped.minFaults, each: minEachOverride } }
    : {}),
};

describe.skipIf(Boolean(process.env.AWS_ENDPOINT_URL) || !['smoke', 'short', 'full'].includes(mode))(
  'faults (embedded emulators, seeded)',
  () => {
    it(
      `serves every accepted event exactly once, in both architectures, through crashes, timeouts, redeliveries, throttling, lost answers, cut uploads, emulator restarts and SIGKILLs (mid-replay too) (${options.events} events)`,
      async () => {
        const report = await runFaultSuite(options);
        console.log(JSON.stringify(report, null, 2));
        // The full run's figures go to bench/results/faults.json; any run's to STREAMFOLD_FAULTS_REPORT.
        const reportFile = process.env.STREAMFOLD_FAULTS_REPORT
          ? path.resolve(process.env.STREAMFOLD_FAULTS_REPORT)
          : full
            ? path.resolve(__dirname, '..', '..', 'bench', 'results', 'faults.json')
            : undefined;
        if (reportFile) {
          mkdirSync(path.dirname(reportFile), { recursive: true });
          writeFileSync(
            reportFile,
            JSON.stringify({ date: new Date().toISOString(), mode, ...report }, null, 2) + '\n',
          );
        }
        // Every distinct event produced, those sent while a kind was below its minimum included.
        expect(report.events).toBeGreaterThanOrEqual(options.events);
        expect(report.expected).toBe(report.events);
        expect({
          lost: report.lost,
          duplicated: report.duplicated,
          revenue: report.revenueMismatches,
        }).toEqual({
          lost: 0,
          duplicated: 0,
          revenue: 0,
        });
        expect(report.deadLettered).toBe(0);
        // Kappa on the same stream, with every other SIGKILL landing mid-replay.
        expect(report.kappa).not.toBeNull();
        expect({
          lost: report.kappa!.lost,
          duplicated: report.kappa!.duplicated,
          revenue: report.kappa!.revenueMismatches,
        }).toEqual({ lost: 0, duplicated: 0, revenue: 0 });
        expect(report.kappa!.replaysKilledMidway).toBeGreaterThan(0);
        // The last replay, killed midway and resumed, finished (it once ended `failed` on a cut upload).
        expect(report.kappa!.finalReplay).toMatch(/^replay-\d+: finished$/);
        expect(report.batchPublished).toBe(true);
        // The runtime was SIGKILLed and the emulators restarted at least once; the per-request faults
        // are random (the full run's counts are in bench/RESULTS.md), some of them happened.
        expect(report.faults.runtimeSigkills).toBeGreaterThan(0);
        expect(report.faults.emulatorRestarts).toBeGreaterThan(0);
        expect(
          report.faults.batchKilledWritingRows + report.faults.batchKilledFlippingPointer,
        ).toBeGreaterThan(0);
        const {
          runtimeSigkills: _kills,
          emulatorRestarts: _restarts,
          batchKilledWritingRows: _rows,
          batchKilledFlippingPointer: _pointer,
          ...random
        } = report.faults;
        expect(Object.values(random).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
        // Each kind the run went on for reached its minimum (1,000 in the full run).
        if (options.minFaults)
          for (const kind of FULL_RUN_KINDS)
            expect(report.faults[kind], kind).toBeGreaterThanOrEqual(options.minFaults.each);
        // And the batch kinds reached theirs in the batch phase, which also published some runs.
        if (options.batchFaults) {
          expect(report.faults.batchWriteFail).toBeGreaterThanOrEqual(options.batchFaults.each);
          expect(report.faults.batchRunsFailed).toBeGreaterThanOrEqual(options.batchFaults.each);
          expect(report.batchPhase!.succeeded).toBeGreaterThan(0);
          expect(report.batchPhase!.killedMidPublish).toBeGreaterThanOrEqual(
            options.batchFaults.killMidPublishEach ?? 0,
          );
        }
        // And the SIGKILLs of the whole runtime theirs, in the SIGKILL phase.
        if (options.killFaults)
          expect(report.faults.runtimeSigkills).toBeGreaterThanOrEqual(options.killFaults.each);
      },
      // Generous: a shared 2-core machine may run it at a fifth of its speed; the full run's chaos
      // (up to 24 minutes), batch phase (up to 150), SIGKILL phase (up to 150) and settling.
      full
        ? 6 * 3_600_000
        : killEachOverride !== undefined || batchEachOverride !== undefined
          ? 3 * 3_600_000
          : 900_000,
    );
  },
);
