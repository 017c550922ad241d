import type { KinesisStreamBatchResponse, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import { readJson, writeJsonAtomic } from './json-file';

/**
 * The local on-failure destination. An entry has the fields of AWS's SQS/SNS on-failure record
 * for Kinesis (requestContext, KinesisBatchInfo, ...) and, unlike AWS, the failed records
 * themselves, so nothing is lost and a redrive needs no trip back to the stream.
 */
export interface DeadLetterEntry {
  readonly version: '1.0';
  readonly timestamp: string;
  readonly requestContext: {
    readonly condition: 'RetryAttemptsExhausted' | 'RecordAgeExceeded';
    readonly approximateInvokeCount: number;
    readonly functionArn: string;
  };
  readonly responseContext: { readonly functionError?: string };
  readonly KinesisBatchInfo: {
    readonly shardId: string;
    readonly startSequenceNumber: string;
    readonly endSequenceNumber: string;
    readonly approximateArrivalOfFirstRecord: string;
    readonly approximateArrivalOfLastRecord: string;
    readonly batchSize: number;
    readonly streamArn: string;
  };
  readonly records: readonly KinesisStreamRecord[];
  readonly lastError: string;
}

export class DeadLetterQueue {
  private entries: DeadLetterEntry[] = [];
  private loaded?: Promise<void>;
  private readonly file?: string;

  constructor(options: { file?: string } = {}) {
    this.file = options.file;
  }

  private load(): Promise<void> {
    this.loaded ??= (async () => {
      if (this.file) this.entries = (await readJson<DeadLetterEntry[]>(this.file)) ?? [];
    })();
    return this.loaded;
  }

  private async save(): Promise<void> {
    if (this.file) await writeJsonAtomic(this.file, this.entries);
  }

  async add(entry: DeadLetterEntry): Promise<void> {
    await this.load();
    this.entries.push(entry);
    await this.save();
  }

  async list(): Promise<DeadLetterEntry[]> {
    await this.load();
    return [...this.entries];
  }

  async depth(): Promise<number> {
    await this.load();
    return this.entries.length;
  }

  /**
   * Hands every entry's records back to the handler; entries whose records are all processed
   * are removed. Records already applied before are no-ops (the speed layer's fences).
   */
  async redrive(
    handler: (event: KinesisStreamEvent) => Promise<KinesisStreamBatchResponse | void>,
  ): Promise<{ redriven: number; remaining: number; errors: string[] }> {
    await this.load();
    const kept: DeadLetterEntry[] = [];
    const errors: string[] = [];
    let redriven = 0;
    for (const entry of this.entries) {
      try {
        const result = await handler({ Records: [...entry.records] });
        if (result && result.batchItemFailures.length > 0)
          throw new Error(`records from ${result.batchItemFailures[0].itemIdentifier} failed again`);
        redriven++;
      } catch (error) {
        errors.push(
          `${entry.KinesisBatchInfo.shardId} ${entry.KinesisBatchInfo.startSequenceNumber}: ${(error as Error).message}`,
        );
        kept.push(entry);
      }
    }
    this.entries = kept;
    await this.save();
    return { redriven, remaining: kept.length, errors };
  }
}
