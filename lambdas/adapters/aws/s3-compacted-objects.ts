import {
  GetObjectCommand,
  HeadObjectCommand,
  paginateListObjectsV2,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { CompactedObjects } from '../../ports/cloud-compaction';

/** The compacted prefix (ADR 011) of the archive bucket, through the S3 API; keys relative to the prefix. */
export class S3CompactedObjects implements CompactedObjects {
  /**
   * @param client the S3 client
   * @param bucket the archive bucket
   * @param prefix the compacted prefix, ending in `/` (`compacted/`)
   */
  constructor(
    protected readonly client: S3Client,
    protected readonly bucket: string,
    protected readonly prefix: string,
  ) {}

  async listSized(prefix: string): Promise<{ key: string; bytes: number }[]> {
    const out: { key: string; bytes: number }[] = [];
    for await (const page of paginateListObjectsV2(
      { client: this.client },
      { Bucket: this.bucket, Prefix: this.prefix + prefix },
    ))
      for (const object of page.Contents ?? [])
        out.push({ key: object.Key!.slice(this.prefix.length), bytes: object.Size ?? 0 });
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async list(prefix: string): Promise<string[]> {
    return (await this.listSized(prefix)).map((o) => o.key);
  }

  async readText(key: string): Promise<string> {
    const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }));
    return out.Body!.transformToString();
  }

  async putText(key: string, text: string): Promise<void> {
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: this.prefix + key,
        Body: text,
        ContentType: 'application/json',
      }),
    );
  }

  async createIfAbsent(key: string, text: string): Promise<boolean> {
    const Key = this.prefix + key;
    // S3 refuses the put with 412 when the key exists (IfNoneMatch, https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html);
    // the local emulator ignores the header, hence the HEAD first (locally one process compacts, under a lock).
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key }));
      return false;
    } catch (error) {
      if ((error as { name?: string }).name !== 'NotFound') throw error;
    }
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key,
          Body: text,
          IfNoneMatch: '*',
          ContentType: 'application/json',
        }),
      );
      return true;
    } catch (error) {
      if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 412)
        return false;
      throw error;
    }
  }
}
