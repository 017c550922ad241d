/**
 * The ingest handler's CPU path (POST /events: parse, validate against the views, stamp ids and
 * times, encode the stream records) over requests of `perRequest` clickstream events, beside bare
 * `JSON.parse` of the very same bodies in the same run. The stream is a no-op: PutRecords is
 * measured apart (kinesis_emulator_put_records_per_s).
 * Run: npx tsx bench/ingest-handler.ts [events=100000] [perRequest=500]
 */
import type { EventStream } from '../lambdas/ports/event-stream';
import { ingestEvents } from '../lambdas/services/ingest-events';
import { CLICKSTREAM_VIEWS } from './speed-handler';

export interface IngestHandlerFigures {
  readonly events: number;
  readonly perRequest: number;
  readonly bareParseEventsPerS: number;
  readonly ingestHandlerEventsPerS: number;
  readonly ratio: number;
}

/** Accepts every entry at once (refuses none), as a stream with room for them. */
const acceptingStream: EventStream = { putRecords: async () => [] };

/** Request bodies of `perRequest` ~180-byte events each. */
function bodies(events: number, perRequest: number): string[] {
  const out: string[] = [];
  const base = Date.UTC(2026, 10, 24, 10);
  for (let o = 0; o < events; o += perRequest) {
    const batch = [];
    for (let i = o; i < Math.min(events, o + perRequest); i++)
      batch.push({
        id: `evt-${i.toString(36)}`,
        type: 'page.view',
        time: new Date(base + i).toISOString(),
        page: `/p${i % 1000}`,
        userId: `u${(i * 7919) % 20_000}`,
        amount: (i % 1000) / 100,
        latencyMs: i % 997,
      });
    out.push(JSON.stringify({ events: batch }));
  }
  return out;
}

/** Times bare parsing, then the handler's path, over the same bodies (best of `rounds`). */
export async function measureIngestHandler(
  events: number,
  perRequest: number,
  rounds = 3,
): Promise<IngestHandlerFigures> {
  const requests = bodies(events, perRequest);
  const deps = {
    views: CLICKSTREAM_VIEWS,
    stream: acceptingStream,
    clock: { now: () => Date.now() },
    maxBodyBytes: 1_048_576,
  };
  let bare = Infinity;
  let handler = Infinity;
  let sink = 0;
  for (let round = 0; round < rounds; round++) {
    let t = performance.now();
    for (const body of requests) sink += (JSON.parse(body) as { events: unknown[] }).events.length;
    bare = Math.min(bare, performance.now() - t);
    t = performance.now();
    for (const body of requests) {
      const answer = await ingestEvents(body, deps);
      if (answer.status !== 202)
        throw new Error(`ingest answered ${answer.status}: ${JSON.stringify(answer.body)}`);
      sink++;
    }
    handler = Math.min(handler, performance.now() - t);
  }
  if (sink === 0) throw new Error('nothing was processed');
  const bareRate = events / (bare / 1000);
  const handlerRate = events / (handler / 1000);
  return {
    events,
    perRequest,
    bareParseEventsPerS: Math.round(bareRate),
    ingestHandlerEventsPerS: Math.round(handlerRate),
    ratio: Number((handlerRate / bareRate).toFixed(3)),
  };
}

if (require.main === module) {
  const events = Number(process.argv[2] ?? 100_000);
  const perRequest = Number(process.argv[3] ?? 500);
  void measureIngestHandler(events, perRequest).then((f) => console.log(JSON.stringify(f)));
}
