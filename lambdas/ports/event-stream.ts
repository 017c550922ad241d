export interface StreamEntry {
  readonly data: string;
  readonly partitionKey: string;
}

/** The ingestion side of the stream. */
export interface EventStream {
  /** Puts entries; resolves with the indexes the stream refused (throttled, internal failure). */
  putRecords(entries: readonly StreamEntry[]): Promise<number[]>;
}
