import type { KappaCell, KappaPointers } from '../../lambdas/core/kappa';
import { decodeRow, encodeRow, type EncodedRow } from '../../lambdas/core/measures';
import { cellId, encodeKey, type CellAddress } from '../../lambdas/core/reducer';
import type { ViewDefinition } from '../../lambdas/core/view';
import type {
  ArchiveReader,
  ChunkProgress,
  KappaCellStore,
  KappaControlStore,
  ReplayProgress,
  StoredKappaCell,
} from '../../lambdas/ports/kappa';

/**
 * In-memory Kappa ports with the semantics of their DynamoDB and S3 adapters: conditional writes on
 * a revision, cells stored encoded, the control item replaced as a whole, JSON round trips of the
 * definitions (as the control table stores them).
 */
interface StoredCell {
  readonly version: number;
  readonly address: CellAddress;
  readonly state: EncodedRow;
  readonly fences: Readonly<Record<string, string>>;
  readonly chunks: readonly string[];
  readonly revision: number;
}

export class InMemoryKappaCellStore implements KappaCellStore {
  private readonly cells = new Map<string, StoredCell>();
  writes = 0;
  private failNext = 0;

  /** The next `n` writes throw (throttling). */
  failNextWrites(n: number): this {
    this.failNext = n;
    return this;
  }

  private id(version: number, address: CellAddress): string {
    return `${version}|${cellId(address)}`;
  }

  async read(
    version: number,
    view: ViewDefinition,
    address: CellAddress,
  ): Promise<StoredKappaCell | undefined> {
    const stored = this.cells.get(this.id(version, address));
    if (!stored) return undefined;
    return {
      cell: {
        state: decodeRow(view, stored.state),
        fences: { ...stored.fences },
        chunks: [...stored.chunks],
      },
      revision: stored.revision,
    };
  }

  async write(
    version: number,
    _view: ViewDefinition,
    address: CellAddress,
    cell: KappaCell,
    expectedRevision: number | undefined,
  ): Promise<boolean> {
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('ProvisionedThroughputExceededException: injected');
    }
    const id = this.id(version, address);
    if (this.cells.get(id)?.revision !== expectedRevision) return false;
    this.writes++;
    this.cells.set(id, {
      version,
      address,
      state: encodeRow(cell.state),
      fences: { ...cell.fences },
      chunks: [...cell.chunks],
      revision: (expectedRevision ?? 0) + 1,
    });
    return true;
  }

  async query(
    version: number,
    view: ViewDefinition,
    key: readonly string[],
    fromMs: number,
    toMs: number,
  ): Promise<{ bucketMs: number; cell: KappaCell }[]> {
    return [...this.cells.values()]
      .filter(
        (c) =>
          c.version === version &&
          c.address.view === view.name &&
          encodeKey(c.address.key) === encodeKey(key) &&
          c.address.bucketMs >= fromMs &&
          c.address.bucketMs < toMs,
      )
      .sort((a, b) => a.address.bucketMs - b.address.bucketMs)
      .map((c) => ({
        bucketMs: c.address.bucketMs,
        cell: { state: decodeRow(view, c.state), fences: c.fences, chunks: c.chunks },
      }));
  }

  /** Cells a deleteVersionPage page holds, as a Scan page holds 1 MB (small, to make the caller page). */
  pageSize = Number.POSITIVE_INFINITY;

  async deleteVersionPage(
    version: number,
    view: string,
    cursor: string | undefined,
  ): Promise<{ deleted: number; cursor: string | undefined }> {
    // The cursor counts cells already passed over, as LastEvaluatedKey marks a scan position:
    // deleted cells are gone, so the next page starts where the matching ones remain.
    void cursor;
    let n = 0;
    for (const [id, c] of this.cells)
      if (c.version === version && c.address.view === view) {
        if (n >= this.pageSize) return { deleted: n, cursor: 'more' };
        this.cells.delete(id);
        n++;
      }
    return { deleted: n, cursor: undefined };
  }

  async deleteVersion(version: number, view: string): Promise<number> {
    let n = 0;
    for (const [id, c] of this.cells)
      if (c.version === version && c.address.view === view) {
        this.cells.delete(id);
        n++;
      }
    return n;
  }

  /** Every cell of one version and view: address and decoded state. */
  cellsOf(version: number, view: ViewDefinition): { address: CellAddress; cell: KappaCell }[] {
    return [...this.cells.values()]
      .filter((c) => c.version === version && c.address.view === view.name)
      .map((c) => ({
        address: c.address,
        cell: { state: decodeRow(view, c.state), fences: c.fences, chunks: c.chunks },
      }));
  }
}

export class InMemoryKappaControlStore implements KappaControlStore {
  private item: string | null = null;
  private revision = 0;
  private counter = 0;
  private readonly progress = new Map<string, { objectsTotal: number | null; phase: string | null }>();
  private readonly chunks = new Map<string, Map<string, ChunkProgress>>();

  async read(): Promise<KappaPointers> {
    if (this.item === null) return { views: {}, replay: null, revision: 0 };
    const parsed = JSON.parse(this.item) as Omit<KappaPointers, 'revision'>;
    return { ...parsed, revision: this.revision };
  }

  /**
   * The next write lands but answers as the DynamoDB adapter does after the SDK retried it (its
   * first answer lost): the retry's condition fails on the write itself.
   */
  loseNextWriteAnswer(): this {
    this.loseAnswer = true;
    return this;
  }

  private loseAnswer = false;

  async write(next: Omit<KappaPointers, 'revision'>, expectedRevision: number): Promise<boolean> {
    if (expectedRevision !== this.revision) return false;
    this.item = JSON.stringify({ views: next.views, replay: next.replay, writeId: next.writeId });
    this.revision++;
    if (this.loseAnswer) {
      this.loseAnswer = false;
      return false;
    }
    return true;
  }

  async nextVersion(): Promise<number> {
    return ++this.counter;
  }

  async readProgress(replayId: string): Promise<ReplayProgress> {
    const own = this.progress.get(replayId);
    const chunks = [...(this.chunks.get(replayId)?.values() ?? [])];
    const arrivals = chunks.flatMap((c) => (c.replayedToMs === null ? [] : [c.replayedToMs]));
    return {
      objectsTotal: own?.objectsTotal ?? null,
      objectsDone: chunks.reduce((sum, c) => sum + c.objects, 0),
      events: chunks.reduce((sum, c) => sum + c.events, 0),
      replayedToMs: arrivals.length === 0 ? null : Math.max(...arrivals),
      phase: own?.phase ?? null,
      updatedAt: null,
    };
  }

  async setProgress(
    replayId: string,
    set: { objectsTotal?: number; phase?: string; reset?: boolean },
  ): Promise<void> {
    const current = set.reset ? undefined : this.progress.get(replayId);
    this.progress.set(replayId, {
      objectsTotal: set.objectsTotal ?? current?.objectsTotal ?? null,
      phase: set.phase ?? current?.phase ?? null,
    });
  }

  async reportChunk(replayId: string, chunkId: string, done: ChunkProgress): Promise<void> {
    const chunks = this.chunks.get(replayId) ?? new Map<string, ChunkProgress>();
    chunks.set(chunkId, { ...done });
    this.chunks.set(replayId, chunks);
  }
}

/** An archive bucket: objects by key, read back as text. */
export class InMemoryArchive implements ArchiveReader {
  readonly objects = new Map<string, string>();
  reads = 0;

  put(key: string, body: string): this {
    this.objects.set(key, body);
    return this;
  }

  async list(): Promise<string[]> {
    return [...this.objects.keys()].sort();
  }

  async read(key: string): Promise<string> {
    this.reads++;
    const body = this.objects.get(key);
    if (body === undefined) throw new Error(`NoSuchKey: ${key}`);
    return body;
  }
}
