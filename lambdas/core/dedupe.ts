import type { NormalizedEvent } from './event';
import { checkSequence, padSequence } from './sequence';

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

/**
 * A copy's place in the order isEarlierCopy gives, as text that sorts the same way (code unit by
 * code unit, which is also DynamoDB's byte order for this ASCII text): the deployed replay's
 * children keep the least of these in one conditional write each, without reading another
 * child's copy (ADR 024). Arrival time is zero-padded, the sequence number is prefixed by its
 * length (Kinesis writes it without leading zeros, so a longer one is larger; zeros a producer of
 * archive lines wrote are dropped first), and a space ends each part: it sorts below every
 * character Kinesis allows in a shard id (`[a-zA-Z0-9_.-]+`), so a shard id that is a prefix of
 * another sorts first, as in isEarlierCopy. The object key last breaks the tie between the same
 * stream record archived twice (a Firehose redelivery writes it into a second object): exactly one
 * of them is kept.
 */
export function copyOrderKey(
  copy: Pick<NormalizedEvent, 'arrivedMs' | 'shardId' | 'seq'>,
  objectKey: string,
): string {
  if (!Number.isSafeInteger(copy.arrivedMs) || copy.arrivedMs < 0)
    throw new Error(
      `${objectKey}: arrival time (_am) ${copy.arrivedMs} is not a whole number of ms since 1970; the archiver writes whole ms, so this line was written by something else: fix or remove it`,
    );
  // Validated, then its leading zeros dropped: no 129-character pad per copy on the replay's path.
  const digits = checkSequence(copy.seq).replace(/^0+(?=\d)/, '');
  return `${String(copy.arrivedMs).padStart(16, '0')} ${copy.shardId} ${String(digits.length).padStart(3, '0')}${digits} ${objectKey}`;
}
