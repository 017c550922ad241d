/**
 * Runs a job every interval and on demand, never two at once (EventBridge would start a second
 * Lambda; the batch's conditional publish makes that safe, but locally one at a time is plainer).
 */
export class Scheduler<T> {
  private timer?: NodeJS.Timeout;
  private first?: NodeJS.Timeout;
  private running?: Promise<T>;
  /** The run that starts after the one in progress, shared by the requests made meanwhile. */
  private queued?: Promise<T>;
  lastResult?: T;
  lastError?: string;
  runs = 0;
  /** Runs that failed (each left the previous result in place). */
  failures = 0;

  constructor(
    private readonly job: () => Promise<T>,
    private readonly everyMs: number,
  ) {}

  /** Whether a run is in progress. */
  get busy(): boolean {
    return this.running !== undefined;
  }

  /** Starts the schedule; the first run comes after `firstAfterMs` (default: one interval). */
  start(firstAfterMs = this.everyMs): void {
    const tick = () => {
      this.runNow().catch(() => undefined); // recorded in lastError; the next tick tries again
    };
    this.first = setTimeout(() => {
      tick();
      this.timer = setInterval(tick, this.everyMs);
    }, firstAfterMs);
  }

  /** Runs now, or joins the run in progress. */
  runNow(): Promise<T> {
    this.running ??= this.track(this.job());
    return this.running;
  }

  /**
   * Runs now, or, when a run is in progress, once more right after it: the run in progress began
   * before this request and may not cover what was archived since (a scheduled run started just
   * before the caller's events reached the archive). Requests made while that next run waits share it.
   */
  runFresh(): Promise<T> {
    if (!this.running) return this.runNow();
    this.queued ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.queued = undefined;
        return this.runInstead(this.job);
      });
    return this.queued;
  }

  /**
   * Runs `job` (a run asked for with other options) once the run in progress has ended: never two
   * at once, and never joined to a run that was not what was asked for.
   */
  async runInstead(job: () => Promise<T>): Promise<T> {
    while (this.running) await this.running.catch(() => undefined);
    this.running = this.track(job());
    return this.running;
  }

  private track(run: Promise<T>): Promise<T> {
    return run
      .then((result) => {
        this.runs++;
        this.lastResult = result;
        this.lastError = undefined;
        return result;
      })
      .catch((error: Error) => {
        this.failures++;
        this.lastError = error.message;
        throw error;
      })
      .finally(() => (this.running = undefined));
  }

  async stop(): Promise<void> {
    if (this.first) clearTimeout(this.first);
    if (this.timer) clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }
}
