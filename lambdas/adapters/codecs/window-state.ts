import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { decodeWindowRows, encodeWindowRows, type WindowRows } from '../../core/window-state';
import type { ViewDefinition } from '../../core/view';
import type { WindowStateCodec } from '../../services/windowed-speed-layer';

/**
 * A window's rows as the event source's `state` carries them: JSON, raw-deflated, base64. Lambda
 * counts the state against 1 MB per shard, and row states (sketches, decimal texts, repeated
 * field names) compress several times over.
 */
export function windowStateCodec(views: readonly ViewDefinition[]): WindowStateCodec {
  return {
    encode: (rows: WindowRows) => deflateRawSync(encodeWindowRows(rows)).toString('base64'),
    decode: (text: string) =>
      decodeWindowRows(views, inflateRawSync(Buffer.from(text, 'base64')).toString('utf8')),
  };
}
