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

// Registers live in 64 blocks of 64, each allocated once a register in it is set and shared
// between copies until one of them writes it (copy on write). The speed layer copies a row's sketch
// every batch and writes it back: with blocks that costs two 64-slot arrays and the blocks the
// batch touches, not 4 KB, and the packed text of a block no add touched is reused as it was.
const BLOCK_BITS = 6;
const BLOCK_SIZE = 1 << BLOCK_BITS;
const BLOCK_MASK = BLOCK_SIZE - 1;
const BLOCKS = HLL_REGISTERS >> BLOCK_BITS;

export class HyperLogLog {
  /** null: every register of the block is 0. */
  private readonly blocks: (Uint8Array | null)[];
  /** Packed text of each block, once computed ('' for a block of zeros), undefined after a change. */
  private readonly texts: (string | undefined)[];
  /** Bit b (of blocks 0-31, then 32-63): this sketch alone holds block b, so it may write in place. */
  private ownedLow = 0;
  private ownedHigh = 0;
  private dense: Uint8Array | undefined;
  /** toText()'s packed form, once computed, undefined after a change. */
  private packed: string | undefined;
  /** toText()'s dense form, once computed, undefined after a change. */
  private denseText: string | undefined;
  /** Registers set (non-zero), when known: kept by add(), recounted after a merge. */
  private setCount: number | undefined = 0;

  /** A sketch of the given registers (copied: the array stays the caller's), or the empty sketch. */
  constructor(registers?: Uint8Array) {
    this.blocks = new Array<Uint8Array | null>(BLOCKS).fill(null);
    this.texts = new Array<string | undefined>(BLOCKS).fill(undefined);
    if (registers === undefined) return;
    this.setCount = undefined;
    for (let b = 0; b < BLOCKS; b++) {
      const start = b << BLOCK_BITS;
      for (let i = start; i < start + BLOCK_SIZE; i++) {
        if (registers[i] !== 0) {
          this.blocks[b] = registers.slice(start, start + BLOCK_SIZE);
          this.own(b);
          break;
        }
      }
    }
  }

  /**
   * The 4,096 registers in index order. A read-only view, valid until the sketch next changes:
   * write through add() or merge(), never into this array.
   */
  get registers(): Uint8Array {
    if (this.dense === undefined) {
      const dense = new Uint8Array(HLL_REGISTERS);
      for (let b = 0; b < BLOCKS; b++) {
        const block = this.blocks[b];
        if (block !== null) dense.set(block, b << BLOCK_BITS);
      }
      this.dense = dense;
    }
    return this.dense;
  }

  static hash(value: string): { index: number; rank: number } {
    const packed = packedHash(value);
    return { index: packed >> 8, rank: packed & 0xff };
  }

  /** An independent sketch of the same registers: O(blocks), the blocks shared until either side writes one. */
  clone(): HyperLogLog {
    const copy = new HyperLogLog();
    for (let b = 0; b < BLOCKS; b++) {
      copy.blocks[b] = this.blocks[b];
      copy.texts[b] = this.texts[b];
    }
    copy.packed = this.packed;
    copy.denseText = this.denseText;
    copy.setCount = this.setCount;
    // Both sides now hold the blocks: neither may write them in place any more.
    this.ownedLow = 0;
    this.ownedHigh = 0;
    return copy;
  }

  add(value: string): this {
    const packed = packedHash(value);
    this.raise(packed >> 8, packed & 0xff);
    return this;
  }

  /** Sets register `index` to `rank` if that is higher than what it holds. */
  private raise(index: number, rank: number): void {
    const b = index >> BLOCK_BITS;
    let block = this.blocks[b];
    if (block === null) {
      block = new Uint8Array(BLOCK_SIZE);
      this.blocks[b] = block;
      this.own(b);
    } else if (rank <= block[index & BLOCK_MASK]) {
      return;
    } else if (!this.owns(b)) {
      block = block.slice();
      this.blocks[b] = block;
      this.own(b);
    }
    if (block[index & BLOCK_MASK] === 0 && this.setCount !== undefined) this.setCount++;
    block[index & BLOCK_MASK] = rank;
    this.texts[b] = undefined;
    this.dense = undefined;
    this.packed = undefined;
    this.denseText = undefined;
  }

  private owns(b: number): boolean {
    return b < 32 ? (this.ownedLow & (1 << b)) !== 0 : (this.ownedHigh & (1 << (b - 32))) !== 0;
  }

  private own(b: number): void {
    if (b < 32) this.ownedLow |= 1 << b;
    else this.ownedHigh |= 1 << (b - 32);
  }

  private disown(b: number): void {
    if (b < 32) this.ownedLow &= ~(1 << b);
    else this.ownedHigh &= ~(1 << (b - 32));
  }

  /** A new sketch of the union; neither input changes. */
  merge(other: HyperLogLog): HyperLogLog {
    const out = new HyperLogLog();
    out.setCount = undefined;
    for (let b = 0; b < BLOCKS; b++) {
      const mine = this.blocks[b];
      const theirs = other.blocks[b];
      if (theirs === null || mine === theirs) {
        // Shared with the result: neither input may write it in place any more.
        if (mine !== null) {
          this.disown(b);
          other.disown(b);
        }
        out.blocks[b] = mine;
        out.texts[b] = this.texts[b];
      } else if (mine === null) {
        other.disown(b);
        out.blocks[b] = theirs;
        out.texts[b] = other.texts[b];
      } else {
        const block = new Uint8Array(BLOCK_SIZE);
        for (let i = 0; i < BLOCK_SIZE; i++) block[i] = mine[i] > theirs[i] ? mine[i] : theirs[i];
        out.blocks[b] = block;
        out.own(b);
      }
    }
    return out;
  }

  isEmpty(): boolean {
    for (const block of this.blocks) {
      if (block === null) continue;
      for (let i = 0; i < BLOCK_SIZE; i++) if (block[i] !== 0) return false;
    }
    return true;
  }

  estimate(): number {
    const m = HLL_REGISTERS;
    // Every term is 2^-r with r <= 41 and the sum is at most 2^12: each partial sum fits the 53 bits
    // of a double exactly, so summing a block of zeros at once gives the very same total.
    let harmonic = 0;
    let zeros = 0;
    for (const block of this.blocks) {
      if (block === null) {
        harmonic += BLOCK_SIZE;
        zeros += BLOCK_SIZE;
        continue;
      }
      for (let i = 0; i < BLOCK_SIZE; i++) {
        const r = block[i];
        harmonic += 2 ** -r;
        if (r === 0) zeros++;
      }
    }
    const alpha = 0.7213 / (1 + 1.079 / m);
    const raw = (alpha * m * m) / harmonic;
    // Linear counting is far more accurate while many registers are still empty.
    if (raw <= 2.5 * m && zeros > 0) return Math.round(m * Math.log(m / zeros));
    return Math.round(raw);
  }

  /**
   * Sparse text `index:rank,...` in index order: what the batch SQL emits (read by fromSparse), and
   * what rows stored before the packed text (ADR 029).
   */
  toSparse(): string {
    const parts: string[] = [];
    for (let b = 0; b < BLOCKS; b++) {
      const block = this.blocks[b];
      if (block === null) continue;
      const text = blockText(block, b << BLOCK_BITS);
      if (text !== '') parts.push(text);
    }
    return parts.join(',');
  }

  /**
   * `p` and three characters per set register, in index order (ADR 029): the register's index
   * (12 bits) and rank (6 bits) as three base64url digits. Every speed-row write encodes its
   * sketches: blocks no add touched since keep their text, and a sketch no add touched keeps its
   * whole text. Joined at once: one flat string, no rope. '' for the empty sketch.
   */
  private toPacked(): string {
    if (this.packed !== undefined) return this.packed;
    const parts = packedParts;
    parts.length = 0;
    parts.push(PACKED_MARK_TEXT);
    for (let b = 0; b < BLOCKS; b++) {
      const block = this.blocks[b];
      if (block === null) continue;
      let text = this.texts[b];
      if (text === undefined) {
        text = blockPacked(block, b << BLOCK_BITS);
        this.texts[b] = text;
      }
      if (text !== '') parts.push(text);
    }
    this.packed = parts.length === 1 ? '' : parts.join('');
    parts.length = 0;
    return this.packed;
  }

  /** Registers set (non-zero). */
  private registersSet(): number {
    if (this.setCount === undefined) {
      let n = 0;
      for (const block of this.blocks) {
        if (block === null) continue;
        for (let i = 0; i < BLOCK_SIZE; i++) if (block[i] !== 0) n++;
      }
      this.setCount = n;
    }
    return this.setCount;
  }

  /**
   * The text rows store (ADRs 018 and 029): the packed text while few registers are set, else the
   * dense text, `d` and one character per register, whichever the count of set registers says is
   * shorter. A full sketch's sparse text is about 30 KB and every speed-row write of a busy key
   * printed it, escaped it into the request and paid its write units; the dense text is 4,097
   * characters whatever the sketch holds, the packed text 1 + 3 per set register. A function of
   * the registers alone, so equal sketches always print the same text.
   */
  toText(): string {
    if (this.registersSet() < DENSE_FROM_REGISTERS) return this.toPacked();
    if (this.denseText === undefined) {
      const out = denseBytes;
      out[0] = DENSE_MARK;
      for (let b = 0; b < BLOCKS; b++) {
        const block = this.blocks[b];
        const start = 1 + (b << BLOCK_BITS);
        if (block === null) out.fill(DENSE_DIGITS[0], start, start + BLOCK_SIZE);
        else for (let i = 0; i < BLOCK_SIZE; i++) out[start + i] = DENSE_DIGITS[block[i]];
      }
      this.denseText = out.toString('latin1', 0, DENSE_LENGTH);
    }
    return this.denseText;
  }

  /**
   * Reads what toText() printed: the packed or the dense text, or the sparse text (fromSparse) of
   * rows stored before the packed one.
   */
  static fromText(text: string | null | undefined): HyperLogLog {
    if (text && text.charCodeAt(0) === PACKED_MARK) return HyperLogLog.fromPacked(text);
    if (!text || text.charCodeAt(0) !== DENSE_MARK) return HyperLogLog.fromSparse(text);
    if (text.length !== DENSE_LENGTH) {
      throw new Error(
        `malformed dense HyperLogLog text: ${text.length} characters, expected ${DENSE_LENGTH} ("d" and one per register)`,
      );
    }
    const registers = denseRegisters;
    for (let i = 0; i < HLL_REGISTERS; i++) {
      const c = text.charCodeAt(i + 1);
      const rank = c < 128 ? DENSE_RANKS[c] : -1;
      if (rank < 0) {
        throw new Error(
          `malformed dense HyperLogLog text: register ${i} is ${JSON.stringify(text[i + 1])}, not a rank 0 to ${HLL_RANK_BITS + 1} (0-9, A-Z, a-f)`,
        );
      }
      registers[i] = rank;
    }
    return new HyperLogLog(registers);
  }

  /** Reads the packed text (toPacked), refusing any other: every register's three digits, indexes rising. */
  static fromPacked(text: string): HyperLogLog {
    const n = text.length;
    if (n < 4 || (n - 1) % 3 !== 0 || text.charCodeAt(0) !== PACKED_MARK)
      throw new Error(
        `malformed packed HyperLogLog text: ${n} characters, expected "p" and three per set register`,
      );
    const sketch = new HyperLogLog();
    let previous = -1;
    for (let at = 1; at < n; at += 3) {
      const a = packedDigit(text.charCodeAt(at));
      const b = packedDigit(text.charCodeAt(at + 1));
      const c = packedDigit(text.charCodeAt(at + 2));
      const value = (a << 12) | (b << 6) | c;
      const index = value >> 6;
      const rank = value & 63;
      if (a < 0 || b < 0 || c < 0 || rank < 1 || rank > HLL_RANK_BITS + 1 || index <= previous)
        throw new Error(
          `malformed packed HyperLogLog text: register ${JSON.stringify(text.slice(at, at + 3))} at ${at} is not a base64url index and rank 1 to ${HLL_RANK_BITS + 1} above the previous index`,
        );
      previous = index;
      sketch.raise(index, rank);
    }
    return sketch;
  }

  static fromSparse(text: string | null | undefined): HyperLogLog {
    const sketch = new HyperLogLog();
    if (!text) return sketch;
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
      sketch.raise(index, rank);
      if (at === n) break;
      at++; // past the ',': a part must follow
      if (at === n) throw new Error('malformed HyperLogLog register "" (a trailing comma)');
    }
    return sketch;
  }

  equals(other: HyperLogLog): boolean {
    for (let b = 0; b < BLOCKS; b++) {
      const mine = this.blocks[b];
      const theirs = other.blocks[b];
      if (mine === theirs) continue;
      for (let i = 0; i < BLOCK_SIZE; i++) {
        if ((mine === null ? 0 : mine[i]) !== (theirs === null ? 0 : theirs[i])) return false;
      }
    }
    return true;
  }
}

/** First character of a dense text: never the first of a sparse one (a digit, or nothing). */
const DENSE_MARK = 100; // 'd'
/** First character of a packed text: neither a dense one's nor a sparse one's. */
const PACKED_MARK = 112; // 'p'
const PACKED_MARK_TEXT = String.fromCharCode(PACKED_MARK);
/** The 64 digits of the packed text (base64url): none needs escaping in JSON. */
const PACKED_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const PACKED_DIGITS = Uint8Array.from(PACKED_ALPHABET, (c) => c.charCodeAt(0));
const PACKED_VALUES = Int8Array.from({ length: 128 }, (_, c) =>
  PACKED_ALPHABET.indexOf(String.fromCharCode(c)),
);
/** The value of a packed digit's character code, or -1. */
function packedDigit(code: number): number {
  return code < 128 ? PACKED_VALUES[code] : -1;
}
const DENSE_LENGTH = 1 + HLL_REGISTERS;
/** Rank r is printed as the r-th of these characters: none needs escaping in JSON. */
const DENSE_ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef';
const DENSE_DIGITS = Uint8Array.from(DENSE_ALPHABET, (c) => c.charCodeAt(0));
const DENSE_RANKS = Int8Array.from({ length: 128 }, (_, c) => DENSE_ALPHABET.indexOf(String.fromCharCode(c)));
/**
 * Registers set from which the dense text is stored: the packed text takes 1 + 3 characters per
 * set register, the dense one 4,097, so from 1,366 set registers on the packed one is the longer.
 * (With the sparse text, 4 to 8 characters a register, about 7.3 on average, it was 560: ADR 018.)
 */
export const DENSE_FROM_REGISTERS = 1366;
const denseBytes = Buffer.allocUnsafe(DENSE_LENGTH);
const denseRegisters = new Uint8Array(HLL_REGISTERS);

/** Scratch list of block texts for toPacked (synchronous, so one list serves every call). */
const packedParts: string[] = [];

/** The packed text of a block's set registers, `first` being the index of its register 0. */
function blockPacked(block: Uint8Array, first: number): string {
  const out = blockBytes;
  let at = 0;
  for (let i = 0; i < BLOCK_SIZE; i++) {
    const rank = block[i];
    if (rank === 0) continue;
    const value = ((first + i) << 6) | rank;
    out[at++] = PACKED_DIGITS[value >> 12];
    out[at++] = PACKED_DIGITS[(value >> 6) & 63];
    out[at++] = PACKED_DIGITS[value & 63];
  }
  return at === 0 ? '' : out.toString('latin1', 0, at);
}

// A block's text is written as Latin-1 bytes into one scratch buffer and read out as one string:
// a block the batch touched is printed again on every row write, and one string per register
// (then joined) cost an allocation each. At most 8 bytes per register (`4095:41,`).
const blockBytes = Buffer.allocUnsafe(BLOCK_SIZE * 8);

/** `index:rank,...` of a block's set registers, `first` being the index of its register 0. */
function blockText(block: Uint8Array, first: number): string {
  const out = blockBytes;
  let at = 0;
  for (let i = 0; i < BLOCK_SIZE; i++) {
    const rank = block[i];
    if (rank === 0) continue;
    if (at > 0) out[at++] = 44; // ','
    const index = first + i;
    if (index >= 1000) out[at++] = 48 + Math.floor(index / 1000);
    if (index >= 100) out[at++] = 48 + (Math.floor(index / 100) % 10);
    if (index >= 10) out[at++] = 48 + (Math.floor(index / 10) % 10);
    out[at++] = 48 + (index % 10);
    out[at++] = 58; // ':'
    if (rank >= 10) out[at++] = 48 + Math.floor(rank / 10);
    out[at++] = 48 + (rank % 10);
  }
  return at === 0 ? '' : out.toString('latin1', 0, at);
}

/**
 * The documented bound on a speed-layer distinct estimate: 4 standard errors (6.5%) of the true
 * count, or 2, whichever is larger. A HyperLogLog estimate stays inside it with probability
 * above 99.99%; the batch layer's exact count replaces the estimate once a cell is all batch.
 */
export function distinctErrorBound(trueCount: number): number {
  return Math.max(2, Math.ceil(4 * HLL_STANDARD_ERROR * trueCount));
}
