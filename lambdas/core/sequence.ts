/**
 * Kinesis sequence numbers are decimal strings of up to 129 digits: beyond JavaScript's and
 * DynamoDB's number precision. compareSequence orders them by value, padded or not. Padded to a
 * fixed width they order correctly as strings too (padSequence); fences are stored without the
 * padding (fenceSequence), which was 73 of every fence's 129 digits on today's 56-digit numbers.
 */
export const SEQUENCE_DIGITS = 129;
const DIGITS = /^\d{1,129}$/;

export function padSequence(sequenceNumber: string): string {
  return checkSequence(sequenceNumber).padStart(SEQUENCE_DIGITS, '0');
}

/**
 * Negative when a is before b on the same shard, 0 when equal, positive after. Accepts padded and
 * unpadded forms alike and allocates nothing: the speed layer compares every record it handles.
 */
export function compareSequence(a: string, b: string): number {
  return compareDigits(a, b) ?? compareSequenceGenerally(a, b);
}

/** compareSequence without its one-pass path (exported for the test that compares them). */
export function compareSequenceGenerally(a: string, b: string): number {
  if (!isDigits(a)) checkSequence(a);
  if (!isDigits(b)) checkSequence(b);
  let i = 0;
  let j = 0;
  // Leading zeros (padded fences) do not change the value.
  while (i < a.length - 1 && a.charCodeAt(i) === 48) i++;
  while (j < b.length - 1 && b.charCodeAt(j) === 48) j++;
  const lengths = a.length - i - (b.length - j);
  if (lengths !== 0) return lengths < 0 ? -1 : 1;
  for (; i < a.length; i++, j++) {
    const d = a.charCodeAt(i) - b.charCodeAt(j);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

/**
 * compareSequence in one pass over both texts, for the usual pair (two records of a shard, a record
 * and its row's padded fence): the shorter text is read as if padded with zeros to the longer one's
 * length, where text order is numeric order. Undefined when either is not 1 to 129 digits (the
 * general path then throws).
 */
function compareDigits(a: string, b: string): number | undefined {
  const na = a.length;
  const nb = b.length;
  if (na === 0 || nb === 0 || na > SEQUENCE_DIGITS || nb > SEQUENCE_DIGITS) return undefined;
  const long = na >= nb ? a : b;
  const short = na >= nb ? b : a;
  const sign = na >= nb ? 1 : -1;
  const extra = long.length - short.length;
  let order = 0;
  for (let i = 0; i < extra; i++) {
    const c = long.charCodeAt(i);
    if (c < 48 || c > 57) return undefined;
    if (c !== 48 && order === 0) order = sign;
  }
  for (let j = 0; j < short.length; j++) {
    const cl = long.charCodeAt(extra + j);
    const cs = short.charCodeAt(j);
    if (cl < 48 || cl > 57 || cs < 48 || cs > 57) return undefined;
    if (order === 0 && cl !== cs) order = cl < cs ? -sign : sign;
  }
  return order;
}

function isDigits(text: string): boolean {
  if (text.length === 0 || text.length > SEQUENCE_DIGITS) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/**
 * A sequence number as a row's fence keeps it: checked, without leading zeros (one "0" for zero).
 * Fences written padded to 129 digits by earlier versions compare the same (compareSequence), and
 * every version since per-shard dedupe (2026-12-01) reads unpadded ones: they are stored in every
 * speed row and Kappa cell, once per shard that wrote it, and DynamoDB bills by the item's size.
 */
export function fenceSequence(sequenceNumber: string): string {
  checkSequence(sequenceNumber);
  if (sequenceNumber.charCodeAt(0) !== 48) return sequenceNumber;
  let i = 0;
  while (i < sequenceNumber.length - 1 && sequenceNumber.charCodeAt(i) === 48) i++;
  return sequenceNumber.slice(i);
}

/** Throws unless `sequenceNumber` is 1 to 129 decimal digits (what Kinesis hands out). */
export function checkSequence(sequenceNumber: string): string {
  if (!DIGITS.test(sequenceNumber)) {
    throw new Error(
      `a Kinesis sequence number is 1 to 129 decimal digits (given ${JSON.stringify(sequenceNumber)})`,
    );
  }
  return sequenceNumber;
}
