import type { DuckDBInstance } from '@duckdb/node-api';
import { TextDecoder } from 'node:util';

/**
 * An in-memory DuckDB whose text results keep a leading U+FEFF.
 *
 * @duckdb/node-api decodes every VARCHAR with one shared `new TextDecoder()`, which drops a
 * byte-order mark at the start of each string: the keys "\uFEFFa" and "a" came back as the same
 * text, so a batch run wrote one cell twice (DynamoDB: "Provided list of item keys contains
 * duplicates") and served the first key's counts under the second. The speed layer, replay and
 * the cloud's Athena keep the mark, so the local batch must too: the shared decoder is replaced by
 * one with `ignoreBOM: true`, and a probe proves it took effect before any query runs.
 */
export async function openDuckDb(): Promise<DuckDBInstance> {
  // Loaded lazily: the native module is only present where DuckDB is the engine (never in a Lambda bundle).
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const accessors = (await import('@duckdb/node-api/lib/vectors/dataAccessors.js')) as {
    default?: { textDecoder?: TextDecoder };
    textDecoder?: TextDecoder;
  };
  // The CommonJS module object itself (a namespace import's copy of it cannot be assigned).
  const target = accessors.default ?? accessors;
  if ('textDecoder' in target) target.textDecoder = new TextDecoder('utf-8', { ignoreBOM: true });
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    const probe = (await connection.runAndReadAll(`SELECT chr(65279) || 'a' AS s`)).getRowObjectsJS();
    if (probe[0]?.s !== '\uFEFFa') {
      instance.closeSync();
      throw new Error(
        'this version of @duckdb/node-api drops a leading U+FEFF from text results, which would merge batch keys that differ only by it: pin @duckdb/node-api to the version in package-lock.json, or update the decoder workaround in lambdas/adapters/duckdb/open-duckdb.ts',
      );
    }
  } finally {
    connection.closeSync();
  }
  return instance;
}
