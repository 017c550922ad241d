import { randomUUID } from 'node:crypto';

/**
 * Synthetic traffic for the example views: a clickstream (page.view) and IoT readings
 * (sensor.reading), posted to POST /events over HTTP like any producer. A small share of
 * requests is sent twice with the same ids (a producer retry) and a few events arrive late, so
 * the demo exercises dedupe and the handoff, not only the happy path.
 */
export interface GeneratorOptions {
  readonly baseUrl: string;
  /** Events per second. */
  readonly rate: number;
  /**
   * Most events per request.
   * @default 500 (a Kinesis PutRecords call's limit): requests go one at a time, every 250 ms, so
   * a tick's events travel in as few round trips as possible; small requests at 1,000 events/s
   * spent the shared event loop on per-request work and fell far behind on a loaded machine
   */
  readonly batchSize?: number;
  /** Share of requests repeated with the same ids. */
  readonly retryShare?: number;
  readonly random?: () => number;
}

const PAGES = ['/', '/pricing', '/docs', '/blog/kappa', '/blog/lambda', '/cart', '/checkout'];
const COUNTRIES = ['DE', 'FR', 'US', 'BR', 'JP', 'IN'];

export class EventGenerator {
  sent = 0;
  requests = 0;
  failures = 0;
  lastError?: string;
  private timer?: NodeJS.Timeout;
  private inFlight?: Promise<void>;
  private readonly random: () => number;
  /** When the generator started, and how many events it has made since: the next tick makes what is owed. */
  private startedAt = 0;
  private made = 0;

  constructor(private readonly options: GeneratorOptions) {
    this.random = options.random ?? Math.random;
  }

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)];
  }

  makeEvent(now: number): Record<string, unknown> {
    // One event in 50 happened minutes ago (a device that was offline): a late event.
    const time = new Date(
      this.random() < 0.02 ? now - Math.floor(this.random() * 20 * 60_000) : now,
    ).toISOString();
    if (this.random() < 0.7) {
      const event: Record<string, unknown> = {
        id: randomUUID(),
        type: 'page.view',
        time,
        page: this.pick(PAGES),
        userId: `user-${Math.floor(this.random() * 500)}`,
        country: this.pick(COUNTRIES),
        latencyMs: Math.round(20 + this.random() * 480),
      };
      if (event.page === '/checkout') event.amount = Math.round(this.random() * 20000) / 100;
      return event;
    }
    return {
      id: randomUUID(),
      type: 'sensor.reading',
      time,
      deviceId: `device-${String(Math.floor(this.random() * 12)).padStart(3, '0')}`,
      temperature: Math.round((15 + this.random() * 15) * 100) / 100,
    };
  }

  private async tick(): Promise<void> {
    const batchSize = this.options.batchSize ?? 500;
    // What the rate owes since the start, not a fixed count per tick: a tick that took longer
    // than 250 ms (a slow pipeline, a loaded machine) is made up by the next one, so the rate
    // asked for is the rate sent whenever the pipeline can take it. At most two seconds' worth
    // at once, so a long stall does not end in a burst.
    const now = Date.now();
    const owed = Math.floor(((now - this.startedAt) / 1000) * this.options.rate) - this.made;
    const perTick = Math.min(owed, Math.ceil(this.options.rate * 2));
    this.made += owed;
    if (perTick <= 0) return;
    const events = Array.from({ length: perTick }, () => this.makeEvent(now));
    for (let i = 0; i < events.length; i += batchSize) {
      const body = JSON.stringify({ events: events.slice(i, i + batchSize) });
      const times = this.random() < (this.options.retryShare ?? 0.02) ? 2 : 1;
      for (let t = 0; t < times; t++) {
        try {
          this.requests++;
          const res = await fetch(`${this.options.baseUrl}/events`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body,
          });
          if (res.status !== 202) {
            this.failures++;
            this.lastError = `${res.status} ${await res.text()}`;
          } else if (t === 0) this.sent += Math.min(batchSize, events.length - i);
        } catch (error) {
          this.failures++;
          this.lastError = (error as Error).message;
        }
      }
    }
  }

  start(): void {
    this.startedAt = Date.now();
    this.made = 0;
    this.timer = setInterval(() => {
      if (this.inFlight) return; // never pile up requests behind a slow pipeline
      this.inFlight = this.tick().finally(() => (this.inFlight = undefined));
    }, 250);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.inFlight;
  }
}
