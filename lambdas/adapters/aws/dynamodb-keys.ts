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

/** Batch cells of every segment of a (view, key) share one partition, so one Query finds each bucket's newest copy. */
export function batchCellPartition(view: string, key: readonly string[]): string {
  return `c#${view}#${encodeKey(key)}`;
}

/** `<bucket>#<segment>`, both padded: a bucket's copies sort together, oldest segment first. */
export function batchCellSort(bucketMs: number, segment: number): string {
  return `${padTime(bucketMs)}#${String(segment).padStart(12, '0')}`;
}
