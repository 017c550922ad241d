import { createHash } from 'node:crypto';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AwsEndpoints } from '../../../lambdas/runtime/clients';
import type { Random } from './seeded-random';

/** Fault rates of the proxy, each a probability per matching request. */
export interface WireFaultRates {
  /** DynamoDB answers ProvisionedThroughputExceededException without applying the request. */
  readonly dynamoThrottle: number;
  /** DynamoDB applies the request, then the connection drops before the answer arrives. */
  readonly dynamoResponseLost: number;
  /** An archive object's upload is cut in the middle of its body (the connection drops). */
  readonly s3PutCut: number;
  /**
   * A batch run's write of its version's rows fails with an error no SDK retry hides, after the
   * run's earlier writes landed: the run fails midway and must leave the previous version served.
   * @default 0
   */
  readonly batchWriteFail?: number;
}

export interface WireFaultCounts {
  dynamoThrottle: number;
  dynamoResponseLost: number;
  /** Conditional writes whose retry, after their answer was lost, found the condition no longer true. */
  lostConditions: number;
  s3PutCut: number;
  /** Writes of a batch run's rows failed on purpose (each fails its run midway). */
  batchWriteFail: number;
}

/** A batch run's publish as the proxy sees it: writing its version's rows, or flipping the serving pointer. */
export type PublishStep = 'rows' | 'pointer';

/** One request held by a trap: the suite SIGKILLs the runtime, then lets it land or drops it. */
interface Trap {
  readonly step: PublishStep;
  readonly sprung: () => void;
  release?: Promise<boolean>;
}

/**
 * One AWS endpoint in front of the three emulators (routed as the SDK addresses them: Kinesis and
 * DynamoDB by `X-Amz-Target`, everything else is S3) that injects wire faults with a seeded
 * random source. The runtime behind it sees exactly what a flaky AWS gives: throttling, answers
 * lost after the write applied (the SDK retries, and a conditional write then meets its own
 * earlier effect), uploads cut mid-body. The emulators behind it can be restarted
 * (`restartUpstream`) while clients keep the proxy's address.
 */
export class FaultProxy {
  private server?: Server;
  private upstream: AwsEndpoints;
  private restarting = false;
  private inFlight = 0;
  enabled = true;
  readonly counts: WireFaultCounts = {
    dynamoThrottle: 0,
    dynamoResponseLost: 0,
    lostConditions: 0,
    s3PutCut: 0,
    batchWriteFail: 0,
  };
  private trap?: Trap;
  /** Digests of conditional writes whose answer was dropped (their retry is watched). */
  private readonly droppedConditional = new Set<string>();

  constructor(
    upstream: AwsEndpoints,
    private rates: WireFaultRates,
    private readonly random: Random,
  ) {
    this.upstream = upstream;
  }

  /**
   * Restarts what is behind the proxy: requests arriving meanwhile are refused (their connection
   * drops, as with a service restarting), and requests in flight finish first, because the
   * emulators close their databases before their servers (a request still running would crash
   * the process hosting them, which in AWS is no client's problem).
   */
  async restartUpstream(restart: () => Promise<AwsEndpoints>): Promise<void> {
    this.restarting = true;
    try {
      while (this.inFlight > 0) await new Promise((r) => setTimeout(r, 5));
      this.upstream = await restart();
    } finally {
      this.restarting = false;
    }
  }

  /**
   * Holds the next request of a batch run's publish (`rows`: a BatchWriteItem of the batch
   * table; `pointer`: the conditional put of the serving pointer) until `release` says whether
   * it lands: the suite kills the runtime while that request is on the wire, so the kill falls
   * mid-publish by construction rather than by chance. Resolves when such a request arrives;
   * `disarm` gives up waiting.
   */
  whenPublishing(step: PublishStep, release: Promise<boolean>): Promise<void> {
    return new Promise((sprung) => {
      this.trap = { step, sprung, release };
    });
  }

  /** Refuses this share of the batch runs' row writes from now on (FaultSuiteOptions.batchFaults). */
  setBatchWriteFail(rate: number): void {
    this.rates = { ...this.rates, batchWriteFail: rate };
  }

  disarm(): void {
    this.trap = undefined;
  }

  async listen(): Promise<string> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch(() => res.socket?.destroy());
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private roll(rate: number): boolean {
    return this.enabled && rate > 0 && this.random.next() < rate;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (this.restarting) {
      res.socket?.destroy();
      return;
    }
    this.inFlight++;
    try {
      await this.forward(req, res, Buffer.concat(chunks));
    } finally {
      this.inFlight--;
    }
  }

  private async forward(req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> {
    const target = String(req.headers['x-amz-target'] ?? '');
    const service = target.startsWith('Kinesis_')
      ? 'kinesis'
      : target.startsWith('DynamoDB_')
        ? 'dynamodb'
        : 's3';
    const base = new URL(this.upstream[service] ?? '');
    const rowsOfBatch = target.endsWith('.BatchWriteItem') && BATCH_TABLE_WRITE.test(body.toString());
    const pointer = target.endsWith('.PutItem') && body.includes('"previousCutoffMs"');
    const trap = this.trap;
    if (trap && ((trap.step === 'rows' && rowsOfBatch) || (trap.step === 'pointer' && pointer))) {
      this.trap = undefined;
      trap.sprung();
      if (!(await trap.release)) {
        res.socket?.destroy();
        return;
      }
    }
    if (rowsOfBatch && this.roll(this.rates.batchWriteFail ?? 0)) {
      this.counts.batchWriteFail++;
      refuse(
        res,
        'com.amazon.coral.validate#ValidationException',
        'injected: the batch run failed midway, while writing its rows',
      );
      return;
    }
    if (service === 'dynamodb' && this.roll(this.rates.dynamoThrottle)) {
      this.counts.dynamoThrottle++;
      refuse(
        res,
        'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException',
        'The level of configured provisioned throughput for the table was exceeded (injected)',
      );
      return;
    }
    const cutUpload =
      service === 's3' &&
      req.method === 'PUT' &&
      /\/(events|rejected)\//.test(req.url ?? '') &&
      body.length > 1 &&
      this.roll(this.rates.s3PutCut);
    const loseAnswer = service === 'dynamodb' && this.roll(this.rates.dynamoResponseLost);
    const conditional = service === 'dynamodb' && body.includes('ConditionExpression');
    const digest = conditional ? createHash('sha1').update(body).digest('hex') : '';
    const headers = { ...req.headers, host: base.host };
    const upstream = request({
      host: base.hostname,
      port: base.port,
      method: req.method,
      path: req.url,
      headers,
    });
    if (cutUpload) {
      // Half the body, then the connection drops: s3rver sees an aborted upload.
      this.counts.s3PutCut++;
      upstream.on('error', () => undefined);
      upstream.write(body.subarray(0, Math.floor(body.length / 2)));
      await new Promise((r) => setTimeout(r, 5));
      upstream.destroy();
      res.socket?.destroy();
      return;
    }
    const answer = await new Promise<IncomingMessage>((resolve, reject) => {
      upstream.on('response', resolve);
      upstream.on('error', reject);
      upstream.end(body);
    });
    const answerChunks: Buffer[] = [];
    for await (const chunk of answer) answerChunks.push(chunk as Buffer);
    const answerBody = Buffer.concat(answerChunks);
    if (loseAnswer) {
      this.counts.dynamoResponseLost++;
      if (conditional) this.droppedConditional.add(digest);
      res.socket?.destroy();
      return;
    }
    if (
      conditional &&
      this.droppedConditional.delete(digest) &&
      answerBody.includes('ConditionalCheckFailed')
    )
      this.counts.lostConditions++;
    res.writeHead(answer.statusCode ?? 502, answer.headers);
    res.end(answerBody);
  }
}

/** A BatchWriteItem addressed to the batch view's table (resources.ts names it `<prefix>-batch`). */
const BATCH_TABLE_WRITE = /"RequestItems":\{"[^"]*-batch"/;

/** Answers as DynamoDB does when it refuses a request, without forwarding it. */
function refuse(res: ServerResponse, type: string, message: string): void {
  res.writeHead(400, { 'content-type': 'application/x-amz-json-1.0' });
  res.end(JSON.stringify({ __type: type, message }));
}
