/**
 * What DynamoDB on-demand bills for the speed layer's writes in the benches' simulations, from
 * what the in-memory stores recorded: bench/run.ts (the default's speed writes) and
 * bench/windowed-writes.ts (the aggregation window's) price them the same way.
 */
import type { InMemoryShardIdLog, InMemorySpeedRowStore } from '../test/services/in-memory-stores';

/**
 * Row write units and failed conditional writes: a write is billed per started KB of the item; a
 * failed conditional write as a write of the item it was checked against, at least one unit
 * (DynamoDB Developer Guide, "Condition expressions":
 * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ConditionExpressions.html).
 */
export function billedRowWrites(rows: InMemorySpeedRowStore): { rowWriteUnits: number; conflicts: number } {
  const size = new Map<string, number>();
  let rowWriteUnits = 0;
  let conflicts = 0;
  for (const w of rows.writes) {
    const id = JSON.stringify(w.address);
    if (w.outcome === 'written') {
      rowWriteUnits += Math.ceil((w.bytes ?? 0) / 1024);
      size.set(id, w.bytes ?? 0);
    } else if (w.outcome === 'conflict') {
      conflicts++;
      rowWriteUnits += Math.max(1, Math.ceil((size.get(id) ?? 0) / 1024));
    }
  }
  return { rowWriteUnits, conflicts };
}

/** Id-log write units: per started KB of each append (keys and attributes about 200 bytes more). */
export function billedIdLogWrites(log: InMemoryShardIdLog): number {
  return log.appends.reduce((n, a) => n + Math.ceil((a.bytes + 200) / 1024), 0);
}

/** Counts the row reads made through `rows` from now on (a read after a failed conditional write). */
export function countRowReads(rows: InMemorySpeedRowStore): () => number {
  let reads = 0;
  const read = rows.read.bind(rows);
  rows.read = (view, address) => {
    reads++;
    return read(view, address);
  };
  return () => reads;
}
