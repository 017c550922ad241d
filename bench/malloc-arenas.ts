/**
 * How much of a process's resident memory sits in glibc malloc's arenas, read from
 * /proc/<pid>/smaps. The main arena grows the `[heap]` mapping (brk); every other arena is a
 * "heap" of at most 64 MiB (HEAP_MAX_SIZE, twice the 32 MiB mmap threshold on 64-bit), mapped
 * aligned to 64 MiB, whose unused tail is PROT_NONE (glibc malloc/arena.c, new_heap()). Worker
 * threads take arenas of their own (up to 8 per core unless MALLOC_ARENA_MAX says otherwise), and
 * memory freed in an arena is kept there, fragmented, rather than returned: which is how native
 * memory of a process with threads grows without a leak.
 *
 * A heuristic: an anonymous read-write mapping that starts on a 64 MiB boundary and reaches the
 * next one (alone, or with a PROT_NONE mapping right after it) is taken for an arena heap. Other
 * allocators (V8's pages, DuckDB's jemalloc) align to at most a few MiB and do not leave such a
 * pair, so they are rarely mistaken for one.
 */
export interface MallocArenaRss {
  /** RSS of `[heap]`: the main arena (and anything else that uses brk). */
  readonly mainArenaBytes: number;
  /** RSS of the other arenas' heaps. */
  readonly threadArenaBytes: number;
  /** Heaps counted in threadArenaBytes. */
  readonly threadArenaHeaps: number;
}

const HEAP_MAX_SIZE = 64 * 1024 * 1024;

interface Mapping {
  readonly start: bigint;
  readonly end: bigint;
  readonly perms: string;
  readonly name: string;
  rss: number;
}

function mappings(smaps: string): Mapping[] {
  const out: Mapping[] = [];
  for (const line of smaps.split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      out.push({
        start: BigInt(`0x${head[1]}`),
        end: BigInt(`0x${head[2]}`),
        perms: head[3],
        name: head[4].trim(),
        rss: 0,
      });
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss && out.length > 0) out[out.length - 1].rss = Number(rss[1]) * 1024;
  }
  return out;
}

/** The arenas' share of RSS in the text of /proc/<pid>/smaps. */
export function mallocArenaRss(smaps: string): MallocArenaRss {
  const maps = mappings(smaps);
  const size = BigInt(HEAP_MAX_SIZE);
  let mainArenaBytes = 0;
  let threadArenaBytes = 0;
  let threadArenaHeaps = 0;
  maps.forEach((m, i) => {
    if (m.name === '[heap]') mainArenaBytes += m.rss;
    if (m.name !== '' || !m.perms.startsWith('rw') || m.start % size !== 0n) return;
    const next = maps[i + 1];
    const reachesBoundary =
      m.end - m.start === size ||
      (next !== undefined &&
        next.name === '' &&
        next.perms.startsWith('---') &&
        next.start === m.end &&
        next.end === m.start + size);
    if (!reachesBoundary) return;
    threadArenaBytes += m.rss;
    threadArenaHeaps++;
  });
  return { mainArenaBytes, threadArenaBytes, threadArenaHeaps };
}
