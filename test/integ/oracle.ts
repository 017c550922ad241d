/**
 * An independent computation of the served values, written without the core: plain maps over
 * the accepted events. The integration suite compares the HTTP answers with it.
 */
export interface OracleEvent {
  readonly id: string;
  readonly type: string;
  readonly time: string;
  readonly [field: string]: unknown;
}

export interface OracleBucket {
  count: number;
  /** Sums in cents, exact. */
  sumCents: number;
  min: number | null;
  max: number | null;
  values: number;
  distinct: Set<string>;
}

const WIDTH = { '1m': 60_000, '5m': 300_000, '15m': 900_000, '1h': 3_600_000, '1d': 86_400_000 } as const;

/** Buckets of one (type, key field) for a view with count, sum, max, avg over `numberField` and distinct over `distinctField`. */
export function expectedBuckets(
  events: readonly OracleEvent[],
  spec: {
    type: string;
    keyField: string;
    key: string;
    granularity: keyof typeof WIDTH;
    numberField: string;
    distinctField?: string;
  },
): Map<string, OracleBucket> {
  const seen = new Set<string>();
  const out = new Map<string, OracleBucket>();
  for (const event of events) {
    if (seen.has(event.id)) continue; // one copy per id
    seen.add(event.id);
    if (event.type !== spec.type || String(event[spec.keyField]) !== spec.key) continue;
    const ms = Date.parse(event.time);
    const start = new Date(Math.floor(ms / WIDTH[spec.granularity]) * WIDTH[spec.granularity]).toISOString();
    const b = out.get(start) ?? {
      count: 0,
      sumCents: 0,
      min: null,
      max: null,
      values: 0,
      distinct: new Set<string>(),
    };
    b.count++;
    const v = event[spec.numberField];
    if (typeof v === 'number') {
      b.sumCents += Math.round(v * 100);
      b.values++;
      b.min = b.min === null ? v : Math.min(b.min, v);
      b.max = b.max === null ? v : Math.max(b.max, v);
    }
    if (spec.distinctField && event[spec.distinctField] !== undefined)
      b.distinct.add(String(event[spec.distinctField]));
    out.set(start, b);
  }
  return out;
}
