import type { BatchSelection, PublishedLineage } from '../core/batch-lineage';
import type { SpeedRow, SpeedRowAddress } from '../core/fencing';
import type { RowState } from '../core/measures';
import type { BatchBucket, SpeedBucket } from '../core/merge';
import type { IdLogAppend, IdLogItem } from '../core/shard-id-index';
import type { ViewDefinition } from '../core/view';

/**
 * A speed row to be served was created under another definition of its view than the one it is
 * read with (the views module changed while it was being written, before a batch run covered
 * it): its states are not the view's now, and may not even decode under it.
 */
export class SpeedRowsOfAnotherDefinition extends Error {
  constructor(readonly view: string) {
    super(`speed rows of view "${view}" were written under another definition of it`);
    this.name = 'SpeedRowsOfAnotherDefinition';
  }
}

/** A speed row as stored, with the revision its conditional write is checked against. */
export interface StoredSpeedRow {
  readonly row: SpeedRow;
  readonly revision: number;
}

/** Speed rows: one per (view, key, bucket, arrival bucket). */
export interface SpeedRowStore {
  /**
   * Strongly consistent read of one row, as a new object on every call: the caller may change it
   * (the speed layer folds a batch into it in place).
   */
  read(view: ViewDefinition, address: SpeedRowAddress): Promise<StoredSpeedRow | undefined>;
  /**
   * Writes the row if its revision is still `expectedRevision` (undefined: the row must not
   * exist) and returns its new revision; undefined when another writer got there first: read
   * again and re-apply. A created row gets a random revision (core/fencing nextRevision), so a row deleted
   * and created again never repeats a revision a writer may still hold.
   */
  write(
    view: ViewDefinition,
    address: SpeedRowAddress,
    row: SpeedRow,
    expectedRevision: number | undefined,
  ): Promise<number | undefined>;
  /**
   * Rows of one key with buckets in [fromMs, toMs). Rows whose arrival bucket is before
   * `arrivedFromMs` may be left out: the serving merge skips them (the batch view holds their
   * events), so a store that can drop them early saves decoding them. Throws
   * SpeedRowsOfAnotherDefinition, before decoding any, when a row it would return was created
   * under another definition of the view (writes keep the fingerprint of the row's creation).
   */
  query(
    view: ViewDefinition,
    key: readonly string[],
    fromMs: number,
    toMs: number,
    arrivedFromMs?: number,
  ): Promise<SpeedBucket[]>;
  /** A view's rows whose arrival bucket lies in [fromMs, toMs) (reconciliation). */
  listArrived(
    view: ViewDefinition,
    fromMs: number,
    toMs: number,
  ): Promise<(SpeedRowAddress & { readonly state: RowState })[]>;
  /** Deletes rows whose arrival bucket is before `arrivalBeforeMs` (a published batch covers them). */
  deleteArrivedBefore(arrivalBeforeMs: number): Promise<number>;
  /** One page of `deleteArrivedBefore`, from `cursor` (undefined: the first page). */
  deleteArrivedBeforePage(arrivalBeforeMs: number, cursor: string | undefined): Promise<DeletedPage>;
  count(): Promise<number>;
  /**
   * Records, once for the table's life (the first call wins), the fingerprint of each view the
   * speed layer started writing with: before any batch version exists, a view not among them
   * (added or changed since) lacks the events processed before it, and is not served.
   */
  recordOrigin(views: readonly ViewDefinition[]): Promise<void>;
  /** The fingerprints recordOrigin kept, by view name; undefined before any speed batch ran. */
  readOrigin(): Promise<Readonly<Record<string, string>> | undefined>;
}

/**
 * Per-shard logs of the event ids the speed layer kept (ADR 008): one item per batch that kept a
 * new id, keyed by shard and the item's position in the log. Items are never changed once
 * written, and each is written into the position right after the newest one its writer read, on
 * the condition that the position is free: two writers that decided from the same state compete
 * for one position and the loser reads again, so a reader that has read up to a position has
 * seen everything written before it.
 */
export interface ShardIdLog {
  /** Items appended after `afterSortKey` (all when undefined), ascending, strongly consistent. */
  readAfter(shardId: string, afterSortKey: string | undefined): Promise<IdLogItem[]>;
  /**
   * The newest items, back to and including the first whose `lastArrivedMs` is before
   * `sinceMs` (an item spans a batch's arrivals), returned ascending.
   */
  readRecent(shardId: string, sinceMs: number): Promise<IdLogItem[]>;
  /**
   * Writes an item into the positions right after `afterSortKey` (the newest sort key the caller
   * has read; undefined when it read none), split into several stored items when it is too large
   * for one. Returns the sort key of the last one, or undefined when a position was already taken
   * (another writer appended since the caller read: read after `afterSortKey` and decide again).
   */
  append(shardId: string, afterSortKey: string | undefined, item: IdLogAppend): Promise<string | undefined>;
}

/** What a claim found. */
export interface ClaimOutcome {
  /** This record owns the id: it claimed it now, or it claimed it on an earlier delivery. */
  readonly owned: boolean;
  /** When not owned: the record that owns the id (`<shard>/<sequence>`) and when it arrived. */
  readonly kept?: { readonly owner: string; readonly arrivedMs: number | undefined };
}

/** Event-id claims of the speed layer's event-level dedupe. */
export interface EventClaims {
  /**
   * Claims `eventId` for `owner` (the stream record `<shard>/<sequence>`, or a replay chunk's
   * fence), which arrived at `arrivedMs`. Claims of different `scope`s never meet: the live
   * stream's have none, a replay's have its replay id. A scope must not be spelled into the id:
   * an event id is any string, so the live id `replay-2#abc` would be replay 2's claim of `abc`.
   */
  claim(eventId: string, owner: string, arrivedMs: number, scope?: string): Promise<ClaimOutcome>;
  /**
   * Records, once per copy however often it is redelivered, that the copy `owner` of `eventId`
   * arrived before the copy the speed layer kept: batch and replay keep this one instead, so
   * while a cutoff lies between the two arrivals the merged answer counts the event twice.
   */
  noteEarlierCopy(eventId: string, owner: string): Promise<void>;
  /** How many such copies were recorded (GET /admin/status, the KeptCopyConflicts metric). */
  earlierCopiesNoted(): Promise<number>;
}

/**
 * Batch view cells, kept per segment: the run numbered `version` writes the cells it recomputed
 * as segment `version` (core/batch-lineage.ts).
 */
export interface BatchViewStore {
  writeCells(
    version: number,
    view: ViewDefinition,
    cells: readonly { key: readonly string[]; bucketMs: number; state: RowState }[],
  ): Promise<void>;
  /**
   * One key's cells of published `version` with buckets in [fromMs, toMs): per bucket the copy of
   * the newest segment the selection holds; without a selection (a pointer published before
   * incremental runs), the cells of that whole version.
   */
  query(
    version: number,
    view: ViewDefinition,
    key: readonly string[],
    fromMs: number,
    toMs: number,
    selection?: BatchSelection,
  ): Promise<BatchBucket[]>;
  /** Deletes the cells of one segment (a run that never published); returns how many. */
  deleteVersion(version: number): Promise<number>;
  /** Deletes the cells of every segment below `segment` (nothing served or kept reads them); returns how many. */
  deleteSegmentsBefore(segment: number): Promise<number>;
  /**
   * One page of `deleteVersion` (`{version}`) or `deleteSegmentsBefore` (`{before}`), from
   * `cursor` (undefined: the first page).
   */
  deleteSegmentsPage(segments: SegmentMatch, cursor: string | undefined): Promise<DeletedPage>;
}

/** The segments a deletion removes: one segment, or every segment below a number. */
export type SegmentMatch = { readonly version: number } | { readonly before: number };

/**
 * What one page of a deletion removed, and where the next page starts (undefined: nothing left).
 * The cursor is text the caller hands back unchanged, also across invocations: a deletion of
 * millions of items goes on over as many of them as it takes (a Scan page reads at most 1 MB:
 * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Scan.html).
 */
export interface DeletedPage {
  readonly deleted: number;
  readonly cursor: string | undefined;
}

/** What the serving layer reads: which batch version is current and the arrival time it covers. */
export interface ServingPointer {
  readonly version: number;
  readonly cutoffMs: number;
  readonly publishedAt: string;
  /**
   * Which segments make up each view's state of this version (absent: a pointer written before
   * incremental runs, whose version holds every cell itself).
   */
  readonly lineage?: PublishedLineage;
  /** The version published before this one (kept until the next publish, for in-flight queries and rollback). */
  readonly previous: {
    readonly version: number;
    readonly cutoffMs: number;
    readonly lineage?: PublishedLineage;
  } | null;
}

export interface ControlStore {
  /** Strongly consistent read of the pointer; null before the first batch run. */
  readPointer(): Promise<ServingPointer | null>;
  /** Publishes in one conditional write; false when the current version is no longer `expectedVersion`. */
  publish(next: ServingPointer, expectedVersion: number | null): Promise<boolean>;
  /** Takes the next version number (atomic counter), so concurrent runs never share one. */
  nextVersion(): Promise<number>;
}
