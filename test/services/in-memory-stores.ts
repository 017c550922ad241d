import { nextRevision, speedRowId, type SpeedRow, type SpeedRowAddress } from '../../lambdas/core/fencing';
import { decodeRow, encodeRowText, type EncodedRow, type RowState } from '../../lambdas/core/measures';
import type { BatchBucket, SpeedBucket } from '../../lambdas/core/merge';
import type { IdLogAppend, IdLogItem } from '../../lambdas/core/shard-id-index';
import {
  decodeIdLogEntries,
  encodeIdLogEntries,
  nextIdLogPosition,
} from '../../lambdas/adapters/codecs/id-log-codec';
import { batchPartition, padTime, speedPartition } from '../../lambdas/adapters/aws/dynamodb-keys';
import { newestVisible, viewFingerprint, type BatchSelection } from '../../lambdas/core/batch-lineage';
import { cellId, DYNAMODB_MAX_PARTITION_KEY_BYTES, encodeKey, utf8Bytes } from '../../lambdas/core/reducer';
import type { BatchResultRow } from '../../lambdas/core/batch-result-row';
import type { SqlDialectName } from '../../lambdas/core/sql-dialect';
import type { ViewDefinition } from '../../lambdas/core/view';
import type { ArchiveWatermark } from '../../lambdas/ports/archive';
import type { Clock } from '../../lambdas/ports/clock';
import type { EventStream, StreamEntry } from '../../lambdas/ports/event-stream';
import type { ReplayCopyClaims } from '../../lambdas/ports/kappa';
import type { QueryEngine } from '../../lambdas/ports/query-engine';
import {
  SpeedRowsOfAnotherDefinition,
  type BatchViewStore,
  type ClaimOutcome,
  type ControlStore,
  type DeletedPage,
  type EventClaims,
  type SegmentMatch,
  type ShardIdLog,
  type ServingPointer,
  type SpeedRowStore,
  type StoredSpeedRow,
} from '../../lambdas/ports/stores';

/**
 * In-memory ports for the services' unit tests. Each keeps the semantics its DynamoDB, Kinesis or
 * Athena adapter promises (conditional writes on a revision, claims owned by one record, a
 * conditional pointer flip, per-entry refusals) and has switches to inject the failures the
 * services must survive. Rows are stored encoded (as the DynamoDB adapter stores them), so a
 * service that kept mutating a state after writing it would not change what is stored.
 *
 * Stores given the same `log` array record their effects in it, in order, e.g.
 * `cells v1 clicks`, `publish v1`, `delete v0`, `speed delete <1000`.
 */
export type CallLog = string[];

const sameKey = (a: readonly string[], b: readonly string[]) => encodeKey(a) === encodeKey(b);

interface StoredRow {
  readonly address: SpeedRowAddress;
  /** The states as the DynamoDB adapter's `m` attribute holds them (JSON text). */
  readonly state: string;
  readonly fences: Readonly<Record<string, string>>;
  readonly revision: number;
  /** The fingerprint of the definition the row was created under (the adapter's `d`). */
  readonly definition: string;
}

export type WriteOutcome = 'written' | 'conflict' | 'error';

export class InMemorySpeedRowStore implements SpeedRowStore {
  private readonly rows = new Map<string, StoredRow>();
  /** Every write attempt, in order, with its outcome. */
  readonly writes: {
    address: SpeedRowAddress;
    expectedRevision: number | undefined;
    outcome: WriteOutcome;
    /** Size of the item as the DynamoDB adapter writes it (states and fences as JSON, keys), when written. */
    bytes?: number;
    /** Size of the PutItem request body the SDK would send, when written. */
    requestBytes?: number;
  }[] = [];
  readonly deletedBefore: number[] = [];
  private failNext = 0;
  private conflictNext = 0;
  private failWhere: ((address: SpeedRowAddress) => boolean) | undefined;
  private beforeWriteHooks: ((address: SpeedRowAddress) => Promise<void>)[] = [];

  constructor(
    private readonly views: readonly ViewDefinition[],
    /** Effects are recorded only when a log is given: the bench runs without one, as DynamoDB keeps none. */
    private readonly log?: CallLog,
  ) {}

  /** The next `n` writes throw (throttling, a network error). */
  failNextWrites(n: number): this {
    this.failNext = n;
    return this;
  }

  /** The next `n` writes lose their condition (as if another writer had just written the row). */
  conflictNextWrites(n: number): this {
    this.conflictNext = n;
    return this;
  }

  /** Every write of a row matching `predicate` throws, until cleared with undefined. */
  failWritesWhere(predicate: ((address: SpeedRowAddress) => boolean) | undefined): this {
    this.failWhere = predicate;
    return this;
  }

  /**
   * Runs `hook` just before the next write is checked: a concurrent writer (e.g. another delivery
   * of the same records) that changes the row between the service's read and its write.
   */
  beforeNextWrite(hook: (address: SpeedRowAddress) => Promise<void>): this {
    this.beforeWriteHooks.push(hook);
    return this;
  }

  private view(name: string): ViewDefinition {
    const view = this.views.find((v) => v.name === name);
    if (!view) throw new Error(`InMemorySpeedRowStore: unknown view ${name}`);
    return view;
  }

  private decoded(stored: StoredRow): StoredSpeedRow {
    return {
      row: {
        state: decodeRow(this.view(stored.address.view), JSON.parse(stored.state) as EncodedRow),
        fences: { ...stored.fences },
      },
      revision: stored.revision,
    };
  }

  async read(_view: ViewDefinition, address: SpeedRowAddress): Promise<StoredSpeedRow | undefined> {
    const stored = this.rows.get(speedRowId(address));
    return stored && this.decoded(stored);
  }

  async write(
    view: ViewDefinition,
    address: SpeedRowAddress,
    row: SpeedRow,
    expectedRevision: number | undefined,
  ): Promise<number | undefined> {
    const hook = this.beforeWriteHooks.shift();
    if (hook) await hook(address);
    const attempt = (outcome: WriteOutcome) => this.writes.push({ address, expectedRevision, outcome });
    if (this.failNext > 0 || this.failWhere?.(address)) {
      if (this.failNext > 0) this.failNext--;
      attempt('error');
      throw new Error('ProvisionedThroughputExceededException: injected');
    }
    if (this.conflictNext > 0) {
      this.conflictNext--;
      attempt('conflict');
      return undefined;
    }
    const id = speedRowId(address);
    if (this.rows.get(id)?.revision !== expectedRevision) {
      attempt('conflict');
      return undefined;
    }
    const revision = nextRevision(expectedRevision);
    // The two JSON texts the DynamoDB adapter writes (`m`, `f`), built the same way.
    const state = encodeRowText(row.state);
    const fences = JSON.stringify(row.fences);
    // And the request body the SDK would serialize from them (DynamoDB's JSON protocol), so the
    // bench pays that pass over the sketch text too: the adapter's cost does not end at `m`.
    const request = JSON.stringify({
      Item: {
        pk: { S: speedPartition(address.view, address.key) },
        sk: { S: `${padTime(address.bucketMs)}#${padTime(address.arrivalBucketMs)}` },
        m: { S: state },
        f: { S: fences },
        rev: { N: String(revision) },
        b: { N: String(address.bucketMs) },
        a: { N: String(address.arrivalBucketMs) },
      },
    });
    // As the adapter's if_not_exists: a row keeps the definition it was created under.
    const definition = this.rows.get(id)?.definition ?? viewFingerprint(view);
    this.rows.set(id, { address, state, fences: { ...row.fences }, revision, definition });
    // Attribute names and numbers (pk, sk, rev, b, a) add about 100 bytes to the two JSON texts.
    const bytes = state.length + fences.length + id.length + 100;
    this.writes.push({ address, expectedRevision, outcome: 'written', bytes, requestBytes: request.length });
    this.log?.push(`speed write ${id}`);
    return revision;
  }

  async query(
    view: ViewDefinition,
    key: readonly string[],
    fromMs: number,
    toMs: number,
    arrivedFromMs?: number,
  ): Promise<SpeedBucket[]> {
    const definition = viewFingerprint(view);
    const mine = [...this.rows.values()].filter(
      (r) =>
        r.address.view === view.name &&
        sameKey(r.address.key, key) &&
        r.address.bucketMs >= fromMs &&
        r.address.bucketMs < toMs &&
        (arrivedFromMs === undefined || r.address.arrivalBucketMs >= arrivedFromMs),
    );
    if (mine.some((r) => r.definition !== definition)) throw new SpeedRowsOfAnotherDefinition(view.name);
    return this.all()
      .filter(
        (r) =>
          r.address.view === view.name &&
          sameKey(r.address.key, key) &&
          r.address.bucketMs >= fromMs &&
          r.address.bucketMs < toMs,
      )
      .map((r) => ({
        bucketMs: r.address.bucketMs,
        arrivalBucketMs: r.address.arrivalBucketMs,
        state: r.row.state,
      }));
  }

  async listArrived(
    view: ViewDefinition,
    fromMs: number,
    toMs: number,
  ): Promise<(SpeedRowAddress & { readonly state: RowState })[]> {
    return this.all()
      .filter(
        (r) =>
          r.address.view === view.name &&
          r.address.arrivalBucketMs >= fromMs &&
          r.address.arrivalBucketMs < toMs,
      )
      .map((r) => ({ ...r.address, state: r.row.state }));
  }

  /** Rows one deleteArrivedBeforePage deletes at most (a Scan page holds 1 MB); small, to make callers page. */
  deletePageSize = Number.POSITIVE_INFINITY;

  async deleteArrivedBeforePage(arrivalBeforeMs: number, cursor: string | undefined): Promise<DeletedPage> {
    if (this.deletePageSize === Number.POSITIVE_INFINITY)
      return { deleted: await this.deleteArrivedBefore(arrivalBeforeMs), cursor: undefined };
    if (cursor === undefined) this.deletedBefore.push(arrivalBeforeMs);
    const page = [...this.rows]
      .filter(([, stored]) => stored.address.arrivalBucketMs < arrivalBeforeMs)
      .map(([id]) => id);
    for (const id of page.slice(0, this.deletePageSize)) this.rows.delete(id);
    const left = page.length > this.deletePageSize;
    return {
      deleted: Math.min(page.length, this.deletePageSize),
      cursor: left ? `${cursor ?? ''}+` : undefined,
    };
  }

  async deleteArrivedBefore(arrivalBeforeMs: number): Promise<number> {
    this.deletedBefore.push(arrivalBeforeMs);
    this.log?.push(`speed delete <${arrivalBeforeMs}`);
    let deleted = 0;
    for (const [id, stored] of this.rows) {
      if (stored.address.arrivalBucketMs < arrivalBeforeMs) {
        this.rows.delete(id);
        deleted++;
      }
    }
    return deleted;
  }

  async count(): Promise<number> {
    return this.rows.size;
  }

  private origin: Record<string, string> | undefined;

  async recordOrigin(views: readonly ViewDefinition[]): Promise<void> {
    this.origin ??= Object.fromEntries(views.map((v) => [v.name, viewFingerprint(v)]));
  }

  async readOrigin(): Promise<Readonly<Record<string, string>> | undefined> {
    return this.origin;
  }

  /** Every row, decoded, in id order. */
  all(): (StoredSpeedRow & { address: SpeedRowAddress })[] {
    return [...this.rows.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, stored]) => ({ address: stored.address, ...this.decoded(stored) }));
  }

  /** Puts a row directly (seeding a test), with revision 1 or one above the current. */
  seed(address: SpeedRowAddress, state: RowState, fences: Record<string, string> = {}): void {
    const id = speedRowId(address);
    this.rows.set(id, {
      address,
      state: encodeRowText(state),
      fences,
      revision: (this.rows.get(id)?.revision ?? 0) + 1,
      definition: this.rows.get(id)?.definition ?? viewFingerprint(this.view(address.view)),
    });
  }
}

/**
 * Shard id logs in memory. Entries are encoded with the DynamoDB adapter's codec, so the bench
 * pays the same compression and `bytes` is what DynamoDB would bill writes by.
 */
export class InMemoryShardIdLog implements ShardIdLog {
  private readonly shards = new Map<string, { sortKey: string; lastArrivedMs: number; data: Buffer }[]>();
  /** Every append: the shard and the stored size in bytes (entries only). */
  readonly appends: { shardId: string; bytes: number }[] = [];
  private failNext = 0;

  /** The next `n` appends throw (throttling; or, with `land`, after storing: a lost reply). */
  failNextAppends(n: number, land = false): this {
    this.failNext = n;
    this.landFailed = land;
    return this;
  }

  private landFailed = false;

  async readAfter(shardId: string, afterSortKey: string | undefined): Promise<IdLogItem[]> {
    return (this.shards.get(shardId) ?? [])
      .filter((i) => afterSortKey === undefined || i.sortKey > afterSortKey)
      .map((i) => ({
        sortKey: i.sortKey,
        lastArrivedMs: i.lastArrivedMs,
        entries: decodeIdLogEntries(i.data),
      }));
  }

  async readRecent(shardId: string, sinceMs: number): Promise<IdLogItem[]> {
    const all = await this.readAfter(shardId, undefined);
    let from = 0;
    for (let i = all.length - 1; i >= 0; i--) {
      if (all[i].lastArrivedMs < sinceMs) {
        from = i;
        break;
      }
    }
    return all.slice(from);
  }

  /**
   * The next append waits until `land` is called, then lands as DynamoDB would land it then: a
   * request of a timed-out invocation, or of a runtime that died, arriving late. `entered`
   * resolves once that append was made; `landed` with the position it took (undefined: taken).
   */
  holdNextAppend(): { land: () => void; entered: Promise<void>; landed: Promise<string | undefined> } {
    let land!: () => void;
    const gate = new Promise<void>((resolve) => (land = resolve));
    let enter!: () => void;
    const entered = new Promise<void>((resolve) => (enter = resolve));
    let settle!: (position: string | undefined) => void;
    const landed = new Promise<string | undefined>((resolve) => (settle = resolve));
    this.held = { gate, enter, settle };
    return { land, entered, landed };
  }

  /** Drops a hold no append has entered yet. */
  cancelHold(): void {
    this.held = undefined;
  }

  private held?: {
    gate: Promise<void>;
    enter: () => void;
    settle: (position: string | undefined) => void;
  };

  async append(
    shardId: string,
    afterSortKey: string | undefined,
    item: IdLogAppend,
  ): Promise<string | undefined> {
    const held = this.held;
    this.held = undefined;
    if (held) {
      held.enter();
      await held.gate;
    }
    const fail = this.failNext > 0;
    if (fail) this.failNext--;
    if (fail && !this.landFailed) throw new Error('ProvisionedThroughputExceededException: injected');
    const data = encodeIdLogEntries(item.entries);
    const items = this.shards.get(shardId) ?? [];
    const sortKey = nextIdLogPosition(afterSortKey);
    // The DynamoDB adapter's condition: a position is written once.
    const taken = items.some((i) => i.sortKey === sortKey);
    if (!taken) {
      items.push({ sortKey, lastArrivedMs: item.lastArrivedMs, data });
      items.sort((a, b) => (a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0));
      this.shards.set(shardId, items);
      this.appends.push({ shardId, bytes: data.length });
    }
    held?.settle(taken ? undefined : sortKey);
    if (fail) throw new Error('socket hang up: injected after the append landed');
    return taken ? undefined : sortKey;
  }
}

export class InMemoryEventClaims implements EventClaims, ReplayCopyClaims {
  /** Event id -> owning record (`<shard>/<sequence>`): the live stream's claims. */
  readonly owners = new Map<string, { owner: string; arrivedMs: number }>();
  /** A replay's claims (scope: its replay id), apart from the live ones as the adapter keeps them. */
  readonly scoped = new Map<string, Map<string, { owner: string; arrivedMs: number }>>();

  private ownersIn(scope: string | undefined): Map<string, { owner: string; arrivedMs: number }> {
    if (scope === undefined) return this.owners;
    let owners = this.scoped.get(scope);
    if (owners === undefined) this.scoped.set(scope, (owners = new Map()));
    return owners;
  }
  readonly calls: { eventId: string; owner: string; result: boolean | 'error' }[] = [];
  private readonly failing = new Set<string>();
  private readonly failingOnce = new Set<string>();
  private failNext = 0;

  /** Claims of these ids throw until cleared. */
  failFor(...eventIds: string[]): this {
    for (const id of eventIds) this.failing.add(id);
    return this;
  }

  /** The next claim of each of these ids throws; later claims of it succeed. */
  failOnceFor(...eventIds: string[]): this {
    for (const id of eventIds) this.failingOnce.add(id);
    return this;
  }

  clearFailures(): this {
    this.failing.clear();
    this.failingOnce.clear();
    this.failNext = 0;
    return this;
  }

  failNextClaims(n: number): this {
    this.failNext = n;
    return this;
  }

  /** Throws for an id set to fail (failFor, failOnceFor, failNextClaims). */
  private injectFailure(eventId: string, owner: string): void {
    if (this.failing.has(eventId) || this.failingOnce.delete(eventId) || this.failNext > 0) {
      if (this.failNext > 0) this.failNext--;
      this.calls.push({ eventId, owner, result: 'error' });
      throw new Error('ProvisionedThroughputExceededException: injected');
    }
  }

  async claim(eventId: string, owner: string, arrivedMs: number, scope?: string): Promise<ClaimOutcome> {
    this.injectFailure(eventId, owner);
    const owners = this.ownersIn(scope);
    const current = owners.get(eventId);
    if (current === undefined) owners.set(eventId, { owner, arrivedMs });
    const result = current === undefined || current.owner === owner;
    this.calls.push({ eventId, owner, result });
    return result ? { owned: true } : { owned: false, kept: current };
  }

  /** A replay's earliest-copy claims (ADR 024), by scope, then event id. */
  readonly copies = new Map<string, Map<string, string>>();

  private copiesIn(scope: string): Map<string, string> {
    let copies = this.copies.get(scope);
    if (copies === undefined) this.copies.set(scope, (copies = new Map()));
    return copies;
  }

  async offerCopy(eventId: string, copy: string, scope: string): Promise<void> {
    this.injectFailure(eventId, copy);
    const copies = this.copiesIn(scope);
    const current = copies.get(eventId);
    if (current === undefined || current > copy) copies.set(eventId, copy);
  }

  async keptCopies(eventIds: readonly string[], scope: string): Promise<Map<string, string>> {
    const copies = this.copiesIn(scope);
    const kept = new Map<string, string>();
    for (const id of eventIds) {
      const copy = copies.get(id);
      if (copy !== undefined) kept.set(id, copy);
    }
    return kept;
  }

  async claimCopyIfNone(eventId: string, copy: string, scope: string): Promise<string> {
    this.injectFailure(eventId, copy);
    const copies = this.copiesIn(scope);
    const current = copies.get(eventId);
    if (current !== undefined) return current;
    copies.set(eventId, copy);
    return copy;
  }

  private readonly earlier = new Set<string>();

  async noteEarlierCopy(eventId: string, owner: string): Promise<void> {
    this.earlier.add(`${eventId} ${owner}`);
  }

  async earlierCopiesNoted(): Promise<number> {
    return this.earlier.size;
  }
}

interface StoredCell {
  readonly version: number;
  readonly view: string;
  readonly key: readonly string[];
  readonly bucketMs: number;
  readonly state: RowState;
}

export class InMemoryBatchViewStore implements BatchViewStore {
  private readonly cells = new Map<string, StoredCell>();
  readonly deletedVersions: number[] = [];
  private failWhere: ((version: number, view: string) => boolean) | undefined;

  constructor(private readonly log: CallLog = []) {}

  /** writeCells throws for matching (version, view) until cleared with undefined. */
  failWritesWhere(predicate: ((version: number, view: string) => boolean) | undefined): this {
    this.failWhere = predicate;
    return this;
  }

  async writeCells(
    version: number,
    view: ViewDefinition,
    cells: readonly { key: readonly string[]; bucketMs: number; state: RowState }[],
  ): Promise<void> {
    if (this.failWhere?.(version, view.name)) {
      this.log.push(`cells v${version} ${view.name} failed`);
      throw new Error(`batch table write of ${view.name} failed: injected`);
    }
    for (const cell of cells) {
      // As DynamoDB (and dynalite) refuse it: the whole write fails.
      if (utf8Bytes(batchPartition(version, view.name, cell.key)) > DYNAMODB_MAX_PARTITION_KEY_BYTES)
        throw new Error(
          'One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes',
        );
    }
    for (const cell of cells) {
      // One copy per (segment, cell), as the DynamoDB layout's (pk, sk).
      const id = `${version}|${cellId({ view: view.name, key: cell.key, bucketMs: cell.bucketMs })}`;
      this.cells.set(id, {
        version,
        view: view.name,
        key: [...cell.key],
        bucketMs: cell.bucketMs,
        state: cell.state,
      });
    }
    this.log.push(`cells v${version} ${view.name}`);
  }

  async query(
    version: number,
    view: ViewDefinition,
    key: readonly string[],
    fromMs: number,
    toMs: number,
    selection?: BatchSelection,
  ): Promise<BatchBucket[]> {
    const copies = [...this.cells.values()]
      .filter((c) => c.view === view.name && sameKey(c.key, key) && c.bucketMs >= fromMs && c.bucketMs < toMs)
      .map((c) => ({ ...c, segment: c.version }));
    return newestVisible(copies, version, selection).map((c) => ({ bucketMs: c.bucketMs, state: c.state }));
  }

  /** Every cell of a view in published `version` (what queries of all its keys would answer). */
  snapshot(
    version: number,
    view: string,
    selection: BatchSelection | undefined,
  ): { key: string[]; bucketMs: number; state: RowState }[] {
    const byKey = new Map<string, (StoredCell & { segment: number })[]>();
    for (const cell of this.cells.values()) {
      if (cell.view !== view) continue;
      const id = JSON.stringify(cell.key);
      const copies = byKey.get(id) ?? [];
      copies.push({ ...cell, segment: cell.version });
      byKey.set(id, copies);
    }
    return [...byKey.values()].flatMap((copies) =>
      newestVisible(copies, version, selection).map((c) => ({
        key: [...c.key],
        bucketMs: c.bucketMs,
        state: c.state,
      })),
    );
  }

  /** Cells one deleteSegmentsPage deletes at most (a Scan page holds 1 MB); small, to make callers page. */
  deletePageSize = Number.POSITIVE_INFINITY;

  async deleteSegmentsPage(segments: SegmentMatch, cursor: string | undefined): Promise<DeletedPage> {
    const matches = (v: number) => ('version' in segments ? v === segments.version : v < segments.before);
    if (this.deletePageSize === Number.POSITIVE_INFINITY) {
      const deleted =
        'version' in segments
          ? await this.deleteVersion(segments.version)
          : await this.deleteSegmentsBefore(segments.before);
      return { deleted, cursor: undefined };
    }
    if (cursor === undefined) this.log.push(`delete ${JSON.stringify(segments)} paged`);
    const page = [...this.cells].filter(([, cell]) => matches(cell.version)).map(([id]) => id);
    for (const id of page.slice(0, this.deletePageSize)) this.cells.delete(id);
    const left = page.length > this.deletePageSize;
    return {
      deleted: Math.min(page.length, this.deletePageSize),
      cursor: left ? `${cursor ?? ''}+` : undefined,
    };
  }

  async deleteSegmentsBefore(segment: number): Promise<number> {
    let deleted = 0;
    for (const version of this.versions().filter((v) => v < segment))
      deleted += await this.deleteVersion(version);
    return deleted;
  }

  async deleteVersion(version: number): Promise<number> {
    this.deletedVersions.push(version);
    this.log.push(`delete v${version}`);
    let deleted = 0;
    for (const [id, cell] of this.cells) {
      if (cell.version === version) {
        this.cells.delete(id);
        deleted++;
      }
    }
    return deleted;
  }

  /** Versions that still have cells, ascending. */
  versions(): number[] {
    return [...new Set([...this.cells.values()].map((c) => c.version))].sort((a, b) => a - b);
  }

  cellCount(version: number): number {
    return [...this.cells.values()].filter((c) => c.version === version).length;
  }
}

export class InMemoryControlStore implements ControlStore {
  pointer: ServingPointer | null = null;
  private counter = 0;
  private rival: ServingPointer | undefined;

  constructor(private readonly log: CallLog = []) {}

  /** Just before the next publish is checked, another run publishes `pointer` (a lost race). */
  rivalPublishesFirst(pointer: ServingPointer): this {
    this.rival = pointer;
    return this;
  }

  /**
   * The next publish lands but answers as the DynamoDB adapter does after the SDK retried it
   * (its first answer lost): the retry's condition fails on the write itself.
   */
  loseNextPublishAnswer(): this {
    this.loseAnswer = true;
    return this;
  }

  private loseAnswer = false;

  async readPointer(): Promise<ServingPointer | null> {
    return this.pointer;
  }

  async publish(next: ServingPointer, expectedVersion: number | null): Promise<boolean> {
    if (this.loseAnswer && (this.pointer?.version ?? null) === expectedVersion) {
      this.loseAnswer = false;
      this.pointer = next;
      this.log.push(`publish v${next.version} (answer lost)`);
      return false;
    }
    if (this.rival) {
      this.pointer = this.rival;
      this.log.push(`publish v${this.rival.version} (rival)`);
      this.rival = undefined;
    }
    if ((this.pointer?.version ?? null) !== expectedVersion) {
      this.log.push(`publish v${next.version} refused`);
      return false;
    }
    this.pointer = next;
    this.log.push(`publish v${next.version}`);
    return true;
  }

  async nextVersion(): Promise<number> {
    return ++this.counter;
  }
}

export class InMemoryEventStream implements EventStream {
  /** Entries the stream accepted, in order. */
  readonly accepted: StreamEntry[] = [];
  /** The partition keys sent by each putRecords call. */
  readonly calls: string[][] = [];
  private readonly refusals = new Map<string, number>();
  private throwNext = 0;

  /** The next `n` putRecords calls throw as a whole (the SDK gave up: network, 5xx), writing nothing. */
  failNextCalls(n: number): this {
    this.throwNext = n;
    return this;
  }

  /** Refuses the entry with this partition key on its next `times` puts (Infinity: always). */
  refuse(partitionKey: string, times = Infinity): this {
    this.refusals.set(partitionKey, times);
    return this;
  }

  async putRecords(entries: readonly StreamEntry[]): Promise<number[]> {
    this.calls.push(entries.map((e) => e.partitionKey));
    if (this.throwNext > 0) {
      this.throwNext--;
      throw new Error('InternalFailure: injected');
    }
    const refused: number[] = [];
    entries.forEach((entry, i) => {
      const left = this.refusals.get(entry.partitionKey) ?? 0;
      if (left > 0) {
        this.refusals.set(entry.partitionKey, left - 1);
        refused.push(i);
      } else {
        this.accepted.push(entry);
      }
    });
    return refused;
  }
}

/** A query engine that answers each view's batch SQL with canned rows (it reads the view from the SQL's comment). */
export class CannedQueryEngine implements QueryEngine {
  readonly sql: string[] = [];
  readonly sources: { cutoffMs: number; arrivedFromMs?: number }[] = [];
  /** Runs throw while set. */
  failure: Error | undefined;
  /** What source() answers: null for an empty archive. */
  sourceSql: string | null = 'SELECT line FROM archive';

  constructor(
    readonly rows: Record<string, BatchResultRow[]> = {},
    readonly dialect: SqlDialectName = 'duckdb',
    private readonly log: CallLog = [],
  ) {}

  async source(cutoffMs: number, arrivedFromMs?: number): Promise<string | null> {
    this.sources.push(arrivedFromMs === undefined ? { cutoffMs } : { cutoffMs, arrivedFromMs });
    return this.sourceSql;
  }

  async run(sql: string): Promise<BatchResultRow[]> {
    this.sql.push(sql);
    const view = /^-- view (\w+)/.exec(sql)?.[1];
    if (view === undefined) throw new Error(`CannedQueryEngine: no view comment in ${sql.slice(0, 80)}`);
    if (this.failure) {
      this.log.push(`run ${view} failed`);
      throw this.failure;
    }
    this.log.push(`run ${view}`);
    return this.rows[view] ?? [];
  }
}

export class FixedWatermark implements ArchiveWatermark {
  constructor(public value: number | null) {}
  async archivedBeforeMs(): Promise<number | null> {
    return this.value;
  }
}

export class ManualClock implements Clock {
  constructor(public ms: number) {}
  now(): number {
    return this.ms;
  }
  advance(ms: number): this {
    this.ms += ms;
    return this;
  }
}
