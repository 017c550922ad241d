import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { AwsEndpoints } from '../lambdas/runtime/clients';

/* eslint-disable @typescript-eslint/no-require-imports -- these emulators ship as CommonJS without types */
const kinesalite = require('kinesalite') as (options: Record<string, unknown>) => Server;
const dynalite = require('dynalite') as (options: Record<string, unknown>) => Server;
const S3rver = require('s3rver') as new (options: Record<string, unknown>) => {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
};
/* eslint-enable @typescript-eslint/no-require-imports */

export interface EmulatorOptions {
  /** Folder the emulators persist to; in memory (and a temporary folder for S3) when absent. */
  readonly dataDir?: string;
  /** Ports; 0 or absent picks a free one (the emulators' defaults collide, so never rely on them). */
  readonly ports?: { readonly kinesis?: number; readonly dynamodb?: number; readonly s3?: number };
  readonly host?: string;
}

export interface Emulators {
  readonly endpoints: AwsEndpoints;
  /** The folder s3rver keeps buckets in: `<s3Dir>/<bucket>/<key>._S3rver_object`. */
  readonly s3Dir: string;
  stop(): Promise<void>;
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    (server as Server & { closeAllConnections?: () => void }).closeAllConnections?.();
    server.close(() => resolve());
  });
}

/**
 * Starts kinesalite, dynalite and s3rver in this process, on loopback. They speak the AWS wire
 * protocol, so the handlers use the unmodified SDK clients with only the endpoint changed.
 */
export async function startEmulators(options: EmulatorOptions = {}): Promise<Emulators> {
  const host = options.host ?? '127.0.0.1';
  const dir = options.dataDir;
  if (dir) mkdirSync(dir, { recursive: true });
  const s3Dir = dir ? path.join(dir, 's3') : mkdtempSync(path.join(tmpdir(), 'streamfold-s3-'));
  mkdirSync(s3Dir, { recursive: true });

  const kinesis = kinesalite({
    createStreamMs: 0,
    deleteStreamMs: 0,
    updateStreamMs: 0,
    shardLimit: 100,
    ...(dir ? { path: path.join(dir, 'kinesis') } : {}),
  });
  const dynamo = dynalite({
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
    ...(dir ? { path: path.join(dir, 'dynamodb') } : {}),
  });
  const s3 = new S3rver({
    address: host,
    port: options.ports?.s3 ?? 0,
    directory: s3Dir,
    silent: true,
    allowMismatchedSignatures: true,
  });

  const kinesisPort = await listen(kinesis, options.ports?.kinesis ?? 0, host);
  const dynamoPort = await listen(dynamo, options.ports?.dynamodb ?? 0, host);
  const s3Address = await s3.run();
  return {
    endpoints: {
      region: 'us-east-1',
      kinesis: `http://${host}:${kinesisPort}`,
      dynamodb: `http://${host}:${dynamoPort}`,
      s3: `http://${host}:${s3Address.port}`,
      s3Flavor: 's3rver',
    },
    s3Dir,
    async stop() {
      await Promise.all([close(kinesis), close(dynamo), s3.close()]);
      if (!dir) rmSync(s3Dir, { recursive: true, force: true });
    },
  };
}
