/**
 * Is dynalite the wall of the local speed path, and would DynamoDB Local move it? Issue 10 asks
 * to measure the alternatives before choosing. The same requests the speed layer and the query
 * function make (conditional PutItems of speed-row-sized items, 16 in flight; a strongly
 * consistent Query of one key's rows), through the same document client the handlers use, against:
 *
 * - `sdk-only`: a transport that answers every request at once without a server: what the AWS
 *   SDK itself costs per request (marshalling, JSON protocol, SigV4, middleware), the floor of
 *   any local emulator;
 * - `dynalite`: in this process, as the local runtime runs it (on the calling thread);
 * - `dynamodb-local`: AWS's DynamoDB Local jar (`-inMemory`) in a JVM of its own, when
 *   DYNAMODB_LOCAL_JAR names it (for example the one the npm package amplify-dynamodb-simulator
 *   ships in its `emulator/` folder; it needs Java 17). Not a dependency of the project: its
 *   package pulls in 283 others and 65 MB.
 *
 * Rounds alternate between the targets; CPU is counted for this process and, for DynamoDB
 * Local, for the JVM too (/proc/<pid>/stat). Writes bench/results/dynamodb-alternatives.json.
 * Run: [DYNAMODB_LOCAL_JAR=.../DynamoDBLocal.jar] npx tsx bench/dynamodb-alternatives.ts [puts=4000] [rounds=3]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { CreateTableCommand, DynamoDBClient, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { makeDynamoDbClient, makeDynamoDocumentClient } from '../lambdas/runtime/clients/dynamodb';
import type { AwsEndpoints } from '../lambdas/runtime/clients/endpoints';
import { startEmulatorServers } from '../local/emulator-servers';
import { pkSkTable } from '../local/resources';
import { benchMachine, percentile } from './bench-pipeline';
import { instantTransport } from './instant-transport';

const IN_FLIGHT = 16;
/** A speed row's stored text: the median row item of the speed-handler bench is about 600 bytes. */
const ROW_TEXT = 'x'.repeat(600);
/** Rows of one key the Query reads: the late-heavy query bench's order of magnitude. */
const QUERY_ROWS = 3000;

/** User + system CPU of a process, ms (all its threads). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

interface Target {
  readonly name: 'sdk-only' | 'dynalite' | 'dynamodb-local';
  readonly doc: DynamoDBDocumentClient;
  /** The server's own process, when it is not this one. */
  readonly pid?: number;
  readonly create: (table: string) => Promise<void>;
}

function serverTarget(name: Target['name'], url: string, pid?: number): Target {
  const e: AwsEndpoints = { region: 'us-east-1', dynamodb: url, s3Flavor: 'aws' };
  return {
    name,
    pid,
    doc: makeDynamoDocumentClient(e),
    create: async (table) => {
      const client = makeDynamoDbClient(e);
      await client.send(new CreateTableCommand(pkSkTable(table)));
      await waitUntilTableExists({ client, maxWaitTime: 30, minDelay: 0.05 }, { TableName: table });
    },
  };
}

/** The document client with a transport that answers `{}` at once: the SDK's own work per request. */
function sdkOnlyTarget(): Target {
  const client = new DynamoDBClient({
    region: 'us-east-1',
    endpoint: 'http://127.0.0.1:9',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    requestHandler: instantTransport('{"Items":[],"Count":0}'),
  });
  return {
    name: 'sdk-only',
    doc: DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } }),
    create: async () => {},
  };
}

async function startDynamoDbLocal(jar: string): Promise<{ url: string; jvm: ChildProcess }> {
  const port = 18000 + Math.floor(Math.random() * 1000);
  const dir = path.dirname(jar);
  const jvm = spawn(
    'java',
    [
      `-Djava.library.path=${path.join(dir, 'DynamoDBLocal_lib')}`,
      '-jar',
      jar,
      '-inMemory',
      '-port',
      String(port),
    ],
    { cwd: dir, stdio: 'ignore' },
  );
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await fetch(url);
      return { url, jvm };
    } catch {
      if (Date.now() > deadline)
        throw new Error(`DynamoDB Local (${jar}) did not answer on ${url} within 60 s`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

async function measure(target: Target, table: string, puts: number) {
  await target.create(table);
  const own0 = cpuMs(process.pid);
  const other0 = target.pid ? cpuMs(target.pid) : 0;
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < puts) {
        const i = next++;
        // The speed layer's blind create: on the condition that the row does not exist yet.
        await target.doc.send(
          new PutCommand({
            TableName: table,
            Item: {
              pk: `row#${i % Math.ceil(puts / QUERY_ROWS)}`,
              sk: String(i).padStart(9, '0'),
              m: ROW_TEXT,
              rev: 1,
            },
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        );
      }
    }),
  );
  const wallMs = performance.now() - t0;
  const ownMs = cpuMs(process.pid) - own0;
  const otherMs = target.pid ? cpuMs(target.pid) - other0 : 0;
  const queryMs: number[] = [];
  let rows = 0;
  for (let q = 0; q < 10; q++) {
    const q0 = performance.now();
    let start: Record<string, unknown> | undefined;
    rows = 0;
    do {
      const page = await target.doc.send(
        new QueryCommand({
          TableName: table,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': 'row#0' },
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      rows += page.Items?.length ?? 0;
      start = page.LastEvaluatedKey;
    } while (start);
    queryMs.push(performance.now() - q0);
  }
  return {
    target: target.name,
    puts,
    putsPerSecond: Math.round((puts * 1000) / wallMs),
    // Per put: this process (the SDK, and dynalite when it runs here) and the server's JVM.
    clientProcessCpuUsPerPut: Math.round((ownMs * 1000) / puts),
    serverProcessCpuUsPerPut: Math.round((otherMs * 1000) / puts),
    totalCpuUsPerPut: Math.round(((ownMs + otherMs) * 1000) / puts),
    queryRows: rows,
    queryP50Ms:
      Math.round(
        percentile(
          queryMs.sort((a, b) => a - b),
          50,
        ) * 10,
      ) / 10,
  };
}

async function main(): Promise<void> {
  const puts = Number(process.argv[2] ?? 4000);
  const rounds = Number(process.argv[3] ?? 3);
  const jar = process.env.DYNAMODB_LOCAL_JAR;
  const dynalite = await startEmulatorServers({
    kinds: ['dynamodb'],
    host: '127.0.0.1',
    ports: {},
    s3Dir: '/nonexistent', // no s3rver here
    trimStreamEveryMs: 0,
  });
  const local = jar ? await startDynamoDbLocal(jar) : undefined;
  const targets: Target[] = [
    sdkOnlyTarget(),
    serverTarget('dynalite', `http://127.0.0.1:${dynalite.ports.dynamodb}`),
    ...(local ? [serverTarget('dynamodb-local', local.url, local.jvm.pid)] : []),
  ];
  const results: Awaited<ReturnType<typeof measure>>[] = [];
  const loadAtStart = benchMachine().loadAverage1m;
  try {
    for (let round = 0; round < rounds; round++) {
      // Alternate the order, so neither target always runs first (JIT warm-up, a load change).
      const order = round % 2 === 0 ? targets : [...targets].reverse();
      for (const target of order) {
        const result = { round, ...(await measure(target, `alternatives${round}`, puts)) };
        console.log(JSON.stringify(result));
        results.push(result);
      }
    }
  } finally {
    local?.jvm.kill('SIGKILL');
    await dynalite.stop();
  }
  const file = path.join(__dirname, 'results', 'dynamodb-alternatives.json');
  writeFileSync(
    file,
    JSON.stringify(
      {
        date: new Date().toISOString(),
        machine: { ...benchMachine(), loadAverage1mAtStart: loadAtStart },
        params: {
          puts,
          rounds,
          inFlight: IN_FLIGHT,
          rowBytes: ROW_TEXT.length,
          queryRows: QUERY_ROWS,
          jar: jar ?? null,
        },
        results,
      },
      null,
      2,
    ) + '\n',
  );
  console.log(`wrote ${file}`);
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
