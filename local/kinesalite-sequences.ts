import { createHash } from 'node:crypto';

/**
 * kinesalite converts every sequence number it writes or reads between decimal and hex with
 * bignumber.js: twice per record put, once per record read, and each consumer (the speed layer's
 * event source, the archiver) reads every record. That was the largest single cost of the
 * runtime's main thread (13% of it at 1,700 events/s, more than dynalite). The functions below
 * compute the same values with native BigInt; inputs they do not recognize go to kinesalite's own
 * functions, so its errors for bad input stay as they were. test/local/kinesalite-sequences.test.ts
 * compares both on random sequence numbers of every version.
 *
 * The same goes for the hash key of each record put: a bignumber.js object of the partition key's
 * MD5, compared with each shard's range, was two thirds of PutRecords on the main thread (255 of 379
 * ms in a profile of bench/local-pipeline.ts 20000, 2026-12-05).
 */

interface SequenceObject {
  shardCreateTime: number;
  seqIx?: string | number;
  byte1?: string;
  seqTime?: number;
  seqRand?: string;
  shardIx: number;
  version?: number | null;
}

/** The exports of kinesalite/db that hold the conversions (replaced in place: actions call them through it). */
export interface KinesaliteDb {
  partitionKeyToHashKey(partitionKey: string): HashKey;
  parseSequence(seq: string): SequenceObject;
  stringifySequence(obj: SequenceObject): string;
  incrementSequence(seqObj: SequenceObject | string, seqTime?: number | null): string;
  shardIxToHex(shardIx: number): string;
}

const POW_2_124 = 2n ** 124n;
const POW_2_124_NEXT = 2n ** 125n * 16n;
const POW_2_185 = 2n ** 185n;
const POW_2_185_NEXT = (2n ** 185n * 3n) / 2n;
const DECIMAL = /^\d+$/;
const PATCHED = Symbol.for('streamfold.kinesalite.bigintSequences');

const hex9 = (ms: number) => ('00000000' + Math.floor(ms / 1000).toString(16)).slice(-9);

/** The BigInt conversions, built over kinesalite's own (the fallback for inputs they do not cover). */
export function bigintSequences(
  original: KinesaliteDb,
): Pick<KinesaliteDb, 'parseSequence' | 'stringifySequence' | 'incrementSequence'> {
  const parseSequence = (seq: string): SequenceObject => {
    if (typeof seq !== 'string' || !DECIMAL.test(seq)) return original.parseSequence(seq);
    let n = BigInt(seq);
    if (n < POW_2_124) n += POW_2_124;
    const hex = n.toString(16);
    const version =
      n < POW_2_124_NEXT ? 0 : n > POW_2_185 && n < POW_2_185_NEXT ? parseInt(hex.slice(-1), 16) : null;
    if (version !== 2 && version !== 1 && version !== 0) return original.parseSequence(seq);
    if (version === 2) {
      const seqIxHex = hex.slice(11, 27);
      let shardIxHex = hex.slice(38, 46);
      if (parseInt(seqIxHex[0], 16) > 7) throw new Error('Sequence index too high');
      if (parseInt(shardIxHex[0], 16) > 7) shardIxHex = '-' + shardIxHex;
      const shardCreateSecs = parseInt(hex.slice(1, 10), 16);
      if (shardCreateSecs >= 16025175000) throw new Error('Date too large: ' + shardCreateSecs);
      return {
        shardCreateTime: shardCreateSecs * 1000,
        seqIx: BigInt('0x' + seqIxHex).toString(),
        byte1: hex.slice(27, 29),
        seqTime: parseInt(hex.slice(29, 38), 16) * 1000,
        shardIx: parseInt(shardIxHex, 16),
        version,
      };
    }
    if (version === 1)
      return {
        shardCreateTime: parseInt(hex.slice(1, 10), 16) * 1000,
        byte1: hex.slice(11, 13),
        seqTime: parseInt(hex.slice(13, 22), 16) * 1000,
        seqRand: hex.slice(22, 36),
        seqIx: parseInt(hex.slice(36, 38), 16),
        shardIx: parseInt(hex.slice(38, 46), 16),
        version,
      };
    const shardCreateSecs = parseInt(hex.slice(1, 10), 16);
    if (shardCreateSecs >= 16025175000) throw new Error('Date too large: ' + shardCreateSecs);
    return {
      shardCreateTime: shardCreateSecs * 1000,
      byte1: hex.slice(10, 12),
      seqRand: hex.slice(12, 28),
      shardIx: parseInt(hex.slice(28, 32), 16),
      version,
    };
  };

  const stringifySequence = (obj: SequenceObject): string => {
    const seqIx = obj.seqIx || 0;
    const integral =
      (typeof seqIx === 'number' && Number.isSafeInteger(seqIx) && seqIx >= 0) ||
      (typeof seqIx === 'string' && DECIMAL.test(seqIx));
    if (!integral || !Number.isFinite(obj.shardCreateTime)) return original.stringifySequence(obj);
    const shardIxHex = original.shardIxToHex(obj.shardIx);
    if (obj.version == null || obj.version == 2)
      return BigInt(
        '0x' +
          '2' +
          hex9(obj.shardCreateTime) +
          (obj.shardIx || 0).toString(16).slice(-1) +
          ('0000000000000000' + BigInt(seqIx).toString(16)).slice(-16) +
          (obj.byte1 || '00') +
          hex9(obj.seqTime || obj.shardCreateTime) +
          shardIxHex +
          '2',
      ).toString();
    // Versions 0 and 1 only come from streams created by older kinesalite releases.
    return original.stringifySequence(obj);
  };

  const incrementSequence = (seqObj: SequenceObject | string, seqTime?: number | null): string => {
    const parsed = typeof seqObj === 'string' ? parseSequence(seqObj) : seqObj;
    return stringifySequence({
      shardCreateTime: parsed.shardCreateTime,
      seqIx: parsed.seqIx,
      seqTime: seqTime || (parsed.seqTime as number) + 1000,
      shardIx: parsed.shardIx,
    });
  };
  return { parseSequence, stringifySequence, incrementSequence };
}

/** What putRecord(s) ask of a record's hash key: its order against a shard's range bounds. */
export interface HashKey {
  comparedTo(other: unknown): number;
  toFixed(): string;
}

/** The decimal bounds of the shards' hash key ranges, parsed once (a stream has few). */
const bounds = new Map<string, bigint>();

function asBigint(value: unknown): bigint {
  if (typeof value === 'string') {
    let n = bounds.get(value);
    if (n === undefined) {
      n = BigInt(value);
      // A handful of shards' bounds in practice; cleared rather than grown without limit.
      if (bounds.size >= 4096) bounds.clear();
      bounds.set(value, n);
    }
    return n;
  }
  if (typeof value === 'number') return BigInt(value);
  return BigInt((value as { toFixed(): string }).toFixed());
}

/** The 128-bit MD5 of a partition key as a number, as kinesalite's bignumber.js hash key is. */
class Md5HashKey implements HashKey {
  constructor(private readonly value: bigint) {}

  comparedTo(other: unknown): number {
    const o = asBigint(other);
    return this.value < o ? -1 : this.value > o ? 1 : 0;
  }

  toFixed(): string {
    return this.value.toString();
  }
}

/** kinesalite's partitionKeyToHashKey with a BigInt in place of bignumber.js. */
export function bigintHashKey(partitionKey: string): HashKey {
  return new Md5HashKey(BigInt('0x' + createHash('md5').update(partitionKey, 'utf8').digest('hex')));
}

/** kinesalite's own functions: kept aside when replaced, so a test compares against them. */
export function kinesaliteOriginals(db: KinesaliteDb): KinesaliteDb {
  return (db as KinesaliteDb & { [PATCHED]?: KinesaliteDb })[PATCHED] ?? { ...db };
}

/** Replaces kinesalite's sequence conversions and hash keys with the BigInt ones, once per process. */
export function useBigintNumbers(db: KinesaliteDb): void {
  const marked = db as KinesaliteDb & { [PATCHED]?: KinesaliteDb };
  if (marked[PATCHED]) return;
  const original = { ...db };
  Object.assign(db, bigintSequences(original), { partitionKeyToHashKey: bigintHashKey });
  marked[PATCHED] = original;
}
