import { describe, expect, it } from 'vitest';
import { mallocArenaRss } from '../../bench/malloc-arenas';

/** One /proc/<pid>/smaps entry with only the fields the parser reads. */
const entry = (range: string, perms: string, name: string, rssKb: number) =>
  `${range} ${perms} 00000000 00:00 0 ${name}\nSize: 0 kB\nRss: ${rssKb} kB\nPss: ${rssKb} kB\n`;

describe('mallocArenaRss', () => {
  it("counts [heap] as the main arena, and a 64 MiB-aligned read-write map with its PROT_NONE tail as an arena's heap", () => {
    const smaps = [
      entry('55d0c8a00000-55d0c9000000', 'rw-p', '[heap]', 6144),
      // An arena heap: rw part from a 64 MiB boundary, the rest of the 64 MiB PROT_NONE.
      entry('7f1c44000000-7f1c46000000', 'rw-p', '', 30000),
      entry('7f1c46000000-7f1c48000000', '---p', '', 0),
      // A whole 64 MiB heap in use.
      entry('7f1c48000000-7f1c4c000000', 'rw-p', '', 65536),
      // Aligned, but followed by another allocator's map: not an arena.
      entry('7f1c50000000-7f1c50200000', 'rw-p', '', 2048),
      entry('7f1c50200000-7f1c50400000', 'rw-p', '', 2048),
      // Anonymous, not aligned: V8 or jemalloc.
      entry('7f1c54040000-7f1c54080000', 'rw-p', '', 256),
      entry('7f1c60000000-7f1c60100000', 'r-xp', '/usr/bin/node', 1024),
    ].join('');
    expect(mallocArenaRss(smaps)).toEqual({
      mainArenaBytes: 6144 * 1024,
      threadArenaBytes: (30000 + 65536) * 1024,
      threadArenaHeaps: 2,
    });
  });
});
