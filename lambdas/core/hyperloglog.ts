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

// Distinct values repeat across batches (users, devices): an MD5 per value is the speed layer's
// costliest step, so recent values keep theirs. Bounded: cleared when full.
const HASH_CACHE_LIMIT = 65_536;
const hashCache = new Map<string, number>();

/** index << 8 | rank of a value (MD5: first 12 bits, then the rank over the next 40 bits). */
function packedHash(value: string): number {
  const cached = hashCache.get(value);
  if (cached !== undefined) return cached;
  const digest = createHash('md5').update(value, 'utf8').digest();
  const index = (digest[0] << 4) | (digest[1] >> 4);
  // The 40 bits after the index: the low nibble of byte 1, bytes 2 to 5, the high nibble of byte 6.
  // As a high byte (bits 39..32) and a low 32-bit word, so the bit length is exact integer math.
  const high = ((digest[1] & 0x0f) << 4) | (digest[2] >> 4);
  const low =
    (((digest[2] & 0x0f) << 28) |
      (digest[3] << 20) |
      (digest[4] << 12) |
      (digest[5] << 4) |
      (digest[6] >> 4)) >>>
    0;
  const bitLength = high !== 0 ? 64 - Math.clz32(high) : 32 - Math.clz32(low);
  const rank = HLL_RANK_BITS + 1 - bitLength;
  const packed = (index << 8) | rank;
  if (hashCache.size >= HASH_CACHE_LIMIT) hashCache.clear();
  hashCache.set(value, packed);
  return packed;
}

export class HyperLogLog {
  readonly registers: Uint8Array;

  constructor(registers?: Uint8Array) {
    this.registers = registers ?? new Uint8Array(HLL_REGISTERS);
  }

  static hash(value: string): { index: number; rank: number } {
    const packed = packedHash(value);
    return { index: packed >> 8, rank: packed & 0xff };
  }

  add(value: string): this {
    const packed = packedHash(value);
    const index = packed >> 8;
    const rank = packed & 0xff;
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
