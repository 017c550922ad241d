/**
 * The events the archive benchmarks write: event `n` is a sensor reading (200 devices) or a page
 * view (50 pages, 20,000 users) of the views in views.ts.
 */
export function benchEventBody(n: number, time: string): Record<string, unknown> {
  return n % 4 === 0
    ? { id: `e${n}`, type: 'sensor.reading', time, deviceId: `dev-${n % 200}`, temperature: (n % 400) / 10 }
    : {
        id: `e${n}`,
        type: 'page.view',
        time,
        page: `/p${n % 50}`,
        userId: `u${(n * 7919) % 20_000}`,
        amount: (n % 1000) / 100,
        latencyMs: n % 997,
      };
}
