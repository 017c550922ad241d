import { decodeRow, type EncodedRow, type RowState } from '../../core/measures';
import type { ViewDefinition } from '../../core/view';

interface Decoded {
  readonly rev: number;
  readonly text: string;
  readonly state: RowState;
  readonly bytes: number;
}

/**
 * Speed rows as decoded by earlier reads, so a query function re-decodes only the rows that
 * changed since (parsing a row's JSON and its sketch's sparse text was most of a GET /views over
 * a day of late rows). A row is taken from here only when both its revision and its stored text
 * are the ones it was decoded from: the text decides (decoding is a function of the text and the
 * view), so a value is never served from here after the row changed, even if a deleted row were
 * written again under a revision it had before. The revision is the cheap first check.
 *
 * The decoded states are shared between reads: callers must not mutate them (the merge and the
 * measures build new states). Bounded by an estimate of the bytes held; the first-decoded rows
 * go first (no reordering on a hit: a hit costs one map lookup and a string comparison).
 */
export class DecodedSpeedRows {
  private readonly rows = new Map<string, Decoded>();
  private bytes = 0;
  hits = 0;
  misses = 0;

  /** @param maxBytes what the held texts and states may take, estimated. @default 64 MiB */
  constructor(private readonly maxBytes = 64 * 1024 * 1024) {}

  /** The state of the row stored under `id` (table key) at revision `rev` with text `text`. */
  decode(view: ViewDefinition, id: string, rev: number, text: string): RowState {
    const cacheId = `${view.name}\u0000${id}`;
    const held = this.rows.get(cacheId);
    if (held !== undefined && held.rev === rev && held.text === text) {
      this.hits++;
      return held.state;
    }
    this.misses++;
    const state = decodeRow(view, JSON.parse(text) as EncodedRow);
    if (held !== undefined) {
      this.rows.delete(cacheId);
      this.bytes -= held.bytes;
    }
    // The text twice (the string, and the sketch registers it decodes to, about as large) and the keys.
    const bytes = 200 + cacheId.length * 2 + text.length * 4;
    if (bytes > this.maxBytes) return state;
    this.rows.set(cacheId, { rev, text, state, bytes });
    this.bytes += bytes;
    for (const [oldest, row] of this.rows) {
      if (this.bytes <= this.maxBytes) break;
      this.rows.delete(oldest);
      this.bytes -= row.bytes;
    }
    return state;
  }

  /** Rows held now. */
  get size(): number {
    return this.rows.size;
  }
}
