/**
 * Soak benchmark: `npm start` as a user runs it (its own process, the built-in generator at
 * `--rate` events/s, a data dir on disk) for `--minutes`, sampled every `--every` seconds:
 * the runtime's resident memory (VmRSS of the process, worker threads and DuckDB included),
 * the data dir's size on disk, and how far each consumer trails what was accepted.
 *
 * Warm-up: what the runtime holds by design grows until its longest horizon has filled: the speed
 * layer keeps 15 minutes of event ids (ADR 008), and each incremental batch run recomputes the
 * buckets new arrivals touch, which with the generator's late events (up to 20 minutes old) span
 * the last 20 minutes of events. So the first window is taken after 20 minutes, and a run lasts
 * 45 (two 10-minute windows 5 minutes apart): a 30-minute run compared a window while these were
 * still filling with one after (ratio 1.43 on an idle machine, 2026-12-02 10:18).
 *
 * Run: npx tsx bench/soak.ts [--minutes 45] [--rate 1000] [--every 10] [--warmup 20]
 *   [--heap-snapshots-at 120,540] [--out bench/results/soak.json] [--keep-data]
 * (or `npm run bench -- soak --minutes 30`). Writes bench/results/soak.json (every sample) and
 * bench/soak-rss.svg (the plot); bench/run.ts copies the summary figures into results.json.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, promises as fs, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { freePort } from '../test/integ/cli-process';
import { mallocArenaRss } from './malloc-arenas';
import { rssPlotSvg } from './soak-plot';

export interface SoakSample {
  /** Seconds since the runtime said it was running. */
  readonly t: number;
  readonly rssMb: number;
  /**
   * The anonymous part of RSS (heaps, malloc) and the file-backed part (mapped files: the code,
   * and LevelDB's table files, which it maps to read them; the kernel drops those pages first).
   */
  readonly rssAnonMb?: number;
  readonly rssFileMb?: number;
  readonly dataDirMb: number;
  readonly accepted: number;
  /** Records the speed layer's event source has handled (producer retries included). */
  readonly speedProcessed: number;
  readonly archived: number;
  /** Records on the stream the speed layer has not handled yet. */
  readonly speedLagRecords: number;
  /** How far the archive watermark trails the sample time, in seconds. */
  readonly watermarkAgeS: number | null;
  readonly batchVersion: number | null;
  /** The last batch run's wall time, s (what each incremental run costs as the horizons fill). */
  readonly batchLastS?: number | null;
  readonly speedRows: number;
  readonly loadAverage1m: number;
  /** V8 heap in use, MB: the main thread (emulators, poller, archiver, gateway) and each handler worker. */
  readonly heapUsedMb?: Readonly<Record<string, number>>;
  /** RSS minus every isolate's heap and array buffers, MB: LevelDB, DuckDB, malloc arenas, code. */
  readonly nativeMb?: number;
  /** Of RSS, glibc malloc's main arena and its other arenas' heaps, MB (bench/malloc-arenas.ts). */
  readonly mallocMainArenaMb?: number;
  readonly mallocThreadArenasMb?: number;
}

export interface SoakSummary {
  readonly minutes: number;
  readonly rate: number;
  readonly warmupMinutes: number;
  readonly soak_rss_mb_start: number;
  readonly soak_rss_mb_end: number;
  readonly soak_rss_mb_max: number;
  /** Mean RSS of the first and the last window (10 minutes, or a third of a shorter run) after warm-up. */
  readonly firstWindowRssMb: number;
  readonly lastWindowRssMb: number;
  readonly lastToFirstRatio: number;
  /**
   * The same two windows for RSS's anonymous part (what the runtime holds: heaps, malloc, DuckDB)
   * and its file-backed part (mapped files, mostly LevelDB's tables: they follow the stream's size
   * on disk, which grows for its 24-hour retention, and the kernel drops them first).
   */
  readonly firstWindowRssAnonMb: number | null;
  readonly lastWindowRssAnonMb: number | null;
  readonly lastToFirstAnonRatio: number | null;
  readonly firstWindowRssFileMb: number | null;
  readonly lastWindowRssFileMb: number | null;
  readonly windowMinutes: number;
  readonly dataDirMbEnd: number;
  readonly eventsAccepted: number;
  readonly acceptedPerS: number;
  readonly speedLagRecordsEnd: number;
  readonly speedLagRecordsMax: number;
  readonly watermarkAgeSEnd: number | null;
  /** The machine's 1-minute load average over the run: the soak shares the machine with whatever else runs. */
  readonly loadAverage1mMin: number;
  readonly loadAverage1mMax: number;
}

const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

/** VmRSS of the process, and its anonymous and file-backed parts (Linux's /proc/<pid>/status). */
function rssBytes(pid: number): { rss: number; anon: number; file: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => {
    const kb = new RegExp(`${name}:\\s+(\\d+) kB`).exec(status);
    if (!kb) throw new Error(`no ${name} in /proc/${pid}/status: is the runtime still running?`);
    return Number(kb[1]) * 1024;
  };
  return { rss: field('VmRSS'), anon: field('RssAnon'), file: field('RssFile') };
}

async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await fs.readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) total += await dirBytes(full);
    else
      total += await fs.stat(full).then(
        (s) => s.size,
        () => 0,
      );
  }
  return total;
}

interface Status {
  eventsAccepted: number;
  speed: { recordsProcessed: number };
  archive: { recordsArchived: number; watermarkMs: number | null };
  batch: { last: { version: number | null; durationMs?: number } | null };
  speedRows: number;
  generator: { requests: number } | null;
  memoryMb: {
    main: { heapUsed: number };
    workers: Record<string, { heapUsed: number }>;
    native: number;
  };
}

function mean(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
}

/** First and last window after warm-up: 10 minutes each, or a third of what is left when shorter. */
export function summarize(
  samples: readonly SoakSample[],
  o: { minutes: number; rate: number; warmupMinutes: number },
): SoakSummary {
  if (samples.length === 0) throw new Error('the soak recorded no sample');
  const after = samples.filter((s) => s.t >= o.warmupMinutes * 60);
  const span = (after.at(-1)?.t ?? 0) - (after[0]?.t ?? 0);
  const windowS = Math.min(600, span / 3);
  const first = after.filter((s) => s.t <= after[0].t + windowS);
  const last = after.filter((s) => s.t >= after[after.length - 1].t - windowS);
  const rss = samples.map((s) => s.rssMb);
  const end = samples[samples.length - 1];
  const round = (n: number) => Math.round(n * 10) / 10;
  const part = (window: readonly SoakSample[], key: 'rssAnonMb' | 'rssFileMb') =>
    window.every((s) => s[key] !== undefined) ? mean(window.map((s) => s[key]!)) : null;
  const [anonFirst, anonLast] = [part(first, 'rssAnonMb'), part(last, 'rssAnonMb')];
  const [fileFirst, fileLast] = [part(first, 'rssFileMb'), part(last, 'rssFileMb')];
  return {
    minutes: o.minutes,
    rate: o.rate,
    warmupMinutes: o.warmupMinutes,
    soak_rss_mb_start: samples[0].rssMb,
    soak_rss_mb_end: end.rssMb,
    soak_rss_mb_max: Math.max(...rss),
    firstWindowRssMb: round(mean(first.map((s) => s.rssMb))),
    lastWindowRssMb: round(mean(last.map((s) => s.rssMb))),
    lastToFirstRatio:
      Math.round((mean(last.map((s) => s.rssMb)) / mean(first.map((s) => s.rssMb))) * 1000) / 1000,
    firstWindowRssAnonMb: anonFirst === null ? null : round(anonFirst),
    lastWindowRssAnonMb: anonLast === null ? null : round(anonLast),
    lastToFirstAnonRatio:
      anonFirst === null || anonLast === null ? null : Math.round((anonLast / anonFirst) * 1000) / 1000,
    firstWindowRssFileMb: fileFirst === null ? null : round(fileFirst),
    lastWindowRssFileMb: fileLast === null ? null : round(fileLast),
    windowMinutes: round(windowS / 60),
    dataDirMbEnd: end.dataDirMb,
    eventsAccepted: end.accepted,
    acceptedPerS: Math.round(end.accepted / Math.max(1, end.t)),
    speedLagRecordsEnd: end.speedLagRecords,
    speedLagRecordsMax: Math.max(...samples.map((s) => s.speedLagRecords)),
    watermarkAgeSEnd: end.watermarkAgeS,
    loadAverage1mMin: Math.min(...samples.map((s) => s.loadAverage1m)),
    loadAverage1mMax: Math.max(...samples.map((s) => s.loadAverage1m)),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2).filter((a) => a !== 'soak'),
    options: {
      minutes: { type: 'string', default: '45' },
      rate: { type: 'string', default: '1000' },
      every: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '20' },
      'keep-data': { type: 'boolean', default: false },
      // Where the samples and the plot go (two experiments at once must not share them).
      out: { type: 'string', default: path.join(__dirname, 'results', 'soak.json') },
      // Seconds (comma-separated) at which every thread's heap is snapshotted into
      // <tmp>/streamfold-soak-heaps-*/ for bench/heap-diff.ts, e.g. --heap-snapshots-at 120,540.
      'heap-snapshots-at': { type: 'string', default: '' },
    },
  });
  const minutes = Number(values.minutes);
  const rate = Number(values.rate);
  const everyS = Number(values.every);
  const warmupMinutes = Number(values.warmup);
  for (const [name, v] of [
    ['--minutes', minutes],
    ['--rate', rate],
    ['--every', everyS],
  ] as const)
    if (!(v > 0)) throw new Error(`${name} must be a positive number (given ${v})`);
  const root = path.resolve(__dirname, '..');
  const dataDir = mkdtempSync(path.join(tmpdir(), 'streamfold-soak-'));
  const port = await freePort();
  const snapshotsAt = values['heap-snapshots-at']
    .split(',')
    .filter((t) => t !== '')
    .map(Number);
  const heapDir = snapshotsAt.length > 0 ? mkdtempSync(path.join(tmpdir(), 'streamfold-soak-heaps-')) : '';
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'local/cli.ts',
      'start',
      '--rate',
      String(rate),
      '--port',
      String(port),
      '--data-dir',
      dataDir,
      ...(heapDir ? ['--heap-snapshots', heapDir] : []),
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  if (heapDir) console.log(`heap snapshots at ${snapshotsAt.join(', ')} s into ${heapDir}`);
  let output = '';
  const keep = (d: Buffer) => {
    output = (output + d.toString()).slice(-20_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const stop = () => {
    if (child.exitCode === null) child.kill('SIGKILL');
  };
  process.on('exit', stop);
  process.on('SIGINT', () => process.exit(130));
  try {
    const deadline = Date.now() + 120_000;
    while (!output.includes('streamfold is running')) {
      if (Date.now() > deadline || child.exitCode !== null)
        throw new Error(`the runtime did not come up:\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const started = Date.now();
    const samples: SoakSample[] = [];
    const rawFile = path.resolve(values.out);
    const plotFile =
      rawFile === path.join(__dirname, 'results', 'soak.json')
        ? path.join(__dirname, 'soak-rss.svg')
        : rawFile.replace(/\.json$/, '') + '.svg';
    for (let i = 0; ; i++) {
      const at = started + i * everyS * 1000;
      await new Promise((r) => setTimeout(r, Math.max(0, at - Date.now())));
      if (child.exitCode !== null) throw new Error(`the runtime exited (${child.exitCode}):\n${output}`);
      const status = (await (await fetch(`http://127.0.0.1:${port}/admin/status`)).json()) as Status;
      const now = Date.now();
      const rss = rssBytes(child.pid!);
      const arenas = mallocArenaRss(readFileSync(`/proc/${child.pid}/smaps`, 'utf8'));
      const sample: SoakSample = {
        t: Math.round((now - started) / 1000),
        rssMb: mb(rss.rss),
        rssAnonMb: mb(rss.anon),
        rssFileMb: mb(rss.file),
        dataDirMb: mb(await dirBytes(dataDir)),
        accepted: status.eventsAccepted,
        speedProcessed: status.speed.recordsProcessed,
        archived: status.archive.recordsArchived,
        speedLagRecords: Math.max(0, status.eventsAccepted - status.speed.recordsProcessed),
        watermarkAgeS:
          status.archive.watermarkMs === null ? null : Math.round((now - status.archive.watermarkMs) / 1000),
        batchVersion: status.batch.last?.version ?? null,
        batchLastS:
          status.batch.last?.durationMs === undefined
            ? null
            : Math.round(status.batch.last.durationMs / 100) / 10,
        speedRows: status.speedRows,
        loadAverage1m: Math.round(loadavg()[0] * 100) / 100,
        heapUsedMb: {
          main: status.memoryMb.main.heapUsed,
          ...Object.fromEntries(Object.entries(status.memoryMb.workers).map(([n, u]) => [n, u.heapUsed])),
        },
        nativeMb: status.memoryMb.native,
        mallocMainArenaMb: mb(arenas.mainArenaBytes),
        mallocThreadArenasMb: mb(arenas.threadArenaBytes),
      };
      samples.push(sample);
      if (snapshotsAt.some((at) => at > sample.t - everyS && at <= sample.t)) child.kill('SIGUSR2');
      console.log(JSON.stringify(sample));
      const done = sample.t >= minutes * 60;
      if (done || i % 6 === 0) {
        // Written as it goes, so a long run can be watched (and a killed one still leaves its data).
        const summary = summarize(samples, { minutes, rate, warmupMinutes });
        writeFileSync(
          rawFile,
          JSON.stringify(
            {
              date: new Date().toISOString(),
              complete: done,
              machine: { cores: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version },
              command: `npm start -- --rate ${rate} --data-dir <tmp>`,
              summary,
              samples,
            },
            null,
            2,
          ) + '\n',
        );
        writeFileSync(plotFile, rssPlotSvg(samples, summary));
      }
      if (done) {
        console.log(JSON.stringify(summarize(samples, { minutes, rate, warmupMinutes }), null, 2));
        break;
      }
    }
  } finally {
    stop();
    await new Promise((r) => (child.exitCode === null ? child.once('exit', r) : r(undefined)));
    if (!values['keep-data']) rmSync(dataDir, { recursive: true, force: true });
    else console.log(`data kept in ${dataDir}`);
  }
}

if (require.main === module)
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
