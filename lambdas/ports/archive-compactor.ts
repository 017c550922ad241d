/** What a compaction before a batch run did (ADR 011). */
export type CompactionResult =
  | { readonly status: 'nothing-to-do' }
  | {
      readonly status: 'committed';
      readonly generation: number;
      readonly sources: number;
      readonly files: number;
      readonly rows: number;
      readonly bytes: number;
    }
  /** Another compactor committed this generation first: its files are left unread. */
  | { readonly status: 'lost'; readonly generation: number }
  /** The attempt's files could not be committed safely (`reason`): left unread, the objects stay raw. */
  | { readonly status: 'abandoned'; readonly generation: number; readonly reason: string }
  /**
   * The compaction threw (`reason`): nothing it wrote is read without a manifest, so the run went
   * on over the raw objects, and the next run tries again.
   */
  | { readonly status: 'failed'; readonly reason: string };

/**
 * Rewrites the raw archive objects a run's cutoff has passed into the compacted (columnar)
 * archive, exactly once: a crash or a repeat changes nothing a reader sees.
 */
export interface ArchiveCompactor {
  /** `fields`: the fields the views read, which a compactor may store as typed columns beside the line (ADR 013). */
  compact(cutoffMs: number, fields?: readonly string[]): Promise<CompactionResult>;
}
