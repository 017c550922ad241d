import type { LocalKappaStatus } from './kappa';
import type { LocalPipeline } from './pipeline';

/** One status line every two seconds: events in, speed lag, archive, batch version and cutoff, DLQ. */
export class ProgressLine {
  private timer?: NodeJS.Timeout;

  constructor(private readonly pipeline: LocalPipeline) {}

  async render(): Promise<string> {
    const s = await this.pipeline.status();
    const time = (iso: string | null | undefined) => (iso ? iso.slice(11, 19) : '-');
    return [
      `events in ${s.eventsAccepted}`,
      ...(s.speed ? [`speed ${s.speed.recordsProcessed} rec, lag ${s.speed.millisBehindLatest} ms`] : []),
      `archived ${s.archive.recordsArchived}`,
      ...(s.batch ? [`batch v${s.batch.last?.version ?? '-'} cutoff ${time(s.batch.last?.cutoff)}`] : []),
      ...(s.kappa ? [kappaPart(s.kappa)] : []),
      `DLQ ${s.deadLetterQueue.depth}`,
    ].join(' | ');
  }

  start(): void {
    const tty = process.stdout.isTTY;
    let n = 0;
    this.timer = setInterval(() => {
      this.render()
        .then((line) => {
          if (tty) process.stdout.write(`\r${line.padEnd(110)}`);
          else if (n++ % 5 === 0) console.log(line);
        })
        .catch(() => undefined); // a status hiccup must not stop the pipeline
    }, 2000);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

/** `kappa v2` when idle; `replay v3 reading 12/40 obj, 51234 ev, 120000 ev/s, ETA 3s` while one runs. */
function kappaPart(k: LocalKappaStatus): string {
  const versions = [...new Set(Object.values(k.views).map((v) => (v.active ? `v${v.active.version}` : '-')))];
  const active = `kappa ${versions.join('/') || '-'}`;
  const r = k.replay;
  if (!r || r.status !== 'running')
    return r?.status === 'failed' ? `${active} (replay v${r.version} failed)` : active;
  return `${active}, replay v${r.version} ${r.phase ?? ''} ${r.objects.done}/${r.objects.total ?? '?'} obj, ${r.events} ev, ${r.eventsPerSecond} ev/s, ETA ${r.etaSeconds ?? '?'}s`;
}
