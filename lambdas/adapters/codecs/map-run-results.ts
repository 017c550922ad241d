/**
 * What a Distributed Map with a ResultWriter leaves in S3, read back by the step after it.
 *
 * The Map's state output is then `{MapRunArn, ResultWriterDetails: {Bucket, Key}}`, Key naming the
 * Map Run's `manifest.json`, which lists the result files by the children's final status:
 * `{DestinationBucket, MapRunArn, ResultFiles: {FAILED: [{Key, Size}], PENDING: [...], SUCCEEDED: [...]}}`
 * (https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html, "Exporting
 * to Amazon S3"). A result file is a JSON array (OutputType JSON, the default) or JSON Lines; an
 * entry is a child's metadata with its output as text in `Output` (Transformation NONE, the default
 * when exporting), or the child's output itself (COMPACT). Both are read, whichever the
 * definition chose.
 */

/** Where the Map Run's manifest is: the Map's state output with a ResultWriter. */
export interface MapRunManifestRef {
  readonly bucket: string;
  readonly key: string;
}

/** The result files of a Map Run, by the children's status. */
export interface MapRunManifest {
  readonly succeeded: readonly string[];
  readonly failed: readonly string[];
  readonly pending: readonly string[];
}

/** The manifest reference in a Map's state output, or undefined when the output is not one. */
export function manifestRefOf(output: unknown): MapRunManifestRef | undefined {
  if (typeof output !== 'object' || output === null) return undefined;
  const details = (output as { ResultWriterDetails?: unknown }).ResultWriterDetails;
  if (typeof details !== 'object' || details === null) return undefined;
  const { Bucket, Key } = details as { Bucket?: unknown; Key?: unknown };
  if (typeof Bucket !== 'string' || typeof Key !== 'string' || Bucket === '' || Key === '') return undefined;
  return { bucket: Bucket, key: Key };
}

function fileKeys(files: unknown, status: string): string[] {
  if (files === undefined) return [];
  if (!Array.isArray(files))
    throw new Error(
      `Map Run manifest: ResultFiles.${status} is not an array (given ${JSON.stringify(files)})`,
    );
  return files.map((file: unknown) => {
    const key = (file as { Key?: unknown } | null)?.Key;
    if (typeof key !== 'string')
      throw new Error(
        `Map Run manifest: a ResultFiles.${status} entry has no Key (given ${JSON.stringify(file)})`,
      );
    return key;
  });
}

export function parseMapRunManifest(text: string): MapRunManifest {
  let manifest: unknown;
  try {
    manifest = JSON.parse(text);
  } catch (error) {
    throw new Error(`Map Run manifest is not JSON: ${(error as Error).message}`);
  }
  const files = (manifest as { ResultFiles?: unknown } | null)?.ResultFiles;
  if (typeof files !== 'object' || files === null)
    throw new Error(`Map Run manifest has no ResultFiles object (given ${text.slice(0, 200)})`);
  const { SUCCEEDED, FAILED, PENDING } = files as Record<string, unknown>;
  return {
    succeeded: fileKeys(SUCCEEDED, 'SUCCEEDED'),
    failed: fileKeys(FAILED, 'FAILED'),
    pending: fileKeys(PENDING, 'PENDING'),
  };
}

/** The children's outputs in one result file, whichever format and transformation wrote it. */
export function parseMapRunResultFile(text: string): unknown[] {
  const trimmed = text.trim();
  if (trimmed === '') return [];
  let entries: unknown[];
  if (trimmed.startsWith('[')) {
    const parsed: unknown = JSON.parse(trimmed);
    entries = Array.isArray(parsed) ? parsed : [parsed];
  } else {
    entries = trimmed
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as unknown);
  }
  return entries.map((entry) => {
    const output = (entry as { Output?: unknown } | null)?.Output;
    // NONE: the child's metadata, its output as JSON text. COMPACT: the output itself.
    return typeof output === 'string' &&
      typeof (entry as { ExecutionArn?: unknown }).ExecutionArn === 'string'
      ? (JSON.parse(output) as unknown)
      : entry;
  });
}

/**
 * Every child's output of a Map Run, read through `read` (an object's text by key). A Map Run that
 * left failed or pending children is refused: with no tolerated failure the Map itself failed, so
 * a step reading its results after that is a definition error, and counting only some would
 * understate what was written.
 */
export async function readMapRunOutputs(
  read: (key: string) => Promise<string>,
  ref: MapRunManifestRef,
  allowed: { readonly bucket: string; readonly prefix: string },
): Promise<unknown[]> {
  // Only from where the definition exports them: a step input cannot make the function read
  // another bucket or another part of this one.
  const check = (key: string) => {
    if (ref.bucket !== allowed.bucket || !key.startsWith(allowed.prefix))
      throw new Error(
        `the Map Run results s3://${ref.bucket}/${key} are not under s3://${allowed.bucket}/${allowed.prefix}; the state machine definition and the handler disagree`,
      );
    return key;
  };
  const manifest = parseMapRunManifest(await read(check(ref.key)));
  if (manifest.failed.length > 0 || manifest.pending.length > 0)
    throw new Error(
      `Map Run ${ref.key} has ${manifest.failed.length} failed and ${manifest.pending.length} pending result files; its children did not all succeed`,
    );
  const outputs: unknown[] = [];
  for (const key of manifest.succeeded) outputs.push(...parseMapRunResultFile(await read(check(key))));
  return outputs;
}
