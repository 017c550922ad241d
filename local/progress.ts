import type { LocalPipeline } from './pipeline';

/** One status line every two seconds: events in, speed lag, archive, batch version and cutoff, DLQ. */
export class ProgressLine {
  private timer?: NodeJS.Timeout;

  constructor(private readonly pipeline: LocalPipeline) {}

  async render(): Promise<string> {
    const s = (await this.pipeline.status()) as {
      speed: { recordsProcessed?: number; millisBehindLatest?: number };
      archive: { recordsArchived?: number; watermark?: number | null };
      batch: { last: { version: number | null; cutoff: string | null } | null };
      deadLetterQueue: { depth: number };
      eventsAccepted: number;
      generator: { sent: number; failures: number } | null;
      handlers: Record<string, { invocations: number; errors: number }>;
    };
    const time = (iso: string | null | undefined) => (iso ? iso.slice(11, 19) : '-');
    return [
      `events in ${s.eventsAccepted}`,
      `speed ${s.speed.recordsProcessed ?? 0} rec, lag ${s.speed.millisBehindLatest ?? 0} ms`,
      `archived ${s.archive.recordsArchived ?? 0}`,
      `batch v${s.batch.last?.version ?? '-'} cutoff ${time(s.batch.last?.cutoff)}`,
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
