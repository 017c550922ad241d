import { GetObjectCommand, paginateListObjectsV2, type S3Client } from '@aws-sdk/client-s3';
import { gunzipSync } from 'node:zlib';
import type { RawArchiveListing } from '../../ports/cloud-compaction';
import type { ArchiveReader } from '../../ports/kappa';

/**
 * The archive's accepted events as the replay reads them: the local archiver's NDJSON objects or
 * Firehose's GZIP NDJSON ones (recognized by their magic bytes, whatever the key says).
 */
export class S3ArchiveReader implements ArchiveReader, RawArchiveListing {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly prefix: string,
  ) {}

  async list(): Promise<string[]> {
    const keys: string[] = [];
    for await (const page of paginateListObjectsV2(
      { client: this.client },
      { Bucket: this.bucket, Prefix: this.prefix },
    ))
      for (const object of page.Contents ?? [])
        if (object.Key && !object.Key.endsWith('/')) keys.push(object.Key);
    return keys.sort();
  }

  /** Keys relative to the prefix: how the compaction manifests name raw objects (ADR 011). */
  async listKeys(): Promise<string[]> {
    return (await this.list()).map((key) => key.slice(this.prefix.length));
  }

  async read(key: string): Promise<string> {
    const result = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    const bytes = Buffer.from(await result.Body!.transformToByteArray());
    const gzipped = bytes.length > 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
    return (gzipped ? gunzipSync(bytes) : bytes).toString('utf8');
  }
}
