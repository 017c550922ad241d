/**
 * Kinesis sequence numbers are decimal strings of up to 129 digits: beyond JavaScript's and
 * DynamoDB's number precision. Padded to a fixed width they order correctly as strings, which
 * is how fences are stored and compared.
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

function isDigits(text: string): boolean {
  if (text.length === 0 || text.length > SEQUENCE_DIGITS) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
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
