// One poller per panel: the next request starts only after the last one ended (never two in
// flight, so a slow API is never buried under requests), and not while the tab is hidden.

export class Poller {
  /** `task` is an async function; its errors are reported to `onError` and polling goes on. */
  constructor(task, everyMs, onError = () => {}) {
    this.task = task;
    this.everyMs = everyMs;
    this.onError = onError;
    this.running = false;
    this.again = false;
    this.timer = undefined;
  }

  start() {
    this.poke();
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden) this.poke();
    });
  }

  /** Runs now, or right after the run in flight (a changed selection must not wait a period). */
  poke() {
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    void this.run();
  }

  async run() {
    this.running = true;
    try {
      await this.task();
    } catch (error) {
      this.onError(error);
    } finally {
      this.running = false;
    }
    if (this.again) {
      this.again = false;
      void this.run();
      return;
    }
    if (!document.hidden) this.timer = setTimeout(() => void this.run(), this.everyMs);
  }
}
