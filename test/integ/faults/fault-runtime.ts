/**
 * The local runtime as its own process for the fault suite (so it can be SIGKILLed): the Lambda
 * architecture of `npm start`, pointed at the suite's fault proxy instead of embedded emulators,
 * with seeded faults around the speed handler's invocations. Prints one JSON line when running
 * (`{"running": url}`) and every 200 ms its fault counts (`{"counts": {...}}`, cumulative for
 * this process), the speed layer's lag and its batch runs; the line `faults off` on stdin turns the faults off,
 * the line `kill batch` kills the batch function's execution environment (answered `{"killed": "batch"}`).
 *
 * Run by fault-suite.ts as an esbuild bundle (`node fault-runtime.js '<json options>'`, NODE_PATH
 * set to the repository's node_modules); as a source, `node --import tsx fault-runtime.ts '<json>'`.
 */
import { createInterface } from 'node:readline';
import * as path from 'node:path';
import { quietSdkNodeWarning } from '../../../local/handler-host';
import { loadViews } from '../../../local/load-views';
import { DEFAULT_OPTIONS, LocalPipeline } from '../../../local/pipeline';
import { faultyInvoke, type InvokeFaultCounts, type InvokeFaultRates } from './faulty-invoke';
import { Random } from './seeded-random';

export interface FaultRuntimeOptions {
  readonly endpoint: string;
  readonly dataDir: string;
  readonly port: number;
  readonly seed: number;
  readonly rates: InvokeFaultRates;
  readonly speedBatchSize: number;
  /**
   * Retries of a failed speed batch before its records are dead-lettered. At the full run's fault
   * rates a record bisected down to itself fails 11 invocations in a row once in about 6,500, so
   * 10 retries would dead-letter a few of 100,000 events; AWS's own default is -1, "retried
   * until the record expires" (https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-parameters.html).
   */
  readonly speedRetryAttempts: number;
  readonly faults: boolean;
  /** How often the batch schedule fires (the first run too). */
  readonly batchEveryMs: number;
  /** How often the archiver flushes. @default 500 */
  readonly archiveFlushMs?: number;
  /** Folder of esbuild bundles of the handlers (`<name>.js`), loaded instead of their sources. */
  readonly handlerBundles?: string;
  /** `both` also runs the Kappa processor and replays (served at /kappa/views). */
  readonly architecture: 'lambda' | 'both';
  /**
   * The views module: the repository's views.ts under tsx, or its bundle beside this file's own
   * (fault-suite.ts bundles both, so a restart loads two files instead of transforming every module).
   * @default the repository's views.ts
   */
  readonly viewsFile?: string;
}

async function main(): Promise<void> {
  quietSdkNodeWarning();
  const o = JSON.parse(process.argv[2]) as FaultRuntimeOptions;
  let faults = o.faults;
  const counts: InvokeFaultCounts = { crashBeforeWrite: 0, crashAfterWrite: 0, timeout: 0, redelivery: 0 };
  let invocations = 0;
  /** Milliseconds spent in invocations (faulted ones included), for the suite's profile. */
  let invokeMs = 0;
  /**
   * How far behind the stream the speed layer is: the age of the newest record of the last
   * invocation when it started, and when that was. The suite's producer sends more events only
   * while the speed layer keeps up, so invocations (and their faults) go on at its pace.
   */
  let lagMs = 0;
  /** Invocations under way, and when the last one ended: the speed layer is idle when none runs. */
  let inFlight = 0;
  let lastInvokeEndAt = 0;
  const pipeline = new LocalPipeline({
    ...DEFAULT_OPTIONS,
    views: loadViews(o.viewsFile ?? path.resolve(__dirname, '..', '..', '..', 'views.ts')),
    dataDir: o.dataDir,
    port: o.port,
    generator: false,
    architecture: o.architecture,
    endpoint: o.endpoint,
    endpointS3Flavor: 's3rver',
    batchEveryMs: o.batchEveryMs,
    firstBatchAfterMs: o.batchEveryMs,
    archiveFlushMs: o.archiveFlushMs ?? 500,
    speedBatchSize: o.speedBatchSize,
    ...(o.handlerBundles
      ? { handlerEntry: (name: string) => path.join(o.handlerBundles!, `${name}.js`) }
      : {}),
    speedBatchingWindowMs: 100,
    // A record dead-lettered here would be reported as lost: see FaultRuntimeOptions.
    speedRetryAttempts: o.speedRetryAttempts,
    wrapSpeedInvoke: (invoke) => {
      const faulty = faultyInvoke(o.rates, new Random(o.seed), counts, () => faults)(invoke);
      return async (event, context) => {
        invocations++;
        const started = Date.now();
        const newest = event.Records.at(-1)?.kinesis.approximateArrivalTimestamp;
        if (newest !== undefined) lagMs = started - newest * 1000;
        inFlight++;
        try {
          return await faulty(event, context);
        } finally {
          inFlight--;
          lastInvokeEndAt = Date.now();
          invokeMs += Date.now() - started;
        }
      };
    },
  });
  await pipeline.start();
  console.log(JSON.stringify({ running: pipeline.url, resumedReplay: pipeline.resumedReplay() }));
  const report = setInterval(
    () =>
      console.log(
        JSON.stringify({
          counts,
          invocations,
          invokeMs,
          lagMs,
          idleMs: inFlight > 0 ? 0 : Date.now() - lastInvokeEndAt,
          batch: pipeline.batchRuns(),
          replaying: pipeline.replaying(),
        }),
      ),
    200,
  );
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (line.trim() === 'faults off') {
      faults = false;
      console.log(JSON.stringify({ faults: 'off', counts }));
    }
    // The batch function's execution environment dies (the suite holds its publish on the wire).
    if (line.trim() === 'kill batch')
      void pipeline
        .killFunction('batch', 'injected: killed mid-publish')
        .then(() => console.log(JSON.stringify({ killed: 'batch' })));
  });
  process.on('SIGTERM', () => {
    clearInterval(report);
    void pipeline.stop().then(() => process.exit(0));
  });
}

main().catch((error: Error) => {
  console.error(error.stack ?? error.message);
  process.exit(1);
});
