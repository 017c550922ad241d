import { fromArchiveLine } from '../../lambdas/core/event';
import { encodeKey, keyProblem, keyValues, matches } from '../../lambdas/core/reducer';
import type { ViewDefinition } from '../../lambdas/core/view';
import type { ArchiveReader } from '../../lambdas/ports/kappa';

export interface KeyIndexOptions {
  /** The archive's accepted events (`events/`), as replay reads them. */
  readonly archive: ArchiveReader;
  readonly views: readonly ViewDefinition[];
  /** A listing is reused for this long, so many panels asking at once cost one pass. @default 2000 */
  readonly minRefreshMs?: number;
  readonly now?: () => number;
}

interface KeyEntry {
  readonly values: readonly string[];
  records: number;
  lastEventMs: number;
}

export interface KeyListing {
  readonly view: string;
  /** Keys whose text contains `q` (case-insensitive), most records first, at most `limit`. */
  readonly keys: ReadonlyArray<{
    readonly key: Record<string, string>;
    /** Archived records of the key (a producer retry's repeated copy counts too). */
    readonly records: number;
    readonly lastEventTime: string;
  }>;
  /** Keys of the view with data in the archive. */
  readonly total: number;
  /** Keys matching `q` (before `limit`). */
  readonly matching: number;
  /** Archive objects read so far; keys appear once the archiver has written their events. */
  readonly objectsRead: number;
  readonly unreadableLines: number;
}

/**
 * The keys each view has data for, read from the archive: the one place that holds every key
 * (the tables are keyed by key and could only be scanned whole). Each archive object is read once
 * (objects are immutable, named after their records); a refresh lists the archive and reads only
 * the new objects. Memory is one entry per (view, key), plus the names of the objects read.
 * Events are matched to views by the same rule the reducer and the SQL use.
 */
export class KeyIndex {
  private readonly read = new Set<string>();
  private readonly byView = new Map<string, Map<string, KeyEntry>>();
  private refreshing?: Promise<void>;
  private refreshedAt = Number.NEGATIVE_INFINITY;
  private readonly minRefreshMs: number;
  private readonly now: () => number;
  /** Lines of the archive that are not events (reported, not fatal). */
  unreadableLines = 0;

  constructor(private readonly options: KeyIndexOptions) {
    this.minRefreshMs = options.minRefreshMs ?? 2000;
    this.now = options.now ?? Date.now;
    for (const view of options.views) this.byView.set(view.name, new Map());
  }

  /** Reads the archive objects not read yet; concurrent callers share one pass. */
  refresh(): Promise<void> {
    if (this.refreshing) return this.refreshing;
    if (this.now() - this.refreshedAt < this.minRefreshMs) return Promise.resolve();
    this.refreshing = this.readNewObjects().finally(() => {
      this.refreshedAt = this.now();
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async readNewObjects(): Promise<void> {
    for (const object of await this.options.archive.list()) {
      if (this.read.has(object)) continue;
      const text = await this.options.archive.read(object);
      for (const line of text.split('\n')) {
        if (line.trim() === '') continue;
        let event: ReturnType<typeof fromArchiveLine>;
        try {
          event = fromArchiveLine(line);
        } catch {
          this.unreadableLines++; // the batch layer reports such a line; the key list just goes on
          continue;
        }
        for (const view of this.options.views) {
          if (!matches(view, event.body)) continue;
          const values = keyValues(view, event.body);
          if (keyProblem(view, values) !== undefined) continue; // the views leave it out too
          const keys = this.byView.get(view.name)!;
          const id = encodeKey(values);
          const entry = keys.get(id);
          if (entry) {
            entry.records++;
            entry.lastEventMs = Math.max(entry.lastEventMs, event.timeMs);
          } else keys.set(id, { values, records: 1, lastEventMs: event.timeMs });
        }
      }
      this.read.add(object);
    }
  }

  /** The view's keys matching `q`; undefined for a view the index does not know. */
  async list(viewName: string, q: string, limit: number): Promise<KeyListing | undefined> {
    const view = this.options.views.find((v) => v.name === viewName);
    if (!view) return undefined;
    await this.refresh();
    const needle = q.toLowerCase();
    const all = [...this.byView.get(view.name)!.values()];
    const hits = all.filter((e) => needle === '' || e.values.join(' ').toLowerCase().includes(needle));
    hits.sort(
      (a, b) => b.records - a.records || a.values.join('\u0000').localeCompare(b.values.join('\u0000')),
    );
    return {
      view: view.name,
      keys: hits.slice(0, limit).map((e) => ({
        key: Object.fromEntries(view.key.map((field, i) => [field, e.values[i]])),
        records: e.records,
        lastEventTime: new Date(e.lastEventMs).toISOString(),
      })),
      total: all.length,
      matching: hits.length,
      objectsRead: this.read.size,
      unreadableLines: this.unreadableLines,
    };
  }
}
