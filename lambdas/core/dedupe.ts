import type { NormalizedEvent } from './event';
import { padSequence } from './sequence';

/**
 * Producer retries send one event twice under two sequence numbers. Every layer keeps the same
 * single copy of an id: the one that arrived first (arrival time, then shard id, then sequence
 * number). The batch SQL orders its ROW_NUMBER() the same way; the speed layer keeps the first
 * copy it processes, which is that copy when the copies share a partition key (the ingestion API
 * uses the id as partition key, so its retries do).
 */
export function isEarlierCopy(
  a: Pick<NormalizedEvent, 'arrivedMs' | 'shardId' | 'seq'>,
  b: Pick<NormalizedEvent, 'arrivedMs' | 'shardId' | 'seq'>,
): boolean {
  if (a.arrivedMs !== b.arrivedMs) return a.arrivedMs < b.arrivedMs;
  if (a.shardId !== b.shardId) return a.shardId < b.shardId;
  return padSequence(a.seq) < padSequence(b.seq);
}

/** One copy per id (the earliest), and each stream record once however often it was delivered. */
export function canonicalCopies(events: Iterable<NormalizedEvent>): NormalizedEvent[] {
  const kept = new Map<string, NormalizedEvent>();
  for (const event of events) {
    const current = kept.get(event.id);
    if (current === undefined || isEarlierCopy(event, current)) kept.set(event.id, event);
  }
  return [...kept.values()];
}
