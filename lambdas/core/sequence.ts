/**
 * Kinesis sequence numbers are decimal strings of up to 129 digits: beyond JavaScript's and
 * DynamoDB's number precision. Padded to a fixed width they order correctly as strings, which
 * is how fences are stored and compared.
 */
export const SEQUENCE_DIGITS = 129;
const DIGITS = /^\d{1,129}$/;

export function padSequence(sequenceNumber: string): string {
  if (!DIGITS.test(sequenceNumber)) {
    throw new Error(
      `a Kinesis sequence number is 1 to 129 decimal digits (given ${JSON.stringify(sequenceNumber)})`,
    );
  }
  return sequenceNumber.padStart(SEQUENCE_DIGITS, '0');
}

/** Negative when a is before b on the same shard, 0 when equal, positive after. */
export function compareSequence(a: string, b: string): number {
  const pa = padSequence(a);
  const pb = padSequence(b);
  return pa < pb ? -1 : pa > pb ? 1 : 0;
}
