import { describe, expect, it } from 'vitest';
import { parseBatchStep, writeResult } from '../../lambdas/adapters/codecs/batch-step';
import {
  manifestRefOf,
  parseMapRunManifest,
  parseMapRunResultFile,
  readMapRunOutputs,
} from '../../lambdas/adapters/codecs/map-run-results';

/**
 * The WriteCells Map exports its writers' answers (ResultWriter) and Publish reads them back: the
 * shapes below are those of the AWS documentation's "Exporting to Amazon S3" examples
 * (https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html).
 */
const RUN = 'arn:aws:states:eu-west-1:123456789012:mapRun:Batch/WriteCells:6dbfba93';
const BUCKET = 'archive-bucket';
const PREFIX = 'batch-runs/map-results/';
const MANIFEST = `${PREFIX}6dbfba93/manifest.json`;
const answer = (cells: number, unstorable: { view: string; key: string; problem: string }[] = []) => ({
  cells,
  unstorableCount: unstorable.length,
  unstorable,
});

/** A result file as Transformation NONE writes it: a JSON array of each child's metadata, its output as text. */
function noneFile(outputs: unknown[]): string {
  return JSON.stringify(
    outputs.map((output, i) => ({
      ExecutionArn: `arn:aws:states:eu-west-1:123456789012:execution:Batch/WriteCells:child-${i}`,
      Input: JSON.stringify({ action: 'write', key: `batch-runs/v3/a/${i}.gz` }),
      InputDetails: { Included: true },
      Name: `child-${i}`,
      Output: JSON.stringify(output),
      OutputDetails: { Included: true },
      RedriveCount: 0,
      RedriveStatus: 'NOT_REDRIVABLE',
      StartDate: '2026-12-04T01:00:00.000Z',
      StateMachineArn: `${RUN}`,
      Status: 'SUCCEEDED',
      StopDate: '2026-12-04T01:00:01.000Z',
    })),
  );
}

function manifest(succeeded: string[], failed: string[] = [], pending: string[] = []): string {
  const files = (keys: string[]) => keys.map((Key) => ({ Key, Size: 100 }));
  return JSON.stringify({
    DestinationBucket: BUCKET,
    MapRunArn: RUN,
    ResultFiles: { FAILED: files(failed), PENDING: files(pending), SUCCEEDED: files(succeeded) },
  });
}

function bucket(objects: Record<string, string>) {
  const reads: string[] = [];
  const read = async (key: string) => {
    reads.push(key);
    const text = objects[key];
    if (text === undefined) throw new Error(`NoSuchKey: ${key}`);
    return text;
  };
  return { read, reads };
}

describe("the WriteCells Map Run's exported results", () => {
  it("finds the manifest in the Map's state output, and nothing in anything else", () => {
    expect(manifestRefOf({ MapRunArn: RUN, ResultWriterDetails: { Bucket: BUCKET, Key: MANIFEST } })).toEqual(
      {
        bucket: BUCKET,
        key: MANIFEST,
      },
    );
    for (const other of [[], [answer(1)], null, {}, { ResultWriterDetails: { Bucket: BUCKET } }, 'x'])
      expect(manifestRefOf(other)).toBeUndefined();
  });

  it('reads the children outputs of both transformations and both output types', () => {
    const outputs = [answer(3), answer(0), answer(7, [{ view: 'v', key: 'k...', problem: 'too long' }])];
    expect(parseMapRunResultFile(noneFile(outputs))).toEqual(outputs);
    // COMPACT: the outputs themselves, as a JSON array or as JSON Lines.
    expect(parseMapRunResultFile(JSON.stringify(outputs))).toEqual(outputs);
    expect(parseMapRunResultFile(outputs.map((o) => JSON.stringify(o)).join('\n') + '\n')).toEqual(outputs);
    expect(parseMapRunResultFile('')).toEqual([]);
  });

  it('sums every succeeded file, read only under the results prefix of the archive bucket', async () => {
    const files = [`${PREFIX}6dbfba93/SUCCEEDED_0.json`, `${PREFIX}6dbfba93/SUCCEEDED_1.json`];
    const { read, reads } = bucket({
      [MANIFEST]: manifest(files),
      [files[0]]: noneFile([answer(2), answer(5)]),
      [files[1]]: noneFile([answer(11)]),
    });
    const outputs = await readMapRunOutputs(
      read,
      { bucket: BUCKET, key: MANIFEST },
      { bucket: BUCKET, prefix: PREFIX },
    );
    expect(outputs.map(writeResult).reduce((n, w) => n + w.cells, 0)).toBe(18);
    expect(reads).toEqual([MANIFEST, ...files]);
  });

  it('refuses a Map Run with failed or pending children, and files outside the results prefix', async () => {
    const { read } = bucket({
      [MANIFEST]: manifest([], [`${PREFIX}6dbfba93/FAILED_0.json`]),
      [`${PREFIX}elsewhere/manifest.json`]: manifest(['events/dt=2026-12-04/x.ndjson']),
    });
    const allowed = { bucket: BUCKET, prefix: PREFIX };
    await expect(readMapRunOutputs(read, { bucket: BUCKET, key: MANIFEST }, allowed)).rejects.toThrow(
      /has 1 failed and 0 pending result files/,
    );
    await expect(
      readMapRunOutputs(read, { bucket: BUCKET, key: `${PREFIX}elsewhere/manifest.json` }, allowed),
    ).rejects.toThrow(
      /events\/dt=2026-12-04\/x.ndjson are not under s3:\/\/archive-bucket\/batch-runs\/map-results\//,
    );
    await expect(readMapRunOutputs(read, { bucket: 'other', key: MANIFEST }, allowed)).rejects.toThrow(
      /s3:\/\/other\/.* are not under s3:\/\/archive-bucket\//,
    );
    expect(() => parseMapRunManifest('{"ResultFiles": {"SUCCEEDED": [{}]}}')).toThrow(/has no Key/);
    expect(() => parseMapRunManifest('not json')).toThrow(/manifest is not JSON/);
  });

  it('gives Publish the manifest reference or the answers themselves, and refuses anything else', () => {
    const plan = { version: 3, cutoffMs: 120_000, expectedVersion: 2, fullViews: ['a'], startedMs: 1 };
    const output = { MapRunArn: RUN, ResultWriterDetails: { Bucket: BUCKET, Key: MANIFEST } };
    expect(parseBatchStep({ action: 'publish', plan, written: output } as never)).toEqual({
      action: 'publish',
      plan,
      written: { bucket: BUCKET, key: MANIFEST },
    });
    expect(parseBatchStep({ action: 'publish', plan, written: [answer(1)] } as never)).toMatchObject({
      written: [answer(1)],
    });
    expect(() => parseBatchStep({ action: 'publish', plan, written: { MapRunArn: RUN } } as never)).toThrow(
      /written must be the WriteCells Map's output/,
    );
    expect(() => writeResult({ cells: '3' })).toThrow(
      /a write result must be \{cells, unstorableCount, unstorable\}/,
    );
  });
});
