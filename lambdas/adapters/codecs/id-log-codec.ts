import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { IdLogEntry } from '../../core/shard-id-index';

/**
 * A shard id log item's entries as stored: JSON `[[id, seq], ...]`, raw-deflated. Sequence numbers
 * of one shard share long prefixes and ids often share a format, so a batch's entries shrink to
 * about a third, and DynamoDB bills writes per started KB.
 */
export function encodeIdLogEntries(entries: readonly IdLogEntry[]): Buffer {
  const pairs: [string, string][] = entries.map((e) => [e.id, e.seq]);
  // Level 1: the speed layer pays this per batch; higher levels gain little on this data.
  return deflateRawSync(JSON.stringify(pairs), { level: 1 });
}

export function decodeIdLogEntries(data: Uint8Array): IdLogEntry[] {
  const pairs = JSON.parse(inflateRawSync(data).toString('utf8')) as unknown;
  if (!Array.isArray(pairs))
    throw new Error('id log item: entries are not a list; was it written by streamfold?');
  return pairs.map((pair: unknown) => {
    if (!Array.isArray(pair) || typeof pair[0] !== 'string' || typeof pair[1] !== 'string')
      throw new Error(`id log item: malformed entry ${JSON.stringify(pair)}`);
    return { id: pair[0], seq: pair[1] };
  });
}

/**
 * Splits entries into parts whose JSON stays under `maxBytes` (before compression, which only
 * shrinks this data), so each part fits one DynamoDB item (400 KB).
 */
export function splitIdLogEntries(entries: readonly IdLogEntry[], maxBytes: number): IdLogEntry[][] {
  const parts: IdLogEntry[][] = [];
  let part: IdLogEntry[] = [];
  let bytes = 0;
  for (const entry of entries) {
    // Quotes, comma and brackets; an id's escapes can at most sextuple it (\u0000).
    const size = 6 * Buffer.byteLength(entry.id) + entry.seq.length + 8;
    if (part.length > 0 && bytes + size > maxBytes) {
      parts.push(part);
      part = [];
      bytes = 0;
    }
    part.push(entry);
    bytes += size;
  }
  if (part.length > 0) parts.push(part);
  return parts;
}

/**
 * Log positions: `n` and a 16-digit counter, so they sort in append order as strings. The padded
 * sequence numbers that earlier versions used as sort keys are outside the range the adapters
 * read (ADR 008: for one window after an upgrade, the ids those items hold are not known).
 */
const POSITION = /^n(\d{16})$/;

/** The position after `after` (the newest position a writer read), or the first one. */
export function nextIdLogPosition(after: string | undefined): string {
  const match = after === undefined ? null : POSITION.exec(after);
  const next = match ? Number(match[1]) + 1 : 1;
  return `n${String(next).padStart(16, '0')}`;
}
