import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import * as path from 'node:path';
import { build, type PluginBuild } from 'esbuild';
import { startEmulators, type Emulators } from '../../../local/emulators';
import { freePort } from '../cli-process';
import { expectedBuckets, type OracleEvent } from '../oracle';
import { FaultProxy, type PublishStep, type WireFaultCounts, type WireFaultRates } from './fault-proxy';
import type { FaultRuntimeOptions } from './fault-runtime';
import type { InvokeFaultCounts, InvokeFaultRates } from './faulty-invoke';
import { Random } from './seeded-random';

export interface FaultSuiteOptions {
  readonly seed: number;
  /** Distinct events produced (each accepted once at least). */
  readonly events: number;
  /** Share of events the producer sends a second time, in a later request (same id and body). */
  readonly duplicateShare: number;
  readonly eventsPerRequest: number;
  readonly speedBatchSize: number;
  /**
   * Once the faults stop, the runtime is restarted (SIGTERM) with batches of this size to drain
   * the backlog the small batches of the chaos left (their per-invocation cost is what makes
   * invocation faults frequent, and what makes a backlog slow to drain).
   * @default - the runtime keeps running with `speedBatchSize`
   */
  readonly settleSpeedBatchSize?: number;
  /** Retries of a failed speed batch before it is dead-lettered (FaultRuntimeOptions). @default 10 */
  readonly speedRetryAttempts?: number;
  readonly invokeRates: InvokeFaultRates;
  readonly wireRates: WireFaultRates;
  /**
   * How long the runtime runs between SIGKILLs (from the moment it serves again). Each kill is
   * aimed at a batch run's publish: the proxy holds its next row write or pointer flip (by turns)
   * and the runtime is killed with it on the wire; at most `publishWaitMs` is waited for one.
   */
  readonly killEveryMs: number;
  /** @default 8000 */
  readonly publishWaitMs?: number;
  /** Pause between restarts of the emulators behind the proxy. */
  readonly emulatorRestartEveryMs: number;
  /** Faults go on at least this long, even once every event is acknowledged. */
  readonly minChaosMs: number;
  /**
   * Faults also go on, once every event is acknowledged, until each of these kinds was injected
   * this often: meanwhile the producer sends new events (same shape, same duplicate share, ids
   * after the first `events`) whenever the speed layer has caught up, so invocations, and the
   * faults around them, never run out. Every such event is in the oracle too. Without a minimum
   * the faults stop once `events` are acknowledged and `minChaosMs` has passed.
   * @default no minimum
   */
  readonly minFaults?: { readonly kinds: readonly string[]; readonly each: number };
  /**
   * The chaos ends after this long even when a kind is still below `minFaults` (the report then
   * shows the counts reached, and the full run's test fails on them).
   * @default no limit
   */
  readonly maxChaosMs?: number;
  /**
   * After the chaos, a phase for the batch kinds, which a run under the invocation faults makes
   * too slow to reach a minimum (10 to 13 s a run on this machine): the invocation faults off (the
   * speed layer keeps up, so the machine is free for the runs), the other wire faults and the
   * emulator restarts (every 20 s more than in the chaos) going on, the trickle of new events (each run has rows to write), and the
   * proxy refusing `batchWriteFail` of the runs' row writes, until `batchWriteFail` and
   * `batchRunsFailed` each reached `each` or `maxMs` passed. After `failuresPerPublish` failed runs
   * in a row the refusals pause until a run has ended without error, so published versions and
   * failed runs alternate (a run over the full archive writes dozens of chunks, and at 10% per
   * chunk none of 41 published: the 2026-12-04 full run). The served values are compared every
   * second meanwhile, as during the chaos: a failed run must leave the previous version served.
   * @default no such phase
   */
  readonly batchFaults?: {
    readonly each: number;
    readonly batchWriteFail: number;
    readonly failuresPerPublish: number;
    readonly maxMs: number;
    /**
     * Then, with the refusals off, this many batch runs killed mid-publish: the proxy holds a run's
     * next row write or pointer flip (alternately) on the wire, the batch function's execution
     * environment is killed meanwhile (HandlerHost.kill: Lambda ending it at a timeout or out of
     * memory), and the held request then lands or never arrives; every tenth run is let through to
     * publish. Killing the whole runtime instead costs a restart per kill, and its kills seldom
     * fall mid-publish (1 of 1,000 in the SIGKILL run of 2026-12-04).
     * @default 0
     */
    readonly killMidPublishEach?: number;
    /**
     * The kills' own time limit, counted from their start (the refused writes' phase has `maxMs`).
     * @default maxMs
     */
    readonly killMaxMs?: number;
    /**
     * The archiver's flush interval from the phase on (the runtime is restarted with it when the
     * phase starts). Every run lists the current arrival hour of the archive and stats every file
     * its engine has copied, so at the chaos's 500 ms (7,200 objects an hour from the trickle alone)
     * a run slowed as the hour filled: in the `short` run of 2026-12-04, 60 failed runs a minute at
     * the phase's start and 17 after 40 minutes, then 4 to 8 kills a minute. `npm start` flushes
     * every 5 s.
     * @default the chaos's
     */
    readonly archiveFlushMs?: number;
  };
  /**
   * After the chaos (and the batch phase), a phase for the SIGKILLs of the whole runtime, which cost
   * a restart each: the runtime is SIGKILLed at a random moment within `upMs` of serving again,
   * restarted, and killed again, until `each` SIGKILLs in all (the chaos's included) or `maxMs`
   * passed. The invocation faults are off (a restarted runtime starts without them); the wire
   * faults, the emulator restarts (as in the batch phase), the batch schedule and the trickle of
   * new events go on, so a kill lands in whatever runs: an invocation, an archive upload, a batch
   * run, a request on the wire. With Kappa, a replay is started whenever none runs, so kills land
   * mid-replay too. The served values are compared every second meanwhile.
   * @default no such phase
   */
  readonly killFaults?: { readonly each: number; readonly upMs: number; readonly maxMs: number };
  /** How often the batch schedule of the runtime under test fires. @default 2000 */
  readonly batchEveryMs?: number;
  /**
   * Also run the Kappa architecture, and make every other SIGKILL land while a replay runs (one is
   * started first when none is). Undefined: the Lambda architecture alone.
   */
  readonly kappa?: boolean;
  /** How long the runtime may take to serve everything once the faults stop. */
  readonly settleTimeoutMs: number;
  readonly log?: (line: string) => void;
  /**
   * A file the runtime's own output is appended to (its handlers' logs, errors), but for its
   * periodic count lines: to see where a run's time went.
   * @default - only the last 5,000 characters of its stderr are kept, for a failed start
   */
  readonly runtimeLog?: string;
}

export interface FaultReport {
  readonly seed: number;
  /** Distinct events produced and acknowledged: the `events` asked for, and those sent while a kind was below its minimum. */
  readonly events: number;
  /** Of `events`, those sent after the first `events` asked for (FaultSuiteOptions.minFaults). */
  readonly extraEvents: number;
  readonly sends: number;
  readonly duplicateSends: number;
  readonly producerRetries: number;
  readonly faults: InvokeFaultCounts &
    WireFaultCounts & {
      runtimeSigkills: number;
      emulatorRestarts: number;
      /** Batch runs that failed (the runtime's own count, summed over its processes). */
      batchRunsFailed: number;
      /** SIGKILLs that fell while a batch run's row write was held on the wire. */
      batchKilledWritingRows: number;
      /** SIGKILLs that fell while a batch run's pointer flip was held on the wire (then landed or dropped). */
      batchKilledFlippingPointer: number;
      /** The batch function alone killed while its run's row write was held on the wire (FaultSuiteOptions.batchFaults.killMidPublishEach). */
      batchFunctionKilledWritingRows: number;
      /** The batch function alone killed while its run's pointer flip was held on the wire (then landed or dropped). */
      batchFunctionKilledFlippingPointer: number;
    };
  /** The kinds the run went on injecting until each reached `each` (FaultSuiteOptions.minFaults), if any. */
  readonly minimum: { readonly kinds: readonly string[]; readonly each: number } | null;
  /**
   * The SIGKILL phase (FaultSuiteOptions.killFaults), if any: its minimum, how long it took, the
   * SIGKILLs in it, and their mean restart (SIGKILL sent -> serving again).
   */
  readonly killPhase: {
    readonly each: number;
    readonly seconds: number;
    readonly sigkills: number;
    readonly meanRestartSeconds: number;
  } | null;
  /**
   * The batch phase (FaultSuiteOptions.batchFaults), if any: its minimum, how long it took, and
   * the batch runs that ended during it, without error or failed.
   */
  readonly batchPhase: {
    readonly each: number;
    readonly seconds: number;
    readonly succeeded: number;
    /** Runs failed by the refused row writes (the kills' runs not included). */
    readonly failed: number;
    /** Batch runs killed mid-publish after the refusals, their minimum, and the seconds it took. */
    readonly killMidPublishEach: number;
    readonly killedMidPublish: number;
    readonly killSeconds: number;
    /** Runs published between the kills. */
    readonly publishedBetweenKills: number;
  } | null;
  /** Speed-handler invocations by the event source (faulted ones included), over every process. */
  readonly speedInvocations: number;
  /** Where the wall time went, in seconds (restarts are summed; `maxRuntimeRestart` is the slowest). */
  readonly profile: {
    readonly produce: number;
    readonly chaos: number;
    readonly runtimeRestarts: number;
    readonly maxRuntimeRestart: number;
    readonly emulatorRestarts: number;
    readonly waitingForPublish: number;
    /** The batch phase (FaultSuiteOptions.batchFaults), 0 without one. */
    readonly batchPhase: number;
    /** The SIGKILL phase (FaultSuiteOptions.killFaults), 0 without one. */
    readonly killPhase: number;
    readonly settle: number;
    readonly finalBatch: number;
    readonly kappaSettle: number;
    /** Mean wall time of one speed invocation (faulted ones included), in milliseconds. */
    readonly speedInvocationMeanMs: number;
  };
  /** The machine's 1-minute load average at the start, at the end, and its highest sample. */
  readonly loadAverage: { readonly start: number; readonly end: number; readonly max: number };
  readonly served: number;
  readonly expected: number;
  readonly lost: number;
  readonly duplicated: number;
  /**
   * The most any compare saw above the independent count while the faults went on (logged as
   * `DOUBLE COUNT`), part of `duplicated`: kept apart to tell a transient over-count (a batch run
   * covered it later) from one still served when the faults stopped.
   */
  readonly duplicatedWhileFaulting: number;
  readonly bucketsCompared: number;
  readonly revenueMismatches: number;
  readonly deadLettered: number;
  readonly batchPublished: boolean;
  /**
   * Each POST /admin/batch after the faults stopped (until one published): its answer, how long
   * the request took (it waits for a scheduled run in progress first), the run's own duration,
   * the cells it wrote, the speed rows it deleted and the cells its reconciliation compared.
   */
  readonly finalBatchRuns: readonly FinalBatchRun[];
  /** The Kappa side, when run: replays started and killed midway, and its served values' errors. */
  readonly kappa: {
    readonly replaysStarted: number;
    readonly replaysKilledMidway: number;
    readonly served: number;
    readonly lost: number;
    readonly duplicated: number;
    /** As FaultReport.duplicatedWhileFaulting, for the Kappa answer. */
    readonly duplicatedWhileFaulting: number;
    readonly revenueMismatches: number;
    readonly finalReplay: string;
  } | null;
  readonly seconds: number;
}

/** A served bucket above the independent count (logged by the suite when seen). */
interface DoubleCount {
  readonly view: string;
  readonly keyField: string;
  readonly key: string;
  readonly start: string;
  readonly want: number;
  readonly have: number;
}

/** One POST /admin/batch of the final phase (FaultReport.finalBatchRuns). */
export interface FinalBatchRun {
  readonly status: string;
  readonly seconds: number;
  readonly runSeconds?: number;
  readonly cells?: number;
  readonly speedRowsDeleted?: number;
  readonly cellsReconciled?: number;
  readonly reason?: string;
}

/** The pause between emulator restarts in the batch phase, beyond the chaos's own (FaultSuiteOptions.batchFaults). */
const BATCH_PHASE_RESTART_PAUSE_MS = 20_000;

/** New events a second while a kind is below its minimum (FaultSuiteOptions.minFaults). */
const TRICKLE = 10;
/**
 * The hour after BASE the trickle of the batch and SIGKILL phases is stamped in first (the chaos's
 * events take the two after BASE; an incremental run reads an hour around what it recomputes,
 * COPY_TIME_HORIZON_MS, so a gap of two hours keeps the chaos's events out of its reads), and how
 * often the trickle moves on to the next hour: a run recomputes the new events' buckets over
 * every event of their hour, and one hour of trickle for the whole phase made each run slower
 * than the last (6 failed runs a minute after 40 minutes, 2026-12-04).
 */
const TRICKLE_HOUR = 4;
const TRICKLE_HOUR_MS = 120_000;

const PAGES = ['/', '/pricing', '/docs', '/blog/kappa', '/blog/lambda', '/cart', '/checkout'];
const DEVICES = Array.from({ length: 12 }, (_, i) => `device-${String(i).padStart(3, '0')}`);
const BASE = Date.UTC(2026, 0, 1, 10);
const DAY_MS = 86_400_000;
/** Days per query: 8,640 one-minute buckets, under the 10,000 a GET /views answers. */
const QUERY_DAYS = 6;

/**
 * The `from`/`to` query strings covering every event's whole UTC day, a few days a query. The
 * trickle of the batch and SIGKILL phases moves to the next hour every 2 minutes, so after 28
 * minutes its events fall after BASE's day: with one fixed day queried, a two-hour batch phase
 * compared 13,720 of its 67,820 events, and reported the other 54,100 lost although both
 * architectures served every one (checked against the archive, 2026-12-04).
 */
export function rangesOf(events: readonly { readonly time: string }[]): string[] {
  let first = Infinity;
  let last = -Infinity;
  for (const e of events) {
    const t = Date.parse(e.time);
    if (t < first) first = t;
    if (t > last) last = t;
  }
  if (!Number.isFinite(first)) return [];
  const ranges: string[] = [];
  const end = Math.floor(last / DAY_MS) * DAY_MS + DAY_MS;
  for (let from = Math.floor(first / DAY_MS) * DAY_MS; from < end; from += QUERY_DAYS * DAY_MS)
    ranges.push(
      `from=${new Date(from).toISOString()}&to=${new Date(Math.min(end, from + QUERY_DAYS * DAY_MS)).toISOString()}`,
    );
  return ranges;
}

/**
 * The producer's events, derived from the seed alone, with ids from `f-<first>`, stamped within
 * the two hours from BASE, or within the hour `hour` after BASE when given.
 */
function makeEvents(random: Random, n: number, first = 0, hour?: number): OracleEvent[] {
  return Array.from({ length: n }, (_, k) => {
    const i = first + k;
    const time = new Date(
      hour === undefined ? BASE + random.int(2 * 3_600_000) : BASE + hour * 3_600_000 + random.int(3_600_000),
    ).toISOString();
    if (random.next() < 0.7) {
      const page = PAGES[random.int(PAGES.length)];
      return {
        id: `f-${i}`,
        type: 'page.view',
        time,
        page,
        userId: `user-${random.int(300)}`,
        latencyMs: 20 + random.int(480),
        ...(page === '/checkout' ? { amount: random.int(20_000) / 100 } : {}),
      };
    }
    return {
      id: `f-${i}`,
      type: 'sensor.reading',
      time,
      deviceId: DEVICES[random.int(DEVICES.length)],
      temperature: (1500 + random.int(1500)) / 100,
    };
  });
}

/**
 * Everything the architecture claims to survive, at once, on the embedded stack, seeded: the
 * producer sends every event (5% twice) through POST /events, retrying a request until it is
 * acknowledged, while the runtime is SIGKILLed and restarted, the emulators are restarted behind
 * a proxy that throttles DynamoDB, loses its answers after they applied and cuts archive uploads
 * in half, and the speed handler's invocations crash before or after writing, time out and are
 * redelivered. Then the faults stop, and every served bucket is compared with an independent
 * count over the distinct events. Fault timing depends on the machine (requests interleave), so
 * a seed fixes the events and the fault rates, not the exact order of the faults.
 */
export async function runFaultSuite(o: FaultSuiteOptions): Promise<FaultReport> {
  const started = Date.now();
  const log = o.log ?? (() => undefined);
  const root = mkdtempSync(path.join(tmpdir(), 'streamfold-faults-'));
  const emulatorDir = path.join(root, 'emulators');
  const runtimeDir = path.join(root, 'runtime');
  const childTmp = path.join(root, 'tmp');
  mkdirSync(childTmp, { recursive: true });
  const random = new Random(o.seed);
  const events = makeEvents(random, o.events);
  const handlerBundles = path.join(root, 'handlers');
  await bundleHandlers(handlerBundles);
  const runtimeBundle = path.join(root, 'runtime-bundle');
  await bundleRuntime(runtimeBundle);
  let emulators: Emulators = await startEmulators({ dataDir: emulatorDir });
  const proxy = new FaultProxy(emulators.endpoints, o.wireRates, new Random(o.seed + 1));
  proxy.enabled = false; // the first start creates the resources without faults
  const endpoint = await proxy.listen();
  const port = await freePort();
  const totals = {
    invoke: { crashBeforeWrite: 0, crashAfterWrite: 0, timeout: 0, redelivery: 0 } as InvokeFaultCounts,
    runtimeSigkills: 0,
    emulatorRestarts: 0,
    batchRunsFailed: 0,
    batchKilledWritingRows: 0,
    batchKilledFlippingPointer: 0,
    batchFunctionKilledWritingRows: 0,
    batchFunctionKilledFlippingPointer: 0,
    speedInvocations: 0,
    speedInvokeMs: 0,
  };
  const seconds = {
    produce: 0,
    runtimeRestarts: 0,
    maxRuntimeRestart: 0,
    emulatorRestarts: 0,
    waitingForPublish: 0,
    batchPhase: 0,
    killPhase: 0,
  };
  const load = { start: loadavg()[0], max: loadavg()[0] };
  let child: ChildProcess | undefined;
  let childCounts: InvokeFaultCounts = { ...totals.invoke };
  let childInvocations = 0;
  let childInvokeMs = 0;
  let childBatchFailures = 0;
  let childBatchRuns = 0;
  /** The batch function's kills the running process has confirmed (`{"killed": "batch"}`). */
  let batchFunctionKills = 0;
  /** The running process's last report: a replay's steps run in it. */
  let childReplaying = false;
  /**
   * Whether the running process found a replay left running by the one killed before it (its
   * control item still `running`) and resumed it: that kill fell mid-replay.
   */
  let childResumedReplay = false;
  /** The speed layer's lag at its last invocation, and how long no invocation has run (fault-runtime.ts). */
  let speedLagMs = 0;
  let speedIdleMs = 0;
  let faultsOn = true;
  /** The invocation faults of the next runtime started (off in the SIGKILL phase). */
  let invokeFaultsOn = true;
  let generation = 0;

  /** The archiver's flush interval of the runtimes started from now on (FaultRuntimeOptions.archiveFlushMs). */
  let archiveFlushMs: number | undefined;
  const startRuntime = async (): Promise<void> => {
    const options: FaultRuntimeOptions = {
      endpoint,
      dataDir: runtimeDir,
      port,
      seed: o.seed + 2 + generation++,
      rates: o.invokeRates,
      speedBatchSize: faultsOn ? o.speedBatchSize : (o.settleSpeedBatchSize ?? o.speedBatchSize),
      speedRetryAttempts: o.speedRetryAttempts ?? 10,
      batchEveryMs: o.batchEveryMs ?? 2_000,
      ...(archiveFlushMs !== undefined ? { archiveFlushMs } : {}),
      handlerBundles,
      viewsFile: path.join(runtimeBundle, 'views.js'),
      faults: faultsOn && invokeFaultsOn,
      architecture: o.kappa ? 'both' : 'lambda',
    };
    const repo = path.resolve(__dirname, '..', '..', '..');
    const proc = spawn(
      process.execPath,
      [path.join(runtimeBundle, 'fault-runtime.js'), JSON.stringify(options)],
      {
        cwd: repo,
        // The bundle leaves the packages out; they resolve from the repository's node_modules.
        env: { ...process.env, TMPDIR: childTmp, NODE_PATH: path.join(repo, 'node_modules') },
        stdio: 'pipe',
      },
    );
    child = proc;
    childCounts = { crashBeforeWrite: 0, crashAfterWrite: 0, timeout: 0, redelivery: 0 };
    childInvocations = 0;
    childInvokeMs = 0;
    childBatchFailures = 0;
    childBatchRuns = 0;
    childReplaying = false;
    childResumedReplay = false;
    let output = '';
    let running = false;
    const keep = (d: Buffer) => {
      if (o.runtimeLog === undefined) return;
      const lines = d
        .toString()
        .split('\n')
        .filter((line) => line.trim() !== '' && !line.startsWith('{"counts"'));
      if (lines.length > 0)
        appendFileSync(o.runtimeLog, lines.map((l) => `${new Date().toISOString()} ${l}\n`).join(''));
    };
    proc.stderr!.on('data', keep);
    proc.stdout!.on('data', (d: Buffer) => {
      keep(d);
      for (const line of d.toString().split('\n')) {
        if (!line.startsWith('{')) continue;
        try {
          const message = JSON.parse(line) as {
            running?: string;
            counts?: InvokeFaultCounts;
            invocations?: number;
            invokeMs?: number;
            lagMs?: number;
            idleMs?: number;
            batch?: { runs: number; failures: number };
            replaying?: boolean;
            resumedReplay?: boolean;
            killed?: string;
          };
          if (message.running) {
            running = true;
            childResumedReplay = message.resumedReplay === true;
          }
          if (message.replaying !== undefined) childReplaying = message.replaying;
          if (message.killed === 'batch') batchFunctionKills++;
          if (message.counts) childCounts = message.counts;
          if (message.invocations !== undefined) childInvocations = message.invocations;
          if (message.invokeMs !== undefined) childInvokeMs = message.invokeMs;
          if (message.lagMs !== undefined) speedLagMs = message.lagMs;
          if (message.idleMs !== undefined) speedIdleMs = message.idleMs;
          if (message.batch) {
            childBatchFailures = message.batch.failures;
            childBatchRuns = message.batch.runs;
          }
        } catch {
          // a line cut between two chunks: the next report repeats the counts
        }
      }
    });
    proc.stderr!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-5000)));
    // Eight handler workers each load the SDK through tsx: on a shared 2-core machine at load 15
    // one start took 50 s.
    const deadline = Date.now() + 300_000;
    while (!running) {
      if (proc.exitCode !== null || Date.now() > deadline)
        throw new Error(`the runtime did not start:\n${output}`);
      await sleep(50);
    }
  };
  const retire = () => {
    for (const k of Object.keys(childCounts) as (keyof InvokeFaultCounts)[])
      totals.invoke[k] += childCounts[k];
    totals.speedInvocations += childInvocations;
    totals.speedInvokeMs += childInvokeMs;
    totals.batchRunsFailed += childBatchFailures;
  };
  const kill = async (signal: NodeJS.Signals): Promise<void> => {
    const proc = child;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill(signal);
    // A graceful stop that has not ended within a minute is ended.
    const stuck = setTimeout(() => proc.kill('SIGKILL'), 60_000);
    await exited;
    clearTimeout(stuck);
    retire();
  };
  const api = (p: string, init?: RequestInit) => fetch(`http://127.0.0.1:${port}${p}`, init);
  const adminStatus = () =>
    api('/admin/status')
      .then(
        (r) =>
          r.json() as Promise<{
            batch?: { failures?: number };
            kappa?: { replay?: { status?: string; replayId?: string; error?: string } | null } | null;
          }>,
      )
      .catch(() => undefined);
  let replaysStarted = 0;
  let replaysKilledMidway = 0;

  try {
    await startRuntime();
    proxy.enabled = true;

    // The producer: requests in order, each retried until acknowledged; 5% of events again later.
    const requests: OracleEvent[][] = [];
    for (let i = 0; i < events.length; i += o.eventsPerRequest)
      requests.push(events.slice(i, i + o.eventsPerRequest));
    let duplicateSends = 0;
    const again: OracleEvent[] = events.filter(() => random.next() < o.duplicateShare);
    for (let i = 0; i < again.length; i += o.eventsPerRequest) {
      const at = Math.min(requests.length, 1 + random.int(requests.length));
      requests.splice(at, 0, again.slice(i, i + o.eventsPerRequest));
      duplicateSends += Math.min(o.eventsPerRequest, again.length - i);
    }
    let producerRetries = 0;
    let sends = 0;
    let next = 0;
    /** Sends one request until it is acknowledged. */
    const send = async (batch: readonly OracleEvent[]) => {
      const body = JSON.stringify({ events: batch });
      for (;;) {
        const { status, text } = await api('/events', { method: 'POST', body }).then(
          async (r) => ({ status: r.status, text: await r.text() }),
          (error: Error) => ({ status: 0, text: error.message }),
        );
        if (status === 202) break;
        // Refused input is the suite's own mistake: retrying it would only hide that.
        if (status >= 400 && status < 500) throw new Error(`POST /events refused the events: ${text}`);
        if (producerRetries++ % 200 === 0) log(`POST /events answered ${status}: ${text.slice(0, 300)}`);
        await sleep(100);
      }
      sends += batch.length;
    };
    const produce = async () => {
      while (next < requests.length) await send(requests[next++]);
    };
    const producing = Promise.all([produce(), produce()]);
    let produced = false;
    void producing.then(() => {
      produced = true;
      seconds.produce = (Date.now() - started) / 1000;
    });
    /**
     * While a kind is below its minimum (minFaults): a trickle of new events (TRICKLE a second,
     * so the archiver keeps writing objects and the batch runs keep finding new arrivals), and a
     * whole request more whenever the speed layer has caught up (no invocation for a second), so
     * its invocations, and the faults around them, never run out; each event is sent again in
     * the next request with the duplicate share. Every event is added to the oracle before it is
     * sent, and every request is sent until acknowledged, so the final count covers exactly what
     * was accepted.
     */
    const extraRandom = new Random(o.seed + 3);
    let extraEvents = 0;
    let stopExtra = false;
    /**
     * In the batch phase only the trickle: a whole request whenever the speed layer is idle (most
     * of the time without the invocation faults) made each run recompute hundreds of buckets, about
     * 6 s a run at load 6 to 9 (2026-12-04).
     */
    let trickleOnly = false;
    let trickleSince = 0;
    const trickleHour = () => {
      if (trickleSince === 0) trickleSince = Date.now();
      return TRICKLE_HOUR + Math.floor((Date.now() - trickleSince) / TRICKLE_HOUR_MS);
    };
    const produceMore = async () => {
      let again: OracleEvent[] = [];
      let lastSent = 0;
      while (!stopExtra) {
        // Idle: no invocation for a second, though the last request had time to be polled.
        const sinceSent = Date.now() - lastSent;
        const idle = !trickleOnly && speedIdleMs > 1000 && sinceSent > 2000;
        if (!idle && sinceSent < 1000) {
          await sleep(100);
          continue;
        }
        lastSent = Date.now();
        // In the batch and SIGKILL phases the trickle is stamped in hours of its own, so a run
        // recomputes a few minutes of trickle alone, as a scheduled incremental run over new data does (ADR 007):
        // stamped among the chaos's two hours, every run recomputed all 110,000 events, 3 to 8 s a
        // run at load 4 to 9 and 4 failed runs a minute at load 9 (2026-12-04), too slow for 1,000.
        const fresh = makeEvents(
          extraRandom,
          idle ? o.eventsPerRequest : TRICKLE,
          events.length,
          trickleOnly ? trickleHour() : undefined,
        );
        events.push(...fresh);
        extraEvents += fresh.length;
        const batch = [...fresh, ...again];
        duplicateSends += again.length;
        again = fresh.filter(() => extraRandom.next() < o.duplicateShare);
        await send(batch);
      }
      if (again.length > 0) {
        duplicateSends += again.length;
        await send(again);
      }
    };
    // The batch phase needs the trickle too (a run with nothing new to write cannot fail writing),
    // and the SIGKILL phase (a kill should find events on their way).
    const producingMore =
      o.minFaults || o.batchFaults || o.killFaults ? producing.then(produceMore) : Promise.resolve();

    const compare = async (prefix = '') => {
      let served = 0;
      let expected = 0;
      let lost = 0;
      let duplicated = 0;
      let buckets = 0;
      let revenueMismatches = 0;
      const over: DoubleCount[] = [];
      const specs = [
        ...PAGES.map((key) => ({
          view: 'page_views',
          keyField: 'page',
          key,
          type: 'page.view',
          measure: 'views',
        })),
        ...DEVICES.map((key) => ({
          view: 'sensor_readings',
          keyField: 'deviceId',
          key,
          type: 'sensor.reading',
          measure: 'readings',
        })),
      ];
      const ranges = rangesOf(events);
      for (const spec of specs) {
        const answer: { buckets: { start: string; measures: Record<string, number> }[] } = { buckets: [] };
        for (const range of ranges) {
          const res = await api(
            `${prefix}/views/${spec.view}?${spec.keyField}=${encodeURIComponent(spec.key)}&${range}`,
          );
          if (res.status !== 200)
            throw new Error(`GET ${prefix}/views/${spec.view} answered ${res.status}: ${await res.text()}`);
          answer.buckets.push(
            ...((await res.json()) as { buckets: { start: string; measures: Record<string, number> }[] })
              .buckets,
          );
        }
        const oracle = expectedBuckets(events, {
          type: spec.type,
          keyField: spec.keyField,
          key: spec.key,
          granularity: spec.view === 'page_views' ? '1m' : '5m',
          numberField: spec.view === 'page_views' ? 'amount' : 'temperature',
        });
        const got = new Map(answer.buckets.map((b) => [b.start, b.measures]));
        for (const start of new Set([...oracle.keys(), ...got.keys()])) {
          const want = oracle.get(start)?.count ?? 0;
          const have = got.get(start)?.[spec.measure] ?? 0;
          served += have;
          expected += want;
          lost += Math.max(0, want - have);
          duplicated += Math.max(0, have - want);
          if (have > want) over.push({ ...spec, start, want, have });
          buckets++;
          if (spec.view === 'page_views') {
            const cents = oracle.get(start)?.sumCents ?? 0;
            if (Math.round((got.get(start)?.revenue ?? 0) * 100) !== cents) revenueMismatches++;
          }
        }
      }
      if (over.length > 0) await explain(prefix, over);
      return { served, expected, lost, duplicated, buckets, revenueMismatches };
    };
    /**
     * A served value above the independent count is logged with what made it (the batch cell and
     * the speed rows of its bucket, the cutoff and the batch version), the moment it was seen: a
     * double count that heals by the next compare would otherwise leave only its number behind.
     */
    const explain = async (prefix: string, over: readonly DoubleCount[]) => {
      for (const cell of over.slice(0, 5)) {
        const at = Date.parse(cell.start);
        const day = new Date(Math.floor(at / DAY_MS) * DAY_MS).toISOString();
        const query = `${cell.keyField}=${encodeURIComponent(cell.key)}&from=${day}&to=${new Date(Date.parse(day) + DAY_MS).toISOString()}`;
        const parts =
          prefix === ''
            ? await api(`/views/${cell.view}/parts?${query}`)
                .then(async (r) => {
                  const answer = (await r.json()) as {
                    cutoff?: unknown;
                    batchVersion?: unknown;
                    buckets?: { start: string }[];
                  };
                  return JSON.stringify({
                    cutoff: answer.cutoff,
                    batchVersion: answer.batchVersion,
                    bucket: answer.buckets?.find((b) => b.start === cell.start),
                  });
                })
                .catch((error: Error) => `parts unreadable: ${error.message}`)
            : '';
        log(
          `DOUBLE COUNT ${prefix || '/'} ${cell.view} ${cell.key} ${cell.start}: served ${cell.have}, expected ${cell.want} at ${new Date().toISOString()}; now ${parts}`,
        );
      }
    };
    // Chaos until every event is acknowledged and minChaosMs has passed (and minFaults, if set).
    const chaosStarted = Date.now();
    /**
     * While the faults go on, both architectures' answers are compared over and over: a value
     * trails while the runtime is down or lags, but one above the independent count (over every
     * event the producer will ever send) is a double count whenever it shows. A GET that fails
     * under the faults is skipped.
     */
    let chaosOver = false;
    let duplicatedInChaos = 0;
    let kappaDuplicatedInChaos = 0;
    const probing = (async () => {
      while (!chaosOver) {
        await sleep(1000);
        const lambda = await compare().catch(() => undefined);
        duplicatedInChaos = Math.max(duplicatedInChaos, lambda?.duplicated ?? 0);
        if (!o.kappa) continue;
        const kappa = await compare('/kappa').catch(() => undefined);
        kappaDuplicatedInChaos = Math.max(kappaDuplicatedInChaos, kappa?.duplicated ?? 0);
      }
    })();
    let nextKill = Date.now() + o.killEveryMs;
    let nextEmulatorRestart = Date.now() + o.emulatorRestartEveryMs;
    let nextLog = Date.now() + 5000;
    /** Every kind injected so far (the report's `faults`), the running process's counts included. */
    const faultCounts = (): Record<string, number> => {
      const counts: Record<string, number> = { ...proxy.counts };
      for (const k of Object.keys(totals.invoke) as (keyof InvokeFaultCounts)[])
        counts[k] = totals.invoke[k] + childCounts[k];
      counts.runtimeSigkills = totals.runtimeSigkills;
      counts.emulatorRestarts = totals.emulatorRestarts;
      counts.batchRunsFailed = totals.batchRunsFailed + childBatchFailures;
      counts.batchKilledWritingRows = totals.batchKilledWritingRows;
      counts.batchKilledFlippingPointer = totals.batchKilledFlippingPointer;
      counts.batchFunctionKilledWritingRows = totals.batchFunctionKilledWritingRows;
      counts.batchFunctionKilledFlippingPointer = totals.batchFunctionKilledFlippingPointer;
      return counts;
    };
    const fewFaults = () => {
      if (!o.minFaults) return false;
      const counts = faultCounts();
      return o.minFaults.kinds.some((kind) => (counts[kind] ?? 0) < o.minFaults!.each);
    };
    const chaosGoesOn = () => {
      if (!produced || Date.now() - chaosStarted < o.minChaosMs) return true;
      if (o.maxChaosMs !== undefined && Date.now() - chaosStarted >= o.maxChaosMs) {
        if (fewFaults()) log(`the chaos ends after ${o.maxChaosMs} ms with kinds below their minimum`);
        return false;
      }
      // Whatever the machine's speed: a SIGKILL that fell mid-publish and, with Kappa, one that
      // fell mid-replay (the first kill is aimed at the replay, the next ones at a publish).
      if (totals.batchKilledWritingRows + totals.batchKilledFlippingPointer === 0) return true;
      if (o.kappa && replaysKilledMidway === 0) return true;
      return fewFaults();
    };
    /**
     * One SIGKILL aimed at as many kinds as it can hit at once: a Kappa replay is started (when
     * none runs) so the kill lands mid-replay, and the proxy holds the next write of a batch run's
     * publish so it lands mid-publish. Restarts dominate the run's wall time (8 handler workers
     * load the SDK), so each kill is made to count several ways rather than killing more often.
     */
    const restartEmulators = async (): Promise<void> => {
      const restartStarted = Date.now();
      await proxy.restartUpstream(async () => {
        await emulators.stop();
        emulators = await startEmulators({ dataDir: emulatorDir });
        return emulators.endpoints;
      });
      totals.emulatorRestarts++;
      seconds.emulatorRestarts += (Date.now() - restartStarted) / 1000;
      nextEmulatorRestart = Date.now() + o.emulatorRestartEveryMs;
      if (totals.emulatorRestarts % 10 === 0) log(`restarted the emulators (${totals.emulatorRestarts})`);
    };
    /** Where the kills' time went, in ms summed over `n` kills (logged with every 10th in the SIGKILL phase). */
    const killCycle = { n: 0, all: 0, replayStart: 0, wait: 0, kill: 0, restart: 0 };
    /**
     * @param publishWaitMs how long to wait for the publish step before killing anyway.
     * @param quiet log only every 10th kill (the SIGKILL phase's thousand).
     */
    const killMidPublish = async (publishWaitMs = o.publishWaitMs ?? 8000, quiet = false): Promise<void> => {
      const cycleStarted = Date.now();
      if (o.kappa && !childReplaying) {
        const res = await api('/admin/replay', { method: 'POST', body: '{}' }).catch(() => undefined);
        if (res?.status === 202) replaysStarted++;
      }
      killCycle.replayStart += Date.now() - cycleStarted;
      const step: PublishStep = totals.runtimeSigkills % 2 === 0 ? 'rows' : 'pointer';
      let land: (landed: boolean) => void = () => undefined;
      const release = new Promise<boolean>((resolve) => (land = resolve));
      // Until one kill has landed mid-replay, the kill does not wait for a publish: over a small
      // archive on a fast machine the replay finished within the wait, and a whole smoke run went
      // by without a kill mid-replay (CI, 2026-12-02).
      const atReplay = o.kappa === true && replaysKilledMidway === 0;
      const waitStarted = Date.now();
      const sprung =
        !atReplay &&
        (await Promise.race([
          proxy.whenPublishing(step, release).then(() => true),
          sleep(publishWaitMs).then(() => false),
        ]));
      if (!sprung) proxy.disarm();
      seconds.waitingForPublish += (Date.now() - waitStarted) / 1000;
      killCycle.wait += Date.now() - waitStarted;
      const killStarted = Date.now();
      await kill('SIGKILL');
      killCycle.kill += Date.now() - killStarted;
      totals.runtimeSigkills++;
      // The held request then lands (the write happened, its answer is lost with the process) or
      // never arrives: both are what a killed function leaves behind.
      land(random.next() < 0.5);
      if (sprung && step === 'rows') totals.batchKilledWritingRows++;
      if (sprung && step === 'pointer') totals.batchKilledFlippingPointer++;
      const restartStarted = Date.now();
      await startRuntime();
      // Counted by what the new process found, not guessed before the kill: the replay's control
      // item still said `running`, so the kill fell between its start and its flip.
      if (childResumedReplay) replaysKilledMidway++;
      const took = (Date.now() - restartStarted) / 1000;
      seconds.runtimeRestarts += took;
      seconds.maxRuntimeRestart = Math.max(seconds.maxRuntimeRestart, took);
      killCycle.restart += Date.now() - restartStarted;
      killCycle.all += Date.now() - cycleStarted;
      killCycle.n++;
      if (!quiet || totals.runtimeSigkills % 10 === 0) {
        const mean = (ms: number) => (ms / killCycle.n / 1000).toFixed(1);
        log(
          `SIGKILLed${sprung ? ` mid-publish (${step})` : ''} and restarted the runtime in ${took.toFixed(1)} s (${totals.runtimeSigkills}); ${sends} events acknowledged, ${replaysKilledMidway} replays killed midway; a kill's mean ${mean(killCycle.all)} s (replay start ${mean(killCycle.replayStart)}, wait ${mean(killCycle.wait)}, kill ${mean(killCycle.kill)}, restart ${mean(killCycle.restart)}); load ${loadavg()[0].toFixed(1)}`,
        );
      }
    };
    /**
     * The batch phase's kills (FaultSuiteOptions.batchFaults.killMidPublishEach): a run's publish
     * step held on the wire, the batch function killed meanwhile, the request then landed or
     * dropped; every tenth run let through to publish. Returns how many runs published meanwhile.
     */
    const killBatchRunsMidPublish = async (each: number, until: number): Promise<{ published: number }> => {
      proxy.setBatchWriteFail(0);
      const killed = () => totals.batchFunctionKilledWritingRows + totals.batchFunctionKilledFlippingPointer;
      let published = 0;
      let attempts = 0;
      log(`batch phase: killing ${each} runs mid-publish`);
      while (killed() < each && Date.now() < until) {
        attempts++;
        if (attempts % 10 === 0) {
          // One run through to publish: the served values must move on between the kills.
          const runs = childBatchRuns;
          const deadline = Date.now() + 60_000;
          while (childBatchRuns === runs && Date.now() < deadline) await sleep(100);
          if (childBatchRuns > runs) published++;
          continue;
        }
        const step: PublishStep = killed() % 2 === 0 ? 'rows' : 'pointer';
        let land: (landed: boolean) => void = () => undefined;
        const release = new Promise<boolean>((resolve) => (land = resolve));
        const sprung = await Promise.race([
          proxy.whenPublishing(step, release).then(() => true),
          sleep(o.publishWaitMs ?? 8000).then(() => false),
        ]);
        if (!sprung) {
          proxy.disarm();
        } else {
          const confirmed = batchFunctionKills;
          child!.stdin!.write('kill batch\n');
          const deadline = Date.now() + 30_000;
          while (batchFunctionKills === confirmed && Date.now() < deadline) await sleep(20);
          if (batchFunctionKills === confirmed)
            throw new Error("the runtime did not confirm the batch function's kill within 30 s");
          // The held request lands (the write happened, its answer is lost with the function) or never arrives.
          land(random.next() < 0.5);
          if (step === 'rows') totals.batchFunctionKilledWritingRows++;
          else totals.batchFunctionKilledFlippingPointer++;
        }
        load.max = Math.max(load.max, loadavg()[0]);
        if (Date.now() >= nextLog) {
          log(
            `batch phase: ${killed()} runs killed mid-publish (${totals.batchFunctionKilledWritingRows} writing rows, ${totals.batchFunctionKilledFlippingPointer} flipping the pointer), ${published} published between; load ${loadavg()[0].toFixed(1)}`,
          );
          nextLog = Date.now() + 5000;
        }
        if (Date.now() >= nextEmulatorRestart + BATCH_PHASE_RESTART_PAUSE_MS) await restartEmulators();
      }
      if (killed() < each) log(`the batch phase's kills end with ${killed()} of ${each}`);
      return { published };
    };
    while (chaosGoesOn()) {
      await sleep(200);
      load.max = Math.max(load.max, loadavg()[0]);
      if (Date.now() >= nextLog) {
        log(
          `${sends} of ${events.length + duplicateSends} sends acknowledged, ${producerRetries} retried; ${totals.speedInvocations + childInvocations} speed invocations (${Math.round((totals.speedInvokeMs + childInvokeMs) / Math.max(1, totals.speedInvocations + childInvocations))} ms each); speed lag ${(speedLagMs / 1000).toFixed(1)} s; faults ${JSON.stringify(faultCounts())}; load ${loadavg()[0].toFixed(1)}`,
        );
        nextLog = Date.now() + 5000;
      }
      if (Date.now() >= nextKill) {
        await killMidPublish();
        nextKill = Date.now() + o.killEveryMs;
      }
      if (Date.now() >= nextEmulatorRestart) await restartEmulators();
    }
    let batchPhase: FaultReport['batchPhase'] = null;
    if (o.batchFaults) {
      // The running process's counts (Scheduler: runs ended without error, and failures).
      const runsBefore = childBatchRuns;
      const failedBefore = faultCounts().batchRunsFailed;
      const { each, maxMs, failuresPerPublish } = o.batchFaults;
      const phaseStarted = Date.now();
      if (o.batchFaults.archiveFlushMs !== undefined) {
        // A restart, not a kill the report counts: the runtime is built to survive it.
        archiveFlushMs = o.batchFaults.archiveFlushMs;
        invokeFaultsOn = false;
        await kill('SIGKILL');
        await startRuntime();
        invokeFaultsOn = true;
      }
      child!.stdin!.write('faults off\n');
      trickleOnly = true;
      proxy.setBatchWriteFail(o.batchFaults.batchWriteFail);
      let refusing = true;
      let streakFrom = childBatchFailures;
      let runsSeen = childBatchRuns;
      const below = () => {
        const counts = faultCounts();
        return counts.batchWriteFail < each || counts.batchRunsFailed < each;
      };
      log(`batch phase: ${JSON.stringify({ each, faults: faultCounts() })}`);
      while (below() && Date.now() - phaseStarted < maxMs) {
        await sleep(200);
        if (childBatchRuns > runsSeen) {
          // A run ended without error: refuse again, and count the next streak from here.
          runsSeen = childBatchRuns;
          streakFrom = childBatchFailures;
          if (!refusing) proxy.setBatchWriteFail(o.batchFaults.batchWriteFail);
          refusing = true;
        } else if (refusing && childBatchFailures - streakFrom >= failuresPerPublish) {
          proxy.setBatchWriteFail(0);
          refusing = false;
        }
        if (Date.now() >= nextLog) {
          const counts = faultCounts();
          log(
            `batch phase: ${childBatchRuns - runsBefore} runs succeeded, ${counts.batchRunsFailed - failedBefore} failed; batchWriteFail ${counts.batchWriteFail}, batchRunsFailed ${counts.batchRunsFailed}; load ${loadavg()[0].toFixed(1)}`,
          );
          nextLog = Date.now() + 5000;
        }
        // Less often than in the chaos: a run takes seconds, and with a restart every second each
        // run met one and failed on it, so none published once the refusals paused (the full run
        // of 2026-12-04: 51 failed runs in a row at load 7 to 9).
        if (Date.now() >= nextEmulatorRestart + BATCH_PHASE_RESTART_PAUSE_MS) await restartEmulators();
      }
      if (below()) log(`the batch phase ends after ${maxMs} ms with its kinds below ${each}`);
      const failed = faultCounts().batchRunsFailed - failedBefore;
      const killEach = o.batchFaults.killMidPublishEach ?? 0;
      const killsStarted = Date.now();
      const kills =
        killEach > 0
          ? await killBatchRunsMidPublish(killEach, killsStarted + (o.batchFaults.killMaxMs ?? maxMs))
          : { published: 0 };
      proxy.setBatchWriteFail(o.wireRates.batchWriteFail ?? 0);
      seconds.batchPhase = (Date.now() - phaseStarted) / 1000;
      batchPhase = {
        each,
        seconds: Math.round(seconds.batchPhase),
        succeeded: childBatchRuns - runsBefore,
        failed,
        killMidPublishEach: killEach,
        killedMidPublish: totals.batchFunctionKilledWritingRows + totals.batchFunctionKilledFlippingPointer,
        killSeconds: Math.round((Date.now() - killsStarted) / 1000),
        publishedBetweenKills: kills.published,
      };
    }
    let killPhase: FaultReport['killPhase'] = null;
    if (o.killFaults) {
      const { each, upMs, maxMs } = o.killFaults;
      const phaseStarted = Date.now();
      const killsBefore = totals.runtimeSigkills;
      const restartSecondsBefore = seconds.runtimeRestarts;
      trickleOnly = true;
      invokeFaultsOn = false;
      child!.stdin!.write('faults off\n');
      log(`SIGKILL phase: ${JSON.stringify({ each, sigkills: totals.runtimeSigkills })}`);
      while (totals.runtimeSigkills < each && Date.now() - phaseStarted < maxMs) {
        // Killed when a batch run's publish step reaches the wire, or at a random moment within
        // upMs, whichever comes first; a replay is started first when none runs.
        await killMidPublish(random.int(upMs + 1), true);
        load.max = Math.max(load.max, loadavg()[0]);
        if (Date.now() >= nextEmulatorRestart + BATCH_PHASE_RESTART_PAUSE_MS) await restartEmulators();
      }
      if (totals.runtimeSigkills < each) log(`the SIGKILL phase ends after ${maxMs} ms below ${each}`);
      invokeFaultsOn = true;
      seconds.killPhase = (Date.now() - phaseStarted) / 1000;
      const sigkills = totals.runtimeSigkills - killsBefore;
      killPhase = {
        each,
        seconds: Math.round(seconds.killPhase),
        sigkills,
        meanRestartSeconds: round1((seconds.runtimeRestarts - restartSecondsBefore) / Math.max(1, sigkills)),
      };
    }
    stopExtra = true;
    await producing;
    await producingMore;
    chaosOver = true;
    await probing;
    const chaosSeconds = (Date.now() - chaosStarted) / 1000;

    // Faults off; then everything acknowledged must be served exactly once.
    faultsOn = false;
    proxy.enabled = false;
    child!.stdin!.write('faults off\n');
    if (o.settleSpeedBatchSize !== undefined) {
      // SIGKILL, which the runtime is built to survive: a SIGTERM's graceful stop waited on work
      // in flight for minutes here (not looked into further).
      await kill('SIGKILL');
      await startRuntime();
      log(`restarted the runtime without faults, speed batches of ${o.settleSpeedBatchSize}`);
    }
    /**
     * Kappa: the replay the last kill interrupted is resumed by the restarted runtime; once no
     * replay runs, the active version must serve every event once (the replay counted arrivals
     * before its handoff, the processor the rest, across every fault).
     */
    const settleKappa = async (): Promise<NonNullable<FaultReport['kappa']>> => {
      const deadline = Date.now() + o.settleTimeoutMs;
      let replay = (await adminStatus())?.kappa?.replay;
      while (replay?.status === 'running' && Date.now() < deadline) {
        await sleep(1000);
        replay = (await adminStatus())?.kappa?.replay;
      }
      let kappa = await compare('/kappa');
      let duplicated = Math.max(kappaDuplicatedInChaos, kappa.duplicated);
      while ((kappa.lost > 0 || kappa.duplicated > 0) && Date.now() < deadline) {
        await sleep(1000);
        kappa = await compare('/kappa');
        duplicated = Math.max(duplicated, kappa.duplicated);
        log(`kappa settling: served ${kappa.served} of ${kappa.expected}`);
      }
      return {
        replaysStarted,
        replaysKilledMidway,
        served: kappa.served,
        lost: kappa.lost,
        duplicated,
        duplicatedWhileFaulting: kappaDuplicatedInChaos,
        revenueMismatches: kappa.revenueMismatches,
        finalReplay: `${replay?.replayId ?? 'none'}: ${replay?.status ?? 'none'}${replay?.error ? ` (${replay.error.slice(0, 300)})` : ''}`,
      };
    };
    // Served values trail while the runtime catches up (that is lag, not loss), but a value
    // above the independent count is a double count at any moment.
    const settleStarted = Date.now();
    const settleDeadline = Date.now() + o.settleTimeoutMs;
    let result = await compare();
    let duplicatedMax = Math.max(duplicatedInChaos, result.duplicated);
    while ((result.lost > 0 || result.duplicated > 0) && Date.now() < settleDeadline) {
      await sleep(1000);
      result = await compare();
      duplicatedMax = Math.max(duplicatedMax, result.duplicated);
      log(`settling: served ${result.served} of ${result.expected}`);
    }
    log(`speed layer: served ${result.served} of ${result.expected}`);
    const settleSeconds = (Date.now() - settleStarted) / 1000;
    const batchStarted = Date.now();
    // A batch run over the archive written across every fault, then the merged answer again.
    let batchPublished = false;
    const finalBatchRuns: FinalBatchRun[] = [];
    for (let i = 0; i < 10 && !batchPublished; i++) {
      await sleep(1500);
      const asked = Date.now();
      const run = JSON.parse(await postWithoutTimeout(port, '/admin/batch')) as {
        status?: string;
        error?: string;
        reason?: string;
        durationMs?: number;
        speedRowsDeleted?: number;
        cells?: number;
        reconciliation?: { cellsCompared?: number } | null;
      };
      finalBatchRuns.push({
        status: run.status ?? `error: ${(run.error ?? '').slice(0, 300)}`,
        seconds: Math.round((Date.now() - asked) / 100) / 10,
        ...(run.durationMs !== undefined ? { runSeconds: Math.round(run.durationMs / 100) / 10 } : {}),
        ...(run.cells !== undefined ? { cells: run.cells } : {}),
        ...(run.speedRowsDeleted !== undefined ? { speedRowsDeleted: run.speedRowsDeleted } : {}),
        ...(run.reconciliation?.cellsCompared !== undefined
          ? { cellsReconciled: run.reconciliation.cellsCompared }
          : {}),
        ...(run.reason ? { reason: run.reason } : {}),
      });
      log(`final batch run: ${JSON.stringify(finalBatchRuns.at(-1))}`);
      batchPublished = run.status === 'published';
    }
    const afterBatch = await compare();
    duplicatedMax = Math.max(duplicatedMax, afterBatch.duplicated);
    const batchSeconds = (Date.now() - batchStarted) / 1000;
    const kappaStarted = Date.now();
    const kappa = o.kappa ? await settleKappa() : null;
    const kappaSeconds = (Date.now() - kappaStarted) / 1000;
    const dlq = (await (await api('/admin/dlq')).json()) as { depth: number };
    const status = (await (await api('/admin/status')).json()) as { batch?: { failures?: number } };
    childBatchFailures = status.batch?.failures ?? childBatchFailures;
    await kill('SIGTERM');
    return {
      seed: o.seed,
      events: events.length,
      extraEvents,
      sends: sends,
      duplicateSends,
      producerRetries,
      faults: {
        ...totals.invoke,
        ...proxy.counts,
        runtimeSigkills: totals.runtimeSigkills,
        emulatorRestarts: totals.emulatorRestarts,
        batchRunsFailed: totals.batchRunsFailed,
        batchKilledWritingRows: totals.batchKilledWritingRows,
        batchKilledFlippingPointer: totals.batchKilledFlippingPointer,
        batchFunctionKilledWritingRows: totals.batchFunctionKilledWritingRows,
        batchFunctionKilledFlippingPointer: totals.batchFunctionKilledFlippingPointer,
      },
      minimum: o.minFaults ? { kinds: [...o.minFaults.kinds], each: o.minFaults.each } : null,
      batchPhase,
      killPhase,
      speedInvocations: totals.speedInvocations,
      profile: {
        produce: Math.round(seconds.produce),
        chaos: Math.round(chaosSeconds),
        runtimeRestarts: Math.round(seconds.runtimeRestarts),
        maxRuntimeRestart: Math.round(seconds.maxRuntimeRestart),
        emulatorRestarts: Math.round(seconds.emulatorRestarts),
        waitingForPublish: Math.round(seconds.waitingForPublish),
        batchPhase: Math.round(seconds.batchPhase),
        killPhase: Math.round(seconds.killPhase),
        settle: Math.round(settleSeconds),
        finalBatch: Math.round(batchSeconds),
        kappaSettle: Math.round(kappaSeconds),
        speedInvocationMeanMs: Math.round(totals.speedInvokeMs / Math.max(1, totals.speedInvocations)),
      },
      loadAverage: {
        start: round1(load.start),
        end: round1(loadavg()[0]),
        max: round1(Math.max(load.max, loadavg()[0])),
      },
      served: afterBatch.served,
      expected: afterBatch.expected,
      lost: afterBatch.lost,
      duplicated: duplicatedMax,
      duplicatedWhileFaulting: duplicatedInChaos,
      bucketsCompared: afterBatch.buckets,
      revenueMismatches: Math.max(result.revenueMismatches, afterBatch.revenueMismatches),
      deadLettered: dlq.depth,
      batchPublished,
      finalBatchRuns,
      kappa,
      seconds: Math.round((Date.now() - started) / 1000),
    };
  } finally {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }
    await proxy.close();
    await emulators.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

/** esbuild, CommonJS for Node 20, as the stacks bundle the handlers; `resolve` says what stays out. */
async function bundle(
  entryPoints: Record<string, string>,
  outdir: string,
  resolve: (b: PluginBuild) => void,
): Promise<void> {
  await build({
    entryPoints,
    outdir,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    plugins: [{ name: 'externals', setup: resolve }],
    logLevel: 'error',
  });
}

/** The handlers the runtime runs (Lambda's four and Kappa's), by their file's name in lambdas/handlers. */
const HANDLERS = ['ingest', 'query', 'speed', 'batch', 'kappa-processor', 'replay', 'kappa-admin'];

/**
 * Bundles the handlers once per run, as the stacks deploy them (lib/constructs/handler-function.ts:
 * esbuild, CommonJS, DuckDB's native module left out): each restart of the runtime then loads one
 * file per worker instead of resolving and transforming every module through tsx, which took most
 * of a restart (measured: 690 ms of CPU to load the speed handler through tsx, 340 ms bundled).
 */
async function bundleHandlers(outdir: string): Promise<void> {
  const source = path.resolve(__dirname, '..', '..', '..', 'lambdas', 'handlers');
  // DuckDB's packages (native) are left out by their absolute paths: the bundles live outside
  // the repository's node_modules.
  await bundle(
    Object.fromEntries(HANDLERS.map((name) => [name, path.join(source, `${name}.ts`)])),
    outdir,
    (b) =>
      b.onResolve({ filter: /^@duckdb\// }, (args) => ({
        path: require.resolve(args.path, { paths: [args.resolveDir] }),
        external: true,
      })),
  );
}

/**
 * Bundles the runtime the suite SIGKILLs (fault-runtime.ts, the local pipeline under it) and the
 * repository's views.ts, packages left out (NODE_PATH finds them): a restart through tsx spent
 * about 1.5 s of its 4 s starting tsx and transforming the modules (2026-12-04, load 5), and the
 * SIGKILL phase restarts a thousand times.
 */
async function bundleRuntime(outdir: string): Promise<void> {
  const repo = path.resolve(__dirname, '..', '..', '..');
  await bundle(
    { 'fault-runtime': path.join(__dirname, 'fault-runtime.ts'), views: path.join(repo, 'views.ts') },
    outdir,
    (b) => {
      // `streamfold` (what views.ts imports) is the repository itself: bundled.
      b.onResolve({ filter: /^streamfold$/ }, () => ({ path: path.join(repo, 'index.ts') }));
      b.onResolve({ filter: /^[^./]/ }, (args) => ({ path: args.path, external: true }));
    },
  );
  // The dashboard's files, which the local pipeline serves from beside its module.
  cpSync(path.join(repo, 'local', 'dashboard', 'public'), path.join(outdir, 'public'), { recursive: true });
}

/**
 * POST through node:http, which has no deadline of its own: fetch (undici) gives up on answers
 * slower than 300 s, and on a loaded machine a batch run over an archive of thousands of small
 * objects (one per 500 ms flush and shard, cut uploads retried) took longer than that.
 */
function postWithoutTimeout(port: number, p: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: p, method: 'POST' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks).toString()));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const round1 = (x: number) => Math.round(x * 10) / 10;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
