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
  /**
   * Deletes one page of those cells, from `cursor` (undefined: the first page); returns how many
   * and the cursor of the next page (undefined: none left).
   */
  deleteVersionPage(
    version: number,
    view: string,
    cursor: string | undefined,
  ): Promise<{ deleted: number; cursor: string | undefined }>;
}

/**
 * Progress of a replay: the replay's own fields, plus the totals each chunk reported of itself
 * (summed over chunks; a chunk's report replaces its previous one, so a chunk run again counts
 * once).
 */
export interface ReplayProgress {
  readonly objectsTotal: number | null;
  readonly objectsDone: number;
  readonly events: number;
  /** Newest arrival time folded in so far, epoch ms (for the lag behind live). */
  readonly replayedToMs: number | null;
  readonly phase: string | null;
  readonly updatedAt: number | null;
}

/** What one chunk has done so far, counted from its own start. */
export interface ChunkProgress {
  readonly objects: number;
  readonly events: number;
  /** Newest arrival time the chunk folded in, epoch ms; null before its first event. */
  readonly replayedToMs: number | null;
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
  /** Replaces the replay's own fields given; `reset` first forgets its fields and its chunks' reports. */
  setProgress(
    replayId: string,
    set: { readonly objectsTotal?: number; readonly phase?: string; readonly reset?: boolean },
  ): Promise<void>;
  /**
   * Replaces what chunk `chunkId` reported before (not added to it): a chunk retried after a
   * failure, locally or by Step Functions, counts from its start again and its objects and events
   * count once in readProgress.
   */
  reportChunk(replayId: string, chunkId: string, done: ChunkProgress): Promise<void>;
}

/** The archive as the replay reads it. */
export interface ArchiveReader {
  /** Keys of the objects under the prefix of accepted events, in key order. */
  list(): Promise<string[]>;
  /** One object's NDJSON text (decompressed). */
  read(key: string): Promise<string>;
}

/**
 * The deployed replay's claims of event ids across its parallel children (ADR 024): a first pass
 * offers every copy, so each id's claim ends holding its earliest copy (`copyOrderKey`); the
 * second pass folds a copy only when it is the one kept. Claims of different `scope`s (replay
 * ids) never meet, nor meet the live stream's.
 */
export interface ReplayCopyClaims {
  /** Keeps `copy` as the id's claim unless the claim holds a copy that sorts before it (or it). */
  offerCopy(eventId: string, copy: string, scope: string): Promise<void>;
  /** The copy each id's claim holds, read strongly consistent; ids never offered are absent. */
  keptCopies(eventIds: readonly string[], scope: string): Promise<Map<string, string>>;
  /**
   * For a copy no first pass offered (its object was archived after that pass listed the
   * archive): keeps `copy` unless the id has a claim already, and returns the copy kept.
   */
  claimCopyIfNone(eventId: string, copy: string, scope: string): Promise<string>;
}
