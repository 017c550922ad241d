/**
 * The sections of bench/RESULTS.md rendered from the reports of runs made apart from
 * `npm run bench`: the soak, and the fault suite and its phases.
 */
import { readResult } from './results-file';

/**
 * What the fault run's counts say against issue 12's 1,000 per kind: the kinds the run went on
 * injecting until each reached its minimum, and why the SIGKILL-bound kinds were not driven
 * there (each costs a restart of the runtime), with the figures of this run.
 */
function faultMinimumText(faults: Record<string, unknown> & { faults: Record<string, number> }): string {
  const f = faults.faults;
  const minimum = faults.minimum as { kinds: string[]; each: number } | null | undefined;
  const profile = faults.profile as Record<string, number> | undefined;
  const kappa = faults.kappa as Record<string, number | string> | null | undefined;
  const batchPhase = faults.batchPhase as BatchPhaseReport | null | undefined;
  const killPhase = faults.killPhase as
    { each: number; seconds: number; sigkills: number; meanRestartSeconds: number } | null | undefined;
  const counts: Record<string, number> = { ...f };
  if (kappa) counts.replaysKilledMidway = Number(kappa.replaysKilledMidway);
  // The batch phase's kills mid-publish are driven to their minimum together: writing rows or
  // flipping the pointer, at random, so each half is about 500 of the 1,000.
  const killsMidPublish = (batchPhase?.killMidPublishEach ?? 0) > 0;
  if (killsMidPublish) {
    counts.batchFunctionKilledMidPublish =
      Number(f.batchFunctionKilledWritingRows ?? 0) + Number(f.batchFunctionKilledFlippingPointer ?? 0);
    delete counts.batchFunctionKilledWritingRows;
    delete counts.batchFunctionKilledFlippingPointer;
  }
  const below = Object.entries(counts).filter(([, n]) => Number(n) < 1000);
  const drivenKinds = [
    ...(minimum?.kinds ?? []),
    ...(batchPhase ? ['batchWriteFail', 'batchRunsFailed'] : []),
    ...(killsMidPublish ? ['batchFunctionKilledMidPublish'] : []),
    ...(killPhase ? ['runtimeSigkills'] : []),
  ];
  let text = '';
  if (minimum)
    text += `\nThe run went on injecting faults, the producer sending new events whenever the speed layer had caught up, until each of ${minimum.kinds.join(', ')} reached ${minimum.each.toLocaleString('en-US')}.`;
  if (batchPhase)
    text += ` Then its batch phase went on until batchWriteFail and batchRunsFailed each reached ${batchPhase.each.toLocaleString('en-US')} or its time ran out: ${batchPhase.seconds} s, ${batchPhase.failed} runs failed and ${batchPhase.succeeded} ended without error, the served values compared every second.${midPublishKillsText(batchPhase, f)}`;
  if (killPhase)
    text += ` Then its SIGKILL phase went on until the runtime had been SIGKILLed ${killPhase.each.toLocaleString('en-US')} times in all or its time ran out, each kill at a random moment within 2 s of serving again (or as a batch run's publish reached the wire, with a replay started first): ${killPhase.seconds} s, ${killPhase.sigkills} SIGKILLs, a restart taking ${killPhase.meanRestartSeconds} s on average.`;
  if (below.length === 0) return `${text}\nEvery kind reached issue 12's 1,000.\n`;
  // A report from before the run went on to a minimum: its chaos stopped once the served values were complete.
  if (!minimum)
    return `\n**Below issue 12's 1,000 per kind**: ${below.map(([kind]) => kind).join(', ')} (this run's faults stopped once the served values were complete; the batch layer had by then covered much of what the speed layer had not processed, so most of its invocations ran without faults).\n`;
  const driven = below.filter(([kind]) => drivenKinds.includes(kind));
  const killed = below.filter(([kind]) => !drivenKinds.includes(kind));
  if (driven.length > 0)
    text += `\n**Below their minimum, so the run's test failed**: ${driven.map(([k, n]) => `${k} ${n}`).join(', ')}.`;
  if (killed.length > 0 && killPhase) {
    text += `\n**Below issue 12's 1,000, counted as they happened**: ${killed.map(([k, n]) => `${k} ${n}`).join(', ')}. Each is a SIGKILL of the whole runtime that landed at that moment (a batch run's row write or pointer flip held on the wire, a replay running), not driven to 1,000 of its own: that would take another thousand restarts of the runtime each${killsMidPublish ? ' (the batch phase drove its kills of the batch function mid-publish to their minimum, above)' : ''}.`;
  } else if (killed.length > 0) {
    const kills = Number(f.runtimeSigkills);
    const meanRestart = profile && kills > 0 ? profile.runtimeRestarts / kills : undefined;
    text += `\n**Below issue 12's 1,000, by design**: ${killed.map(([k, n]) => `${k} ${n}`).join(', ')}. Each of these is counted as it happened, not driven to 1,000${batchPhase ? '' : ' (a batch run took 10 to 13 s under the chaos here)'}; the SIGKILL kinds cost a kill of the whole runtime (aimed at a batch run's publish or a running replay): ${
      meanRestart === undefined
        ? 'each costs a restart of the runtime.'
        : `a restart of the runtime took ${meanRestart.toFixed(1)} s on average here (at most ${profile!.maxRuntimeRestart} s: eight handler workers load the SDK, the emulators reopen their LevelDB), so 1,000 SIGKILLs would spend about ${((1000 * meanRestart) / 3600).toFixed(1)} h restarting alone, and the speed layer, the archive and the batch layer do no work while the runtime is down.`
    }`;
  }
  return `${text}\n`;
}

/** The final phase's POST /admin/batch requests (FaultReport.finalBatchRuns), when recorded. */
function finalBatchText(runs: unknown): string {
  if (!Array.isArray(runs) || runs.length === 0) return '';
  const parts = (runs as Record<string, number | string>[]).map((r) =>
    [
      `${r.status} after ${r.seconds} s`,
      r.runSeconds === undefined ? '' : `the run itself ${r.runSeconds} s`,
      r.cells === undefined ? '' : `${r.cells} cells written`,
      r.speedRowsDeleted === undefined ? '' : `${r.speedRowsDeleted} speed rows deleted`,
      r.cellsReconciled === undefined ? '' : `${r.cellsReconciled} cells reconciled`,
    ]
      .filter(Boolean)
      .join(', '),
  );
  return ` Final batch request${runs.length > 1 ? 's' : ''} (each waits for a scheduled run in progress first): ${parts.join('; ')}.`;
}

/** The soak and the fault suite run on their own; their last recorded figures, when present. */
export function soakAndFaultSections(): string {
  const read = <T>(file: string): T | undefined => {
    try {
      return readResult<T>(file);
    } catch {
      return undefined;
    }
  };
  const soak = read<{ date: string; command: string; summary: Record<string, number | null> }>('soak.json');
  const faults = read<Record<string, unknown> & { faults: Record<string, number> }>('faults.json');
  const sigkills = read<Record<string, unknown> & { faults: Record<string, number> }>('faults-sigkill.json');
  let text = '';
  if (soak) {
    const s = soak.summary;
    text += `
## Soak (\`npm run bench -- soak\`, ${soak.date})

\`${soak.command}\` for ${s.minutes} minutes, RSS sampled every 10 s ([plot](soak-rss.svg), series in
results.json): start ${s.soak_rss_mb_start} MB, end ${s.soak_rss_mb_end} MB, max ${s.soak_rss_mb_max} MB;
mean of the first ${s.windowMinutes}-minute window after ${s.warmupMinutes} minutes of warm-up ${s.firstWindowRssMb} MB,
of the last ${s.lastWindowRssMb} MB (ratio ${s.lastToFirstRatio}; target at most 1.1)${
      s.lastToFirstAnonRatio === undefined || s.lastToFirstAnonRatio === null
        ? ''
        : `; of it anonymous ${s.firstWindowRssAnonMb} / ${s.lastWindowRssAnonMb} MB (ratio ${s.lastToFirstAnonRatio}), file-backed ${s.firstWindowRssFileMb} / ${s.lastWindowRssFileMb} MB`
    }. ${s.eventsAccepted} events accepted
(${s.acceptedPerS}/s), data dir ${s.dataDirMbEnd} MB at the end, speed lag at the end ${s.speedLagRecordsEnd} records
(at most ${s.speedLagRecordsMax})${s.loadAverage1mMax === undefined ? '' : `, 1-minute load average ${s.loadAverage1mMin} to ${s.loadAverage1mMax}`}.
`;
  }
  if (faults) {
    const f = faults.faults;
    const events = Number(faults.events);
    const profile = faults.profile as Record<string, number> | undefined;
    const load = faults.loadAverage as { start: number; end: number; max: number } | undefined;
    const kappa = faults.kappa as Record<string, number | string> | null | undefined;
    const scaled = events < 100_000;
    text += `
## Faults (\`npm run test:faults\`, ${String(faults.date)})

${
  scaled
    ? `**Scaled down, not the full run**: \`STREAMFOLD_FAULTS=full STREAMFOLD_FAULTS_EVENTS=${events} npx vitest run test/integ/faults.test.ts\`
(the full run's fault rates and kills over ${events.toLocaleString('en-US')} events; the 100,000-event run has not finished on this machine). `
    : ''
}Seed ${String(faults.seed)}: ${String(faults.events)} distinct events, ${String(faults.sends)} sends (${String(faults.duplicateSends)} duplicate producer sends,
${String(faults.producerRetries)} requests retried by the producer), ${String(faults.seconds)} s${load ? `, 1-minute load average ${load.start} at the start, ${load.end} at the end, at most ${load.max}` : ''}.
${faults.speedInvocations === undefined ? '' : `${String(faults.speedInvocations)} speed invocations by the event source (faulted ones included).`}

| fault | injected |
| ----- | -------- |
${Object.entries(f)
  .map(([kind, n]) => `| ${kind} | ${n} |`)
  .join('\n')}
${faultMinimumText(faults)}
Served against an independent count over the distinct events: ${String(faults.bucketsCompared)} buckets,
**lost ${String(faults.lost)}, double-counted ${String(faults.duplicated)}**, revenue mismatches ${String(faults.revenueMismatches)},
dead-lettered ${String(faults.deadLettered)}, batch published after the faults: ${String(faults.batchPublished)}.${finalBatchText(faults.finalBatchRuns)}${
      kappa
        ? `
Kappa (the same stream): ${String(kappa.replaysStarted)} replays started by the suite, ${String(kappa.replaysKilledMidway)} killed midway (a kill counts as mid-replay when the next process finds the replay still running and resumes it),
**lost ${String(kappa.lost)}, double-counted ${String(kappa.duplicated)}**, revenue mismatches ${String(kappa.revenueMismatches)} (final replay ${String(kappa.finalReplay)}).`
        : ''
    }${
      profile
        ? `

Where the wall time went (s): ${Object.entries(profile)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')}.`
        : ''
    }
`;
  }
  if (sigkills) text += sigkillSection(sigkills);
  const batchRun = read<Record<string, unknown> & { faults: Record<string, number> }>('faults-batch.json');
  if (batchRun) text += batchPhaseSection(batchRun, 'faults-batch.json');
  return text;
}

/**
 * A batch phase's own run (STREAMFOLD_FAULTS_BATCH_EACH, and STREAMFOLD_FAULTS_BATCH_KILL_EACH for
 * the runs killed mid-publish), recorded apart from the full run.
 */
function batchPhaseSection(
  run: Record<string, unknown> & { faults: Record<string, number> },
  file: string,
): string {
  const phase = run.batchPhase as BatchPhaseReport;
  const f = run.faults;
  const killEach = phase.killMidPublishEach ?? 0;
  const command = `STREAMFOLD_FAULTS=${String(run.mode)} STREAMFOLD_FAULTS_BATCH_EACH=${phase.each}${killEach > 0 ? ` STREAMFOLD_FAULTS_BATCH_KILL_EACH=${killEach}` : ''}`;
  const kills = midPublishKillsText(phase, f);
  return `
## The batch phase (\`${command}\`, ${String(run.date)})

The ${String(run.mode)} run's chaos, then its batch phase (FaultSuiteOptions.batchFaults): half of the runs' row writes refused
until batchWriteFail and batchRunsFailed each reached ${phase.each.toLocaleString('en-US')} (after 10 failed runs in a row, one let through to publish):
${phase.failed} runs failed and ${phase.succeeded} ended without error in ${phase.seconds} s (batchWriteFail ${f.batchWriteFail}, batchRunsFailed ${f.batchRunsFailed} in the
whole run, kills included).${kills} Speed invocation faults off in the phase (on in the chaos before it); the other wire
faults and emulator restarts (every 21 s) went on, and a trickle of events stamped in hours of its own (a new one every 2 minutes).
${servedText(run)} Figures: bench/results/${file}.
`;
}

/** A fault report's batchPhase (FaultReport in test/integ/fault-suite). */
interface BatchPhaseReport {
  readonly each: number;
  readonly seconds: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly killMidPublishEach?: number;
  readonly killedMidPublish?: number;
  readonly killSeconds?: number;
  readonly publishedBetweenKills?: number;
}

/** The batch phase's kills of the batch function mid-publish, when the run made them. */
function midPublishKillsText(phase: BatchPhaseReport, f: Record<string, number>): string {
  const killEach = phase.killMidPublishEach ?? 0;
  if (killEach === 0) return '';
  return ` Then, the refusals off, ${phase.killedMidPublish} batch runs killed mid-publish in ${phase.killSeconds} s (minimum ${killEach}): the proxy held a run's row write or pointer flip on the wire, the batch function's execution environment was killed meanwhile (as Lambda ends one at a timeout or out of memory; the next run started a fresh one), and the held request then landed or never arrived, at random (${f.batchFunctionKilledWritingRows} writing rows, ${f.batchFunctionKilledFlippingPointer} flipping the pointer); ${phase.publishedBetweenKills} runs published between the kills, the served values compared every second.`;
}

/** A phase run's events and what it served against the independent count, both architectures. */
function servedText(run: Record<string, unknown>): string {
  const kappa = run.kappa as Record<string, number | string> | null;
  const load = run.loadAverage as { start: number; end: number; max: number };
  return `${String(run.events)} distinct events (${String(run.sends)} sends, ${String(run.duplicateSends)} duplicate producer sends), load average ${load.start} to ${load.max}.
Served against the independent count over ${String(run.bucketsCompared)} buckets: **lost ${String(run.lost)}, double-counted
${String(run.duplicated)}**, revenue mismatches ${String(run.revenueMismatches)}, dead-lettered ${String(run.deadLettered)}${
    kappa
      ? `; Kappa **lost ${String(kappa.lost)}, double-counted ${String(kappa.duplicated)}** (final replay ${String(kappa.finalReplay)})`
      : ''
  }.`;
}

/** The SIGKILL phase's own run (STREAMFOLD_FAULTS_KILL_EACH), recorded apart from the full run. */
function sigkillSection(run: Record<string, unknown> & { faults: Record<string, number> }): string {
  const phase = run.killPhase as {
    each: number;
    seconds: number;
    sigkills: number;
    meanRestartSeconds: number;
  };
  const kappa = run.kappa as Record<string, number | string> | null;
  const f = run.faults;
  return `
## SIGKILLs of the whole runtime (\`STREAMFOLD_FAULTS=${String(run.mode)} STREAMFOLD_FAULTS_KILL_EACH=${phase.each}\`, ${String(run.date)})

The ${String(run.mode)} run's chaos, then its SIGKILL phase (FaultSuiteOptions.killFaults): ${phase.sigkills} SIGKILLs in
${phase.seconds} s (${f.runtimeSigkills} in the whole run), a restart taking ${phase.meanRestartSeconds} s on average, each kill at a
random moment within 2 s of the runtime serving again or as a batch run's publish reached the wire
(${f.batchKilledWritingRows} while writing a batch's rows, ${f.batchKilledFlippingPointer} while flipping its pointer: a batch run scheduled every 2 s rarely
reached its publish within a kill's 3 to 4 s, so most kills fell before it), and a Kappa replay kept running (the suite started
${kappa ? String(kappa.replaysStarted) : 0} itself; a kill counts as mid-replay when the next process finds the replay still running and resumes
it: ${kappa ? String(kappa.replaysKilledMidway) : 0}, the same replay resumed each time, which then finished).
Speed invocation faults were off in the phase (on in the chaos before it); wire faults and emulator restarts went on.
${servedText(run)} Other faults meanwhile: ${Object.entries(f)
    .filter(([k]) => !['runtimeSigkills', 'batchKilledWritingRows', 'batchKilledFlippingPointer'].includes(k))
    .map(([k, n]) => `${k} ${n}`)
    .join(', ')}. Figures: bench/results/faults-sigkill.json.
`;
}
