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
    // Every speed-row write encodes its sketches: a plain loop, no closure or array per call.
    const registers = this.registers;
    let out = '';
    for (let index = 0; index < HLL_REGISTERS; index++) {
      const rank = registers[index];
      if (rank !== 0) out += out === '' ? `${index}:${rank}` : `,${index}:${rank}`;
    }
    return out;
  }

  static fromSparse(text: string | null | undefined): HyperLogLog {
    const registers = new Uint8Array(HLL_REGISTERS);
    if (!text) return new HyperLogLog(registers);
    // Every speed-row read decodes its sketches: parsed by hand, accepting exactly
    // `<1-4 digits>:<1-2 digits>` per comma-separated part (Number() alone would also read "0x10",
    // "1e1", " 1" or "1:2:3").
    const n = text.length;
    let at = 0;
    for (;;) {
      const start = at;
      let index = 0;
      let rank = 0;
      let digits = 0;
      let c = text.charCodeAt(at);
      while (c >= 48 && c <= 57) {
        index = index * 10 + (c - 48);
        digits++;
        c = text.charCodeAt(++at);
      }
      const indexDigits = digits;
      let ok = indexDigits >= 1 && indexDigits <= 4 && c === 58; // ':'
      digits = 0;
      if (ok) {
        c = text.charCodeAt(++at);
        while (c >= 48 && c <= 57) {
          rank = rank * 10 + (c - 48);
          digits++;
          c = text.charCodeAt(++at);
        }
        ok = digits >= 1 && digits <= 2 && (at === n || c === 44); // end or ','
      }
      if (!ok || index >= HLL_REGISTERS || rank < 1 || rank > HLL_RANK_BITS + 1) {
        const end = text.indexOf(',', start);
        throw new Error(`malformed HyperLogLog register "${text.slice(start, end < 0 ? n : end)}"`);
      }
      if (rank > registers[index]) registers[index] = rank;
      if (at === n) break;
      at++; // past the ',': a part must follow
      if (at === n) throw new Error('malformed HyperLogLog register "" (a trailing comma)');
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
