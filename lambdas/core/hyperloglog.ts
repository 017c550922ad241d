import { createHash } from 'node:crypto';

/**
 * HyperLogLog with 2^12 registers over MD5. MD5 is not chosen for security: it is the one hash
 * that JavaScript, DuckDB (`md5`) and Athena/Trino (`md5(to_utf8(..))`) all compute identically,
 * so the batch layer can build the very same registers in SQL that the speed layer builds here,
 * and sketches from both layers merge exactly.
 *
 * Register index: the first 12 bits of the hash. Rank: position of the first 1 bit in the next
 * 40 bits (41 when all are zero). Standard error 1.04 / sqrt(4096) = 1.625%.
 */
export const HLL_PRECISION = 12;
export const HLL_REGISTERS = 1 << HLL_PRECISION;
export const HLL_RANK_BITS = 40;
/** The relative standard error of an estimate. */
export const HLL_STANDARD_ERROR = 1.04 / Math.sqrt(HLL_REGISTERS);

const HASH_MEMO_LIMIT = 100_000;
const HASH_MEMO = new Map<string, { readonly index: number; readonly rank: number }>();

export class HyperLogLog {
  readonly registers: Uint8Array;

  constructor(registers?: Uint8Array) {
    this.registers = registers ?? new Uint8Array(HLL_REGISTERS);
  }

  static hash(value: string): { index: number; rank: number } {
    // Values repeat (users, devices): a bounded memo of the pure hash saves an MD5 per repeat.
    const known = HASH_MEMO.get(value);
    if (known !== undefined) return known;
    if (HASH_MEMO.size >= HASH_MEMO_LIMIT) HASH_MEMO.clear();
    const computed = HyperLogLog.md5(value);
    HASH_MEMO.set(value, computed);
    return computed;
  }

  private static md5(value: string): { index: number; rank: number } {
    const hex = createHash('md5').update(value, 'utf8').digest('hex');
    const index = parseInt(hex.slice(0, 3), 16);
    const word = parseInt(hex.slice(3, 13), 16);
    const rank = word === 0 ? HLL_RANK_BITS + 1 : HLL_RANK_BITS + 1 - word.toString(2).length;
    return { index, rank };
  }

  add(value: string): this {
    const { index, rank } = HyperLogLog.hash(value);
    if (rank > this.registers[index]) this.registers[index] = rank;
    return this;
  }

  /** A new sketch of the union; neither input changes. */
  merge(other: HyperLogLog): HyperLogLog {
    const out = new Uint8Array(HLL_REGISTERS);
    for (let i = 0; i < HLL_REGISTERS; i++) out[i] = Math.max(this.registers[i], other.registers[i]);
    return new HyperLogLog(out);
  }

  isEmpty(): boolean {
    return this.registers.every((r) => r === 0);
  }

  estimate(): number {
    const m = HLL_REGISTERS;
    let harmonic = 0;
    let zeros = 0;
    for (const r of this.registers) {
      harmonic += 2 ** -r;
      if (r === 0) zeros++;
    }
    const alpha = 0.7213 / (1 + 1.079 / m);
    const raw = (alpha * m * m) / harmonic;
    // Linear counting is far more accurate while many registers are still empty.
    if (raw <= 2.5 * m && zeros > 0) return Math.round(m * Math.log(m / zeros));
    return Math.round(raw);
  }

  /** Sparse text `index:rank,...` in index order: compact for DynamoDB, and what the batch SQL emits. */
  toSparse(): string {
    const parts: string[] = [];
    this.registers.forEach((rank, index) => {
      if (rank > 0) parts.push(`${index}:${rank}`);
    });
    return parts.join(',');
  }

  static fromSparse(text: string | null | undefined): HyperLogLog {
    const registers = new Uint8Array(HLL_REGISTERS);
    if (text) {
      for (const part of text.split(',')) {
        // Plain decimal digits only: Number() alone would also read "0x10", "1e1", " 1" or "1:2:3".
        const [, i, r] = /^(\d{1,4}):(\d{1,2})$/.exec(part) ?? [];
        const index = Number(i);
        const rank = Number(r);
        if (
          !Number.isInteger(index) ||
          index < 0 ||
          index >= HLL_REGISTERS ||
          !Number.isInteger(rank) ||
          rank < 1 ||
          rank > HLL_RANK_BITS + 1
        ) {
          throw new Error(`malformed HyperLogLog register "${part}"`);
        }
        registers[index] = Math.max(registers[index], rank);
      }
    }
    return new HyperLogLog(registers);
  }

  equals(other: HyperLogLog): boolean {
    return this.registers.every((r, i) => r === other.registers[i]);
  }
}

/**
 * The documented bound on a speed-layer distinct estimate: 4 standard errors (6.5%) of the true
 * count, or 2, whichever is larger. A HyperLogLog estimate stays inside it with probability
 * above 99.99%; the batch layer's exact count replaces the estimate once a cell is all batch.
 */
export function distinctErrorBound(trueCount: number): number {
  return Math.max(2, Math.ceil(4 * HLL_STANDARD_ERROR * trueCount));
}
