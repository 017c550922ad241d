import type { SpeedRow, SpeedRowAddress } from '../../lambdas/core/fencing';
import { speedRowId } from '../../lambdas/core/fencing';
import type { RowState } from '../../lambdas/core/measures';
import type { BatchBucket, SpeedBucket } from '../../lambdas/core/merge';
import { cellId } from '../../lambdas/core/reducer';
import type { BatchResultRow } from '../../lambdas/core/sql';
import type { ViewDefinition } from '../../lambdas/core/view';
import type { QueryEngine } from '../../lambdas/ports/query-engine';
import type {
  BatchViewStore,
  ControlStore,
  EventClaims,
  ServingPointer,
  SpeedRowStore,
  StoredSpeedRow,
} from '../../lambdas/ports/stores';

/** In-memory ports with the same conditional semantics as the DynamoDB adapters, plus failure switches. */
export class MemorySpeedRows implements SpeedRowStore {
  readonly rows = new Map<string, { address: SpeedRowAddress; stored: StoredSpeedRow }>();
  failWritesFor = new Set<string>(); // view names whose writes throw
  conflictsLeft = 0;
  async read(_view: ViewDefinition, address: SpeedRowAddress) {
    return this.rows.get(speedRowId(address))?.stored;
  }
  async write(_view: ViewDefinition, address: SpeedRowAddress, row: SpeedRow, expected: number | undefined) {
    if (this.failWritesFor.has(address.view)) throw new Error('throttled');
    const id = speedRowId(address);
    if (this.conflictsLeft > 0) {
      this.conflictsLeft--;
      return false;
    }
    if (this.rows.get(id)?.stored.revision !== expected) return false;
    this.rows.set(id, { address, stored: { row, revision: (expected ?? 0) + 1 } });
    return true;
  }
  async query(
    view: ViewDefinition,
    key: readonly string[],
    from: number,
    to: number,
  ): Promise<SpeedBucket[]> {
    return [...this.rows.values()]
      .filter(
        ({ address: a }) =>
          a.view === view.name &&
          JSON.stringify(a.key) === JSON.stringify(key) &&
          a.bucketMs >= from &&
          a.bucketMs < to,
      )
      .map(({ address, stored }) => ({
        bucketMs: address.bucketMs,
        arrivalBucketMs: address.arrivalBucketMs,
        state: stored.row.state,
      }));
  }
  async listArrived(view: ViewDefinition, from: number, to: number) {
    return [...this.rows.values()]
      .filter(({ address: a }) => a.view === view.name && a.arrivalBucketMs >= from && a.arrivalBucketMs < to)
      .map(({ address, stored }) => ({ ...address, state: stored.row.state }));
  }
  deletedBefore: number[] = [];
  async deleteArrivedBefore(ms: number) {
    this.deletedBefore.push(ms);
    let n = 0;
    for (const [id, { address }] of this.rows) if (address.arrivalBucketMs < ms && this.rows.delete(id)) n++;
    return n;
  }
  async count() {
    return this.rows.size;
  }
}

export class MemoryClaims implements EventClaims {
  readonly owners = new Map<string, string>();
  failFor = new Set<string>();
  async claim(id: string, owner: string) {
    if (this.failFor.has(id)) throw new Error('throttled');
    const current = this.owners.get(id);
    if (current === undefined) this.owners.set(id, owner);
    return current === undefined || current === owner;
  }
}

export class MemoryBatch implements BatchViewStore {
  readonly cells = new Map<
    string,
    { version: number; bucketMs: number; state: RowState; view: string; key: readonly string[] }
  >();
  readonly log: string[] = [];
  failWrites = false;
  async writeCells(
    version: number,
    view: ViewDefinition,
    cells: readonly { key: readonly string[]; bucketMs: number; state: RowState }[],
  ) {
    if (this.failWrites) throw new Error('write failed');
    this.log.push(`write v${version} ${view.name}`);
    for (const c of cells)
      this.cells.set(`${version}|${cellId({ view: view.name, key: c.key, bucketMs: c.bucketMs })}`, {
        version,
        view: view.name,
        ...c,
      });
  }
  async query(
    version: number,
    view: ViewDefinition,
    key: readonly string[],
    from: number,
    to: number,
  ): Promise<BatchBucket[]> {
    return [...this.cells.values()]
      .filter(
        (c) =>
          c.version === version &&
          c.view === view.name &&
          JSON.stringify(c.key) === JSON.stringify(key) &&
          c.bucketMs >= from &&
          c.bucketMs < to,
      )
      .map((c) => ({ bucketMs: c.bucketMs, state: c.state }));
  }
  async deleteVersion(version: number) {
    this.log.push(`delete v${version}`);
    let n = 0;
    for (const [id, c] of this.cells) if (c.version === version && this.cells.delete(id)) n++;
    return n;
  }
}

export class MemoryControl implements ControlStore {
  pointer: ServingPointer | null = null;
  counter = 0;
  readonly log: string[] = [];
  async readPointer() {
    return this.pointer;
  }
  async publish(next: ServingPointer, expected: number | null) {
    if ((this.pointer?.version ?? null) !== expected) return false;
    this.log.push(`publish v${next.version}`);
    this.pointer = next;
    return true;
  }
  async nextVersion() {
    return ++this.counter;
  }
}

export class CannedEngine implements QueryEngine {
  readonly dialect = 'duckdb' as const;
  fail = false;
  constructor(readonly rows: Record<string, BatchResultRow[]>) {}
  async source() {
    return 'SELECT 1';
  }
  async run(sql: string) {
    if (this.fail) throw new Error('engine down');
    const view = /-- view (\w+)/.exec(sql)![1];
    return this.rows[view] ?? [];
  }
}
