/**
 * Where a marker event's time goes between POST /events and GET /views, hop by hop: the
 * benchmark marks what it sees (posted, acknowledged, seen in GET /views), and the pipeline's
 * probes mark what the stream and the speed layer see (stored in the stream, returned by
 * GetRecords, handed to the function, function done). Every mark is epoch ms: the probes run on
 * the same process's main thread as the benchmark, so the clocks agree.
 */
import type { KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import type { LocalPipelineOptions } from '../local/pipeline';
import { percentile } from './bench-pipeline';

/** The marks, in the order a marker passes them. */
const MARKS = ['posted', 'stored', 'acked', 'fetched', 'invoked', 'handled', 'seen'] as const;
type Mark = (typeof MARKS)[number];

/** Marker events have the id `v<request>-0` (bench/e2e-visibility.ts), and the id is the partition key. */
const MARKER_ID = /^v(\d+)-0$/;

function markerOf(record: KinesisStreamRecord): number | undefined {
  const match = MARKER_ID.exec(record.kinesis.partitionKey);
  return match ? Number(match[1]) : undefined;
}

/** The hops reported, each from one mark to a later one. */
const HOPS: readonly { name: string; from: Mark; to: Mark; what: string }[] = [
  {
    name: 'post_to_stored',
    from: 'posted',
    to: 'stored',
    what: 'POST sent -> PutRecords stored the record (arrival timestamp)',
  },
  { name: 'stored_to_acked', from: 'stored', to: 'acked', what: 'stored -> the 202 read by the client' },
  {
    name: 'stored_to_fetched',
    from: 'stored',
    to: 'fetched',
    what: 'in the stream until a GetRecords returned it',
  },
  {
    name: 'fetched_to_invoked',
    from: 'fetched',
    to: 'invoked',
    what: 'fetched -> the function invoked with it (batching window, previous invocation)',
  },
  {
    name: 'invoked_to_handled',
    from: 'invoked',
    to: 'handled',
    what: 'the invocation: decode, dedupe, fold, row writes',
  },
  {
    name: 'handled_to_seen',
    from: 'handled',
    to: 'seen',
    what: 'row written -> the checker GET that first served it',
  },
  { name: 'acked_to_seen', from: 'acked', to: 'seen', what: 'the metric: 202 -> served by GET /views' },
];

export class HopRecorder {
  private readonly marks = new Map<number, Partial<Record<Mark, number>>>();

  /** Marks marker `n` as having reached `mark` now, or at `at`; a later mark of the same kind is ignored (first time counts). */
  mark(n: number, mark: Mark, at = Date.now()): void {
    let marks = this.marks.get(n);
    if (!marks) this.marks.set(n, (marks = {}));
    marks[mark] ??= at;
  }

  /** The pipeline options that let the stream and the speed layer mark markers. */
  pipelineProbes(): Pick<LocalPipelineOptions, 'onSpeedRecordsFetched' | 'wrapSpeedInvoke'> {
    return {
      onSpeedRecordsFetched: (records, at) => {
        for (const record of records) {
          const n = markerOf(record);
          if (n === undefined) continue;
          this.mark(n, 'stored', Math.round(record.kinesis.approximateArrivalTimestamp * 1000));
          this.mark(n, 'fetched', at);
        }
      },
      wrapSpeedInvoke: (invoke) => async (event, context) => {
        const invoked = Date.now();
        const markers = (event as KinesisStreamEvent).Records.map(markerOf).filter(
          (n): n is number => n !== undefined,
        );
        const answer = await invoke(event, context);
        const handled = Date.now();
        for (const n of markers) {
          this.mark(n, 'invoked', invoked);
          this.mark(n, 'handled', handled);
        }
        return answer;
      },
    };
  }

  /** p50, p95 and max of each hop over the markers that passed every mark. */
  summary(): {
    markers: number;
    hops: Record<string, { what: string; p50_ms: number; p95_ms: number; max_ms: number }>;
  } {
    const complete = [...this.marks.values()].filter((m) => MARKS.every((k) => m[k] !== undefined)) as Record<
      Mark,
      number
    >[];
    const hops: Record<string, { what: string; p50_ms: number; p95_ms: number; max_ms: number }> = {};
    for (const hop of HOPS) {
      const times = complete.map((m) => m[hop.to] - m[hop.from]).sort((a, b) => a - b);
      hops[hop.name] = {
        what: hop.what,
        p50_ms: Math.round(percentile(times, 50)),
        p95_ms: Math.round(percentile(times, 95)),
        max_ms: Math.round(times[times.length - 1] ?? NaN),
      };
    }
    return { markers: complete.length, hops };
  }
}
