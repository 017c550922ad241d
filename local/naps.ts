/** Sleeps that all end at once when their owner stops (so stop() does not wait out a poll interval). */
export class Naps {
  private readonly waiting = new Set<() => void>();

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiting.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiting.add(done);
    });
  }

  wakeAll(): void {
    for (const wake of [...this.waiting]) wake();
  }
}
