import { encodeKey } from '../../core/reducer';

/** Times are zero-padded so DynamoDB's string order on sort keys is time order. */
export function padTime(ms: number): string {
  return String(ms).padStart(15, '0');
}

export function speedPartition(view: string, key: readonly string[]): string {
  return `${view}#${encodeKey(key)}`;
}

export function batchPartition(version: number, view: string, key: readonly string[]): string {
  return `v${version}#${view}#${encodeKey(key)}`;
}
