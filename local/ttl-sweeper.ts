import { DeleteCommand, paginateScan, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/**
 * dynalite has no TimeToLive: this sweeper deletes items whose `expiresAt` (epoch seconds) has
 * passed, as DynamoDB's TTL does in the cloud, so the local dedupe table does not grow forever.
 */
export class TtlSweeper {
  private timer?: NodeJS.Timeout;
  private running?: Promise<number>;
  deleted = 0;

  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly everyMs = 600_000,
  ) {}

  async sweep(nowSeconds = Math.floor(Date.now() / 1000)): Promise<number> {
    let deleted = 0;
    const pages = paginateScan(
      { client: this.client },
      {
        TableName: this.tableName,
        FilterExpression: 'expiresAt < :now',
        ExpressionAttributeValues: { ':now': nowSeconds },
        ProjectionExpression: 'pk, sk',
      },
    );
    for await (const page of pages) {
      for (const item of page.Items ?? []) {
        await this.client.send(
          new DeleteCommand({ TableName: this.tableName, Key: { pk: item.pk, sk: item.sk } }),
        );
        deleted++;
      }
    }
    this.deleted += deleted;
    return deleted;
  }

  start(): void {
    this.timer = setInterval(() => {
      this.running ??= this.sweep()
        .catch(() => 0) // a failed sweep is retried at the next interval
        .finally(() => (this.running = undefined));
    }, this.everyMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }
}
