import type { KappaCell, KappaPointers } from '../core/kappa';
import type { CellAddress } from '../core/reducer';
import type { ViewDefinition } from '../core/view';

/** A stored Kappa cell with the revision its conditional write is checked against. */
export interface StoredKappaCell {
  readonly cell: KappaCell;
  readonly revision: number;
}

/** Versioned Kappa cells (the Kappa table): one item per (version, view, key, bucket). */
export interface KappaCellStore {
  /** Strongly consistent read of one cell. */
  read(version: number, view: ViewDefinition, address: CellAddress): Promise<StoredKappaCell | undefined>;
  /**
   * Writes the cell if its revision is still `expectedRevision` (undefined: it must not exist).
   * False when another writer got there first: read again and re-apply.
   */
  write(
    version: number,
    view: ViewDefinition,
    address: CellAddress,
    cell: KappaCell,
    expectedRevision: number | undefined,
  ): Promise<boolean>;
  /** Cells of one key with buckets in [fromMs, toMs), in bucket order. */
  query(
    version: number,
    view: ViewDefinition,
    key: readonly string[],
    fromMs: number,
    toMs: number,
  ): Promise<{ bucketMs: number; cell: KappaCell }[]>;
  /** Deletes one view's cells of a version (a dropped or failed version); returns how many. */
  deleteVersion(version: number, view: string): Promise<number>;
}

/** Progress of a replay, counted by the chunks as they complete (atomic counters: chunks run in parallel). */
export interface ReplayProgress {
  readonly objectsTotal: number | null;
  readonly objectsDone: number;
  readonly events: number;
  /** Newest arrival time folded in so far, epoch ms (for the lag behind live). */
  readonly replayedToMs: number | null;
  readonly phase: string | null;
  readonly updatedAt: number | null;
}

/** The Kappa control items: pointers and replay record (one item), progress, the version counter. */
export interface KappaControlStore {
  /** Strongly consistent read of the pointers and the newest replay. */
  read(): Promise<KappaPointers>;
  /** Replaces pointers and replay in one conditional write on `expectedRevision`; false if they changed. */
  write(next: Omit<KappaPointers, 'revision'>, expectedRevision: number): Promise<boolean>;
  /** Takes the next version number (atomic counter). */
  nextVersion(): Promise<number>;
  readProgress(replayId: string): Promise<ReplayProgress>;
  /** Adds to the counters; `set` fields replace (reset, total, phase). */
  addProgress(
    replayId: string,
    add: { readonly objects?: number; readonly events?: number },
    set?: {
      readonly objectsTotal?: number;
      readonly replayedToMs?: number;
      readonly phase?: string;
      readonly reset?: boolean;
    },
  ): Promise<void>;
}

/** The archive as the replay reads it. */
export interface ArchiveReader {
  /** Keys of the objects under the prefix of accepted events, in key order. */
  list(): Promise<string[]>;
  /** One object's NDJSON text (decompressed). */
  read(key: string): Promise<string>;
}
