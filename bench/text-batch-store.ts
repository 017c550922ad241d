import { createHash } from 'node:crypto';
import { newestVisible, type BatchSelection } from '../lambdas/core/batch-lineage';
import { decodeRow, encodeRowText, type EncodedRow, type RowState } from '../lambdas/core/measures';
import type { BatchBucket } from '../lambdas/core/merge';
import { encodeKey } from '../lambdas/core/reducer';
import type { ViewDefinition } from '../lambdas/core/view';
import type { BatchViewStore, DeletedPage, SegmentMatch } from '../lambdas/ports/stores';

interface TextCell {
  readonly version: number;
  readonly bucketMs: number;
  /** The cell's state as the DynamoDB adapter stores it (`m`). */
  readonly text: string;
}

/**
 * A batch table in memory that keeps each cell as the text the DynamoDB adapter stores, grouped
 * by view and key: the benchmarks' full runs write millions of cells (30 days of 50 pages is
 * 2.2M), and the test store's decoded states (a sketch object per cell) took about 16 GB of heap
 * there. Not for tests: it checks nothing the DynamoDB adapter would refuse.
 */
export class TextBatchViewStore implements BatchViewStore {
  /** view -> encoded key -> `<segment>#<bucket>` -> cell. */
  private readonly cells = new Map<string, Map<string, Map<string, TextCell>>>();

  async writeCells(
    version: number,
    view: ViewDefinition,
    cells: readonly { key: readonly string[]; bucketMs: number; state: RowState }[],
  ): Promise<void> {
    let byKey = this.cells.get(view.name);
    if (!byKey) this.cells.set(view.name, (byKey = new Map()));
    for (const cell of cells) {
      const id = encodeKey(cell.key);
      let copies = byKey.get(id);
      if (!copies) byKey.set(id, (copies = new Map()));
      // One copy per (segment, bucket), as the DynamoDB layout's (pk, sk).
      copies.set(`${version}#${cell.bucketMs}`, {
        version,
        bucketMs: cell.bucketMs,
        text: encodeRowText(cell.state),
      });
    }
  }

  async query(
    version: number,
    view: ViewDefinition,
    key: readonly string[],
    fromMs: number,
    toMs: number,
    selection?: BatchSelection,
  ): Promise<BatchBucket[]> {
    const copies = [...(this.cells.get(view.name)?.get(encodeKey(key))?.values() ?? [])]
      .filter((c) => c.bucketMs >= fromMs && c.bucketMs < toMs)
      .map((c) => ({ ...c, segment: c.version }));
    return newestVisible(copies, version, selection).map((c) => ({
      bucketMs: c.bucketMs,
      state: decodeRow(view, JSON.parse(c.text) as EncodedRow),
    }));
  }

  /**
   * What a published version serves of a view, as a fingerprint: the number of cells and the sum
   * (mod 2^64) of each cell line's (`<key>|<bucket>|<stored text>`) first 8 SHA-1 bytes. Order
   * free, so nothing is sorted or held: two engines' 2.2M-cell snapshots, held as sorted strings
   * to compare them, ran the 10M bench out of a 12 GB heap. Equal fingerprints mean the same
   * cells but for a 2^-64 chance.
   */
  fingerprint(version: number, view: string, selection: BatchSelection | undefined): string {
    let count = 0;
    let sum = 0n;
    for (const [key, copies] of this.cells.get(view) ?? new Map<string, Map<string, TextCell>>())
      for (const c of newestVisible(
        [...copies.values()].map((cell) => ({ ...cell, segment: cell.version })),
        version,
        selection,
      )) {
        const digest = createHash('sha1').update(`${key}|${c.bucketMs}|${c.text}`).digest();
        sum = (sum + digest.readBigUInt64BE(0)) & 0xffffffffffffffffn;
        count++;
      }
    return `${count} cells, ${sum.toString(16)}`;
  }

  async deleteVersion(version: number): Promise<number> {
    return this.deleteWhere((v) => v === version);
  }

  async deleteSegmentsBefore(segment: number): Promise<number> {
    return this.deleteWhere((v) => v < segment);
  }

  async deleteSegmentsPage(segments: SegmentMatch): Promise<DeletedPage> {
    const deleted = this.deleteWhere((v) =>
      'version' in segments ? v === segments.version : v < segments.before,
    );
    return { deleted, cursor: undefined };
  }

  private deleteWhere(versions: (version: number) => boolean): number {
    let deleted = 0;
    for (const byKey of this.cells.values())
      for (const [key, copies] of byKey) {
        for (const [id, c] of copies)
          if (versions(c.version)) {
            copies.delete(id);
            deleted++;
          }
        if (copies.size === 0) byKey.delete(key);
      }
    return deleted;
  }
}
