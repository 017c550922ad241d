import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { S3CompactedObjects } from '../aws/s3-compacted-objects';

/**
 * Where the compacted archive (ADR 011) is written and read from: through S3 (the local
 * pipeline's emulator) or a plain folder (tests, benchmarks). DuckDB always reads the files from
 * a local path, since it cannot read s3:// here (TOOLCHAIN.md).
 */
export interface CompactedArchiveStore {
  /** Keys (relative to the compacted prefix) starting with `prefix`. */
  list(prefix: string): Promise<string[]>;
  /** The text of the object at `key`. */
  readText(key: string): Promise<string>;
  /** Writes the local file `file` at `key`, replacing what is there (a retried generation writes the same rows). */
  putFile(key: string, file: string): Promise<void>;
  /** Creates `key` holding `text` unless it exists; false when it existed (the commit of a generation). */
  createIfAbsent(key: string, text: string): Promise<boolean>;
  /** The local file DuckDB reads the object at `key` from. */
  localPath(key: string): string;
}

async function walk(dir: string, base = dir): Promise<string[]> {
  let entries;
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const out: string[] = [];
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await walk(full, base)));
    else out.push(path.relative(base, full).split(path.sep).join('/'));
  }
  return out;
}

/** A compacted archive in a folder: a rename publishes a file whole, an exclusive create commits. */
export class FolderCompactedStore implements CompactedArchiveStore {
  constructor(private readonly dir: string) {}

  async list(prefix: string): Promise<string[]> {
    // Only the folder the prefix names is walked (the manifests, not every generation's files).
    const folder = prefix.slice(0, prefix.lastIndexOf('/') + 1);
    return (await walk(path.join(this.dir, ...folder.split('/')), this.dir))
      .filter((k) => k.startsWith(prefix) && !k.endsWith('.part'))
      .sort();
  }

  readText(key: string): Promise<string> {
    return fs.readFile(this.localPath(key), 'utf8');
  }

  async putFile(key: string, file: string): Promise<void> {
    const target = this.localPath(key);
    await fs.mkdir(path.dirname(target), { recursive: true });
    await fs.copyFile(file, `${target}.part`);
    await fs.rename(`${target}.part`, target);
  }

  async createIfAbsent(key: string, text: string): Promise<boolean> {
    const target = this.localPath(key);
    await fs.mkdir(path.dirname(target), { recursive: true });
    // Written aside first, then linked: link() fails if the name exists, and a reader never sees half a manifest.
    const part = `${target}.${process.pid}.${Date.now()}.part`;
    await fs.writeFile(part, text);
    try {
      await fs.link(part, target);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    } finally {
      await fs.rm(part, { force: true });
    }
  }

  localPath(key: string): string {
    return path.join(this.dir, ...key.split('/'));
  }
}

/** s3rver keeps an object's bytes at `<dir>/<bucket>/<key>._S3rver_object` (TOOLCHAIN.md). */
const S3RVER_SUFFIX = '._S3rver_object';

/**
 * The compacted archive in an S3 bucket whose objects are files on this disk (the local S3
 * emulator, s3rver): written with PutObject, read by DuckDB from the emulator's folder.
 */
export class S3CompactedStore extends S3CompactedObjects implements CompactedArchiveStore {
  /**
   * @param client the S3 client (endpoint override set)
   * @param bucket the archive bucket
   * @param prefix the compacted prefix, ending in `/` (`compacted/`)
   * @param folder the emulator's folder for that prefix (`<s3Dir>/<bucket>/compacted`)
   */
  constructor(
    client: S3Client,
    bucket: string,
    prefix: string,
    private readonly folder: string,
  ) {
    super(client, bucket, prefix);
  }

  async putFile(key: string, file: string): Promise<void> {
    await this.client.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: this.prefix + key, Body: await fs.readFile(file) }),
    );
  }

  localPath(key: string): string {
    return path.join(this.folder, ...key.split('/')) + S3RVER_SUFFIX;
  }
}
