import { createRequire } from 'node:module';

interface Ltgt {
  compare(a: unknown, b: unknown): number;
}

const NATIVE = Symbol.for('streamfold.memdown.nativeCompare');

/**
 * kinesalite's in-memory store (memdown: `--in-memory`, the benchmarks and the tests; a data
 * directory uses leveldown, which compares natively) orders its keys in a red-black tree with
 * `ltgt.compare`, which walks two Buffer keys byte by byte in JavaScript. kinesalite's keys share
 * long prefixes (stream, shard, then a 56-digit sequence number), so that walk was 258 ms of a
 * 4.8 s window of the main thread while 40,000 events were posted (a profile, 2026-12-06), with
 * the tree's inserts another 100 ms.
 *
 * The same order, from `Buffer.compare` (a native memcmp): for two Buffers ltgt returns the
 * difference of the first differing bytes, or of the lengths when one is a prefix of the other,
 * which has the sign `Buffer.compare` returns; memdown only reads the sign. Anything else goes to
 * ltgt's own function. Only memdown requires ltgt here, and it captures the comparator when a
 * store is created: this must run before kinesalite opens its database.
 */
export function compareMemdownKeysNatively(): void {
  const ltgt = createRequire(require.resolve('memdown'))('ltgt') as Ltgt & { [NATIVE]?: true };
  if (ltgt[NATIVE]) return;
  const original = ltgt.compare.bind(ltgt);
  ltgt.compare = (a, b) => (Buffer.isBuffer(a) && Buffer.isBuffer(b) ? Buffer.compare(a, b) : original(a, b));
  ltgt[NATIVE] = true;
}
