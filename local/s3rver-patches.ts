import * as crypto from 'node:crypto';
import { createWriteStream, promises as fs } from 'node:fs';
import type { Server } from 'node:http';
import Module from 'node:module';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface S3rverInstance {
  run(): Promise<AddressInfo>;
  /** Set by run(): the HTTP server, closed directly so its keep-alive connections go too. */
  readonly httpServer?: Server;
}
export type S3rverClass = new (options: Record<string, unknown>) => S3rverInstance;

/** True when this process's OpenSSL offers DES (Node started with --openssl-legacy-provider). */
function desAvailable(): boolean {
  try {
    crypto.createCipheriv('des', Buffer.alloc(8), Buffer.alloc(8));
    return true;
  } catch {
    return false;
  }
}

/**
 * s3rver encrypts ListObjectsV2 continuation tokens with single DES, which OpenSSL 3 only offers
 * through its legacy provider: without `--openssl-legacy-provider` every second page of a listing
 * answers 500. That flag cannot be turned on once Node runs (NODE_OPTIONS and execArgv are read at
 * startup only), so s3rver's bucket controller alone gets a `crypto` whose 'des' is AES-128-CBC
 * over the doubled 8-byte key and IV. The token only has to round-trip inside s3rver: it is opaque
 * to clients, and no other module sees the substitute.
 */
function desFreeCrypto(): typeof crypto {
  const widen = (algorithm: string, key: crypto.CipherKey, iv: crypto.BinaryLike | null) => {
    const bytes = (value: crypto.CipherKey | crypto.BinaryLike) => Buffer.from(value as Buffer);
    return algorithm.toLowerCase() === 'des' && iv !== null
      ? ([
          'aes-128-cbc',
          Buffer.concat([bytes(key), bytes(key)]),
          Buffer.concat([bytes(iv), bytes(iv)]),
        ] as const)
      : undefined;
  };
  return {
    ...crypto,
    createCipheriv: ((algorithm: string, key: crypto.CipherKey, iv: crypto.BinaryLike | null) => {
      const aes = widen(algorithm, key, iv);
      return aes ? crypto.createCipheriv(...aes) : crypto.createCipheriv(algorithm, key, iv);
    }) as typeof crypto.createCipheriv,
    createDecipheriv: ((algorithm: string, key: crypto.CipherKey, iv: crypto.BinaryLike | null) => {
      const aes = widen(algorithm, key, iv);
      return aes ? crypto.createDecipheriv(...aes) : crypto.createDecipheriv(algorithm, key, iv);
    }) as typeof crypto.createDecipheriv,
  };
}

/** The parts of s3rver's FilesystemStore that atomicPuts() replaces or wraps. */
interface FilesystemStore {
  getResourcePath(bucket: string, key: string, resource: string): string;
  getObject(bucket: string, key: string, options?: unknown): Promise<unknown>;
  putObject(object: {
    bucket: string;
    key: string;
    metadata: Record<string, string>;
    content: Buffer | NodeJS.ReadableStream;
  }): Promise<{ size: number; md5: string }>;
  putMetadata(bucket: string, key: string, metadata: Record<string, string>, md5?: string): Promise<void>;
}

async function writeFileAtomic(file: string, data: string): Promise<void> {
  const temp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  await fs.writeFile(temp, data);
  await fs.rename(temp, file);
}

/**
 * Gives s3rver S3's guarantees for PutObject, which the archiver, the watermark and DuckDB rely
 * on. As shipped, s3rver (3.7) truncates the object file and writes it in place, and for a
 * buffered body answers 200 before the bytes are on disk: a GetObject racing an overwrite (the
 * watermark object, rewritten after every flush) or following a put at once can read an empty
 * or half-written object, and DuckDB, reading the folder, a torn NDJSON file. Here the body is
 * written to a temporary file (a name no listing or archive glob matches), then renamed over the
 * object; metadata files are replaced the same way. A per-key lock spans the rename and the
 * metadata write on one side, and the size check and the open of the file in GetObject on the
 * other (an open file keeps its old content after a rename), so a reader sees the old object or
 * the new one, whole.
 */
function atomicPuts(store: { prototype: FilesystemStore }, allowedMetadata: readonly string[]): void {
  // Once per process: this module may be evaluated again (test isolation) over the same s3rver.
  const patched = store.prototype as FilesystemStore & { [ATOMIC]?: true };
  if (patched[ATOMIC]) return;
  patched[ATOMIC] = true;
  const locks = new Map<string, Promise<unknown>>();
  const withLock = <T>(key: string, work: () => Promise<T>): Promise<T> => {
    const run = (locks.get(key) ?? Promise.resolve()).then(work, work);
    const settled = run.catch(() => undefined);
    locks.set(key, settled);
    void settled.then(() => {
      if (locks.get(key) === settled) locks.delete(key);
    });
    return run;
  };
  const proto = store.prototype;
  const getObject = proto.getObject;
  proto.getObject = function (this: FilesystemStore, bucket, key, options) {
    return withLock(this.getResourcePath(bucket, key, 'object'), () =>
      getObject.call(this, bucket, key, options),
    );
  };
  proto.putMetadata = async function (this: FilesystemStore, bucket, key, metadata, md5) {
    const stored: Record<string, string> = {};
    for (const [name, value] of Object.entries(metadata))
      if (allowedMetadata.includes(name) || name.startsWith('x-amz-meta-')) stored[name] = value;
    if (md5) await writeFileAtomic(this.getResourcePath(bucket, key, 'object.md5'), md5);
    await writeFileAtomic(
      this.getResourcePath(bucket, key, 'metadata.json'),
      JSON.stringify(stored, null, 2),
    );
  };
  proto.putObject = async function (this: FilesystemStore, object) {
    const objectPath = this.getResourcePath(object.bucket, object.key, 'object');
    await fs.mkdir(path.dirname(objectPath), { recursive: true });
    const temp = `${objectPath}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
    const md5 = crypto.createHash('md5');
    let size = 0;
    try {
      await pipeline(
        Buffer.isBuffer(object.content) ? Readable.from([object.content]) : object.content,
        new Transform({
          transform(chunk: Buffer, _encoding, callback) {
            md5.update(chunk);
            size += chunk.length;
            callback(null, chunk);
          },
        }),
        createWriteStream(temp),
      );
    } catch (error) {
      await fs.rm(temp, { force: true });
      throw error;
    }
    const digest = md5.digest('hex');
    await withLock(objectPath, async () => {
      await fs.rename(temp, objectPath);
      await this.putMetadata(object.bucket, object.key, object.metadata, digest);
    });
    return { size, md5: digest };
  };
}

const ATOMIC = Symbol.for('streamfold.s3rver.atomicPuts');

let s3rverClass: S3rverClass | undefined;

/** Loads s3rver with pagination that works in this process and atomic puts (see above). */
export function loadS3rver(): S3rverClass {
  if (s3rverClass) return s3rverClass;
  const lib = path.dirname(require.resolve('s3rver'));
  /* eslint-disable @typescript-eslint/no-require-imports -- CommonJS without types */
  atomicPuts(
    require(path.join(lib, 'stores', 'filesystem.js')) as { prototype: FilesystemStore },
    (require(path.join(lib, 'models', 'object.js')) as { ALLOWED_METADATA: string[] }).ALLOWED_METADATA,
  );
  /* eslint-enable @typescript-eslint/no-require-imports */
  const bucketController = path.join(lib, 'controllers', 'bucket.js');
  if (desAvailable() || require.cache[bucketController]) {
    // With DES available nothing is needed. A controller loaded before us (someone required
    // s3rver directly) keeps the real crypto: pagination then needs --openssl-legacy-provider.
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- CommonJS without types
    return (s3rverClass = require('s3rver') as S3rverClass);
  }
  const substitute = desFreeCrypto();
  type Require = (this: Module, id: string) => unknown;
  const proto = Module.prototype as unknown as { require: Require };
  const original = proto.require;
  proto.require = function (this: Module, id: string) {
    if ((id === 'crypto' || id === 'node:crypto') && this.filename === bucketController) return substitute;
    return original.call(this, id);
  };
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- CommonJS without types
    return (s3rverClass = require('s3rver') as S3rverClass);
  } finally {
    proto.require = original;
  }
}
