import { CreateTableCommand, ListTablesCommand, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import {
  CreateStreamCommand,
  waitUntilStreamExists,
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListShardsCommand,
  PutRecordCommand,
} from '@aws-sdk/client-kinesis';
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  paginateListObjectsV2,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { createCipheriv, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  makeDynamoDbClient,
  makeDynamoDocumentClient,
  makeKinesisClient,
  makeS3Client,
  readEndpoints,
} from '../../lambdas/runtime/clients';
import { startEmulators, type Emulators } from '../../local/emulators';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'streamfold-emulators-'));
  dirs.push(dir);
  return dir;
}
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function handles(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'TCPServerWrap' || r === 'TCPSocketWrap')
    .length;
}

async function eventually(check: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('readEndpoints', () => {
  it('lets a per-service variable win over AWS_ENDPOINT_URL', () => {
    const e = readEndpoints({
      AWS_ENDPOINT_URL: 'http://all:1',
      AWS_ENDPOINT_URL_KINESIS: 'http://kinesis:2',
      AWS_REGION: 'eu-west-1',
    });
    expect(e).toMatchObject({
      region: 'eu-west-1',
      kinesis: 'http://kinesis:2',
      dynamodb: 'http://all:1',
      s3: 'http://all:1',
      athena: 'http://all:1',
      sqs: 'http://all:1',
      s3Flavor: 'aws',
      ambientCredentials: false,
    });
  });

  it('leaves every endpoint unset in the cloud, with us-east-1 as the default region', () => {
    const e = readEndpoints({});
    expect(e).toEqual({
      region: 'us-east-1',
      kinesis: undefined,
      dynamodb: undefined,
      s3: undefined,
      athena: undefined,
      sqs: undefined,
      s3Flavor: 'aws',
      ambientCredentials: false,
    });
  });

  it('notices credentials in the environment and the s3rver flavour', () => {
    const e = readEndpoints({ AWS_ACCESS_KEY_ID: 'k', STREAMFOLD_S3_FLAVOR: 's3rver' });
    expect(e.ambientCredentials).toBe(true);
    expect(e.s3Flavor).toBe('s3rver');
  });

  it('fails if the S3 flavour is unknown, naming the allowed values', () => {
    expect(() => readEndpoints({ STREAMFOLD_S3_FLAVOR: 'minio' })).toThrow(
      /must be "aws" or "s3rver" \(given "minio"\)/,
    );
  });

  it('gives overridden clients dummy credentials when none are configured, and s3rver its own', async () => {
    const e = readEndpoints({ AWS_ENDPOINT_URL: 'http://127.0.0.1:1', STREAMFOLD_S3_FLAVOR: 's3rver' });
    expect(await makeKinesisClient(e).config.credentials()).toMatchObject({ accessKeyId: 'local' });
    expect(await makeS3Client(e).config.credentials()).toMatchObject({ accessKeyId: 'S3RVER' });
    expect(makeS3Client(e).config.forcePathStyle).toBe(true);
  });
});

describe('startEmulators', () => {
  it('keeps streams, records, tables, items and objects across a restart on the same dataDir', async () => {
    const dataDir = tempDir();
    const first = await startEmulators({ dataDir });
    const kinesis = makeKinesisClient(first.endpoints);
    const dynamodb = makeDynamoDbClient(first.endpoints);
    const s3 = makeS3Client(first.endpoints);
    await kinesis.send(new CreateStreamCommand({ StreamName: 'kept', ShardCount: 1 }));
    // The stream is CREATING until a timer of kinesalite's fires; under load that is after the next
    // request, which then finds no ACTIVE stream (as in Kinesis): wait for ACTIVE.
    await waitUntilStreamExists({ client: kinesis, maxWaitTime: 30, minDelay: 0.05 }, { StreamName: 'kept' });
    await kinesis.send(
      new PutRecordCommand({ StreamName: 'kept', PartitionKey: 'p', Data: Buffer.from('r1') }),
    );
    await dynamodb.send(
      new CreateTableCommand({
        TableName: 'kept',
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      }),
    );
    // dynalite answers CreateTable while the table is CREATING, as DynamoDB does: wait for ACTIVE.
    await waitUntilTableExists({ client: dynamodb, maxWaitTime: 30, minDelay: 0.05 }, { TableName: 'kept' });
    await makeDynamoDocumentClient(first.endpoints).send(
      new PutCommand({ TableName: 'kept', Item: { pk: 'a', n: 1, gone: undefined } }),
    );
    await s3.send(new CreateBucketCommand({ Bucket: 'kept' }));
    await s3.send(new PutObjectCommand({ Bucket: 'kept', Key: 'a/b.txt', Body: 'object' }));
    await first.stop();

    const second = await startEmulators({ dataDir });
    try {
      const k2 = makeKinesisClient(second.endpoints);
      const shard = (await k2.send(new ListShardsCommand({ StreamName: 'kept' }))).Shards![0].ShardId!;
      const { ShardIterator } = await k2.send(
        new GetShardIteratorCommand({
          StreamName: 'kept',
          ShardId: shard,
          ShardIteratorType: 'TRIM_HORIZON',
        }),
      );
      const { Records } = await k2.send(new GetRecordsCommand({ ShardIterator }));
      expect(Records!.map((r) => Buffer.from(r.Data!).toString())).toEqual(['r1']);
      expect((await makeDynamoDbClient(second.endpoints).send(new ListTablesCommand({}))).TableNames).toEqual(
        ['kept'],
      );
      const item = await makeDynamoDocumentClient(second.endpoints).send(
        new GetCommand({ TableName: 'kept', Key: { pk: 'a' } }),
      );
      expect(item.Item).toEqual({ pk: 'a', n: 1 });
      const object = await makeS3Client(second.endpoints).send(
        new GetObjectCommand({ Bucket: 'kept', Key: 'a/b.txt' }),
      );
      expect(await object.Body!.transformToString()).toBe('object');
      expect(second.s3Dir).toBe(path.join(dataDir, 's3'));
    } finally {
      await second.stop();
    }
  });

  it('starts in memory and leaves no server or socket behind after stop, however often', async () => {
    const before = handles();
    for (let i = 0; i < 3; i++) {
      const emulators = await startEmulators();
      const s3 = makeS3Client(emulators.endpoints);
      await s3.send(new CreateBucketCommand({ Bucket: 'memory' }));
      await makeKinesisClient(emulators.endpoints).send(
        new CreateStreamCommand({ StreamName: `s${i}`, ShardCount: 1 }),
      );
      await emulators.stop();
      await emulators.stop(); // idempotent
    }
    // Sockets are released on the tick after the close callbacks.
    await eventually(() => handles() <= before);
  });

  it('listens on the ports it is given, and fails with advice when one is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const taken = (blocker.address() as { port: number }).port;
    try {
      await expect(startEmulators({ ports: { dynamodb: taken } })).rejects.toThrow(
        /could not start the emulators.*Choose other ports/,
      );
      const free = await new Promise<number>((resolve) => {
        const probe = createServer().listen(0, '127.0.0.1', () => {
          const port = (probe.address() as { port: number }).port;
          probe.close(() => resolve(port));
        });
      });
      const emulators = await startEmulators({ ports: { kinesis: free } });
      expect(emulators.endpoints.kinesis).toBe(`http://127.0.0.1:${free}`);
      await emulators.stop();
    } finally {
      blocker.close();
    }
  });
});

describe('S3 through s3rver', () => {
  let emulators: Emulators;
  let s3: S3Client;

  beforeAll(async () => {
    emulators = await startEmulators();
    s3 = makeS3Client(emulators.endpoints);
    await s3.send(new CreateBucketCommand({ Bucket: 'bytes' }));
  });
  afterAll(async () => {
    s3.destroy();
    await emulators.stop();
  });

  it('round-trips bytes exactly, from a buffer and from a stream (no aws-chunked framing stored)', async () => {
    const buffer = randomBytes(200_000);
    await s3.send(new PutObjectCommand({ Bucket: 'bytes', Key: 'buffer.bin', Body: buffer }));
    await s3.send(
      new PutObjectCommand({
        Bucket: 'bytes',
        Key: 'stream.bin',
        Body: Readable.from([buffer.subarray(0, 70_000), buffer.subarray(70_000)]),
        ContentLength: buffer.length,
      }),
    );
    for (const key of ['buffer.bin', 'stream.bin']) {
      const got = await s3.send(new GetObjectCommand({ Bucket: 'bytes', Key: key }));
      expect(Buffer.from(await got.Body!.transformToByteArray()).equals(buffer)).toBe(true);
      // What DuckDB reads locally is the file itself.
      const onDisk = readFileSync(path.join(emulators.s3Dir, 'bytes', `${key}._S3rver_object`));
      expect(onDisk.equals(buffer)).toBe(true);
    }
  });

  it('replaces an object atomically: a reader racing overwrites sees one whole version, never a torn one', async () => {
    const small = Buffer.from('{"archivedBeforeMs":1}');
    const large = Buffer.from(`{"archivedBeforeMs":2,"pad":"${'x'.repeat(300_000)}"}`);
    const reads: Buffer[] = [];
    const writer = (async () => {
      for (let i = 0; i < 30; i++)
        await s3.send(
          new PutObjectCommand({ Bucket: 'bytes', Key: 'race.json', Body: i % 2 ? small : large }),
        );
    })();
    await s3.send(new PutObjectCommand({ Bucket: 'bytes', Key: 'race.json', Body: small }));
    const reader = (async () => {
      for (let i = 0; i < 40; i++) {
        const got = await s3.send(new GetObjectCommand({ Bucket: 'bytes', Key: 'race.json' }));
        reads.push(Buffer.from(await got.Body!.transformToByteArray()));
      }
    })();
    await Promise.all([writer, reader]);
    expect(reads.every((r) => r.equals(small) || r.equals(large))).toBe(true);
    // Read-after-write: a put has landed whole when it returns.
    for (let i = 0; i < 10; i++) {
      const body = Buffer.from(`v${i}`.repeat(1000 * i + 1));
      await s3.send(new PutObjectCommand({ Bucket: 'bytes', Key: 'raw.txt', Body: body }));
      const got = await s3.send(new GetObjectCommand({ Bucket: 'bytes', Key: 'raw.txt' }));
      expect(Buffer.from(await got.Body!.transformToByteArray()).equals(body)).toBe(true);
    }
  });

  it('paginates ListObjectsV2 with continuation tokens, in process without --openssl-legacy-provider', async () => {
    const keys = Array.from({ length: 25 }, (_, i) => `list/${String(i).padStart(2, '0')}`);
    await Promise.all(keys.map((Key) => s3.send(new PutObjectCommand({ Bucket: 'bytes', Key, Body: Key }))));

    const pageOne = await s3.send(new ListObjectsV2Command({ Bucket: 'bytes', Prefix: 'list/', MaxKeys: 2 }));
    expect(pageOne.IsTruncated).toBe(true);
    const pageTwo = await s3.send(
      new ListObjectsV2Command({
        Bucket: 'bytes',
        Prefix: 'list/',
        MaxKeys: 2,
        ContinuationToken: pageOne.NextContinuationToken,
      }),
    );
    expect(pageTwo.Contents!.map((o) => o.Key)).toEqual(['list/02', 'list/03']);

    const listed: string[] = [];
    let pages = 0;
    for await (const page of paginateListObjectsV2(
      { client: s3, pageSize: 10 },
      { Bucket: 'bytes', Prefix: 'list/' },
    )) {
      pages++;
      listed.push(...(page.Contents ?? []).map((o) => o.Key!));
    }
    expect(pages).toBe(3);
    expect(listed).toEqual(keys);
    // The point of the test: this process has no DES (OpenSSL 3 without its legacy provider),
    // which s3rver's continuation tokens would need.
    if (!process.execArgv.includes('--openssl-legacy-provider'))
      expect(() => createCipheriv('des', Buffer.alloc(8), Buffer.alloc(8))).toThrow(/unsupported/);
  });
});
