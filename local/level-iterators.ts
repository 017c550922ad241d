import { createRequire } from 'node:module';

/** The parts of abstract-level 3 that closeEndedLevelIterators() wraps. */
interface LevelIteratorProto {
  close(): Promise<void>;
  return?: () => Promise<{ done: true; value: undefined }>;
}
interface AbstractLevelModule {
  AbstractLevel: { prototype: Record<'iterator' | 'keys' | 'values', (options?: unknown) => object> };
  AbstractIterator: { prototype: LevelIteratorProto };
}

const PATCHED = Symbol.for('streamfold.abstract-level.iteratorReturn');
let opened = 0;
let closed = 0;
/** Whether this thread's abstract-level was patched: each worker thread loads its own copy of the modules. */
let installed = false;
// Only iterators the public factories returned are counted: a default key or value iterator
// wraps an inner one (made by `_iterator`) and closes it with itself.
const counted = new WeakSet<object>();

/**
 * dynalite 4 reads every Query and Scan through a Readable over a LevelDB iterator
 * (`db.values()`), and closes the iterator in the stream's destroy by calling `iterator.return()`.
 * The iterators of abstract-level 3 (under classic-level and memory-level) have no `return()`,
 * only `close()`: every Query and Scan left its iterator open until the database closed. An open
 * LevelDB iterator pins the version it started on (memtables and table files, in native memory and
 * on disk), so a runtime serving queries and running its status scans grew without bound (about
 * 6 KB of RSS per event at 1,000 events/s). Here the iterators get the `return()` dynalite expects,
 * which closes them; a count of iterators opened and closed says whether any are left behind.
 */
export function closeEndedLevelIterators(): void {
  const fromDynalite = createRequire(require.resolve('dynalite'));
  const fromLevel = createRequire(fromDynalite.resolve('level'));
  const abstractLevel = fromLevel('abstract-level') as AbstractLevelModule;
  // Every iterator kind (entries, keys, values, and the defaults) extends this one class.
  const common = Object.getPrototypeOf(abstractLevel.AbstractIterator.prototype) as LevelIteratorProto & {
    [PATCHED]?: true;
  };
  installed = true;
  if (common[PATCHED]) return;
  common[PATCHED] = true;
  if (typeof common.return !== 'function') {
    common.return = async function (this: LevelIteratorProto) {
      await this.close();
      return { done: true, value: undefined };
    };
  }
  const close = common.close;
  common.close = function (this: LevelIteratorProto) {
    if (counted.delete(this)) closed++;
    return close.call(this);
  };
  const level = abstractLevel.AbstractLevel.prototype;
  for (const factory of ['iterator', 'keys', 'values'] as const) {
    const original = level[factory];
    level[factory] = function (this: unknown, options?: unknown) {
      const iterator = original.call(this, options);
      counted.add(iterator);
      opened++;
      return iterator;
    };
  }
}

/**
 * LevelDB iterators opened and not closed yet, in this thread (dynalite's, once patched); throws
 * where the patch was not applied, as nothing is counted there and 0 would hide the leak.
 */
export function openLevelIterators(): number {
  if (!installed)
    throw new Error(
      'closeEndedLevelIterators() has not run in this thread: a dynalite loaded here leaves an iterator open per Query and Scan',
    );
  return opened - closed;
}
