/**
 * Compares two V8 heap snapshots (`node --heapsnapshot-signal=SIGUSR2`, or the soak's
 * `--heap-signal`): objects and bytes by constructor in each, largest growth first. Finding where
 * a long-running process's heap grows is a diff of counts, not a look at one snapshot.
 *
 * Run: npx tsx bench/heap-diff.ts early.heapsnapshot late.heapsnapshot [--top 30]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

export interface ConstructorTotals {
  readonly count: number;
  readonly bytes: number;
}

/** Self size and count of every node, keyed by `type:name` (name is the constructor for objects). */
export function totalsByConstructor(snapshot: Snapshot): Map<string, ConstructorTotals> {
  const fields = snapshot.snapshot.meta.node_fields;
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const types = snapshot.snapshot.meta.node_types[0];
  const totals = new Map<string, { count: number; bytes: number }>();
  for (let i = 0; i < snapshot.nodes.length; i += width) {
    const type = types[snapshot.nodes[i + typeAt]];
    // Strings and code are grouped by type alone: their "names" are their contents.
    const name = type === 'object' || type === 'closure' ? snapshot.strings[snapshot.nodes[i + nameAt]] : '';
    const key = `${type}:${name}`;
    const t = totals.get(key) ?? { count: 0, bytes: 0 };
    t.count++;
    t.bytes += snapshot.nodes[i + sizeAt];
    totals.set(key, t);
  }
  return totals;
}

function main(): void {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: 'string', default: '30' } },
  });
  if (positionals.length !== 2)
    throw new Error('give two .heapsnapshot files, the earlier first: npx tsx bench/heap-diff.ts a b');
  const [a, b] = positionals.map((file) =>
    totalsByConstructor(JSON.parse(readFileSync(file, 'utf8')) as Snapshot),
  );
  const sum = (m: Map<string, ConstructorTotals>) => [...m.values()].reduce((s, t) => s + t.bytes, 0);
  console.log(`total self size: ${(sum(a) / 1e6).toFixed(1)} MB -> ${(sum(b) / 1e6).toFixed(1)} MB`);
  const rows = [...new Set([...a.keys(), ...b.keys()])].map((key) => {
    const before = a.get(key) ?? { count: 0, bytes: 0 };
    const after = b.get(key) ?? { count: 0, bytes: 0 };
    return { key, before, after, grew: after.bytes - before.bytes };
  });
  rows.sort((x, y) => y.grew - x.grew);
  for (const r of rows.slice(0, Number(values.top)))
    console.log(
      `${(r.grew / 1e6).toFixed(2).padStart(9)} MB  ${String(r.before.count).padStart(9)} -> ${String(r.after.count).padEnd(9)} ${r.key}`,
    );
}

if (require.main === module) main();
