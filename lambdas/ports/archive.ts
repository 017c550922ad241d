/** What the batch layer needs to know of the archive. */
export interface ArchiveWatermark {
  /** Arrival time before which every accepted event is provably in the archive, or null if unknown yet. */
  archivedBeforeMs(): Promise<number | null>;
}
