import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { openDuckDb } from '../../lambdas/adapters/duckdb/open-duckdb';
import { decimalCastSql, sqlString } from '../../lambdas/core/sql-dialect';

/**
 * The DuckDB dialect casts a number's text to DECIMAL(38, 9) through DECIMAL(18, 9) first, which
 * parses about 100 times faster (sql-dialect.ts). The batch SQL's sums and its summable rule rely on the
 * two giving the same value for every text a JSON number can become, so the batch cells stay the
 * reducer's: this compares them on the texts json_extract_string gives for random JSON numbers
 * and for the edges (the narrow range's end, rounding at the 10th decimal, exponents, huge values).
 */
const EDGES = [
  '0',
  '-0',
  '1e-7',
  '5e-10',
  '-5e-10',
  '1.5e-9',
  '2.5e-9',
  '0.0000000015',
  '0.0000000025',
  '999999999.999999999',
  '-999999999.999999999',
  '999999999.9999999994',
  '999999999.9999999995',
  '1000000000',
  '-1000000000',
  '999999999.5',
  '1e9',
  '1e17',
  '9.99999999999999e17',
  '1e18',
  '-1e18',
  '12345678901234567890',
  '1.7976931348623157e308',
  '5e-324',
  '123456789.12345678',
  '0.1',
  '0.3',
  '1E+3',
];

/** JSON number literals: doubles as JavaScript prints them, integers, and decimals of 0 to 12 digits. */
const numberLiteral = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) => JSON.stringify(x)),
  fc.double({ min: -2e9, max: 2e9, noNaN: true }).map((x) => JSON.stringify(x)),
  fc.bigInt({ min: -(10n ** 20n), max: 10n ** 20n }).map(String),
  fc
    .tuple(
      fc.bigInt({ min: -(10n ** 12n), max: 10n ** 12n }),
      fc.integer({ min: 0, max: 12 }),
      fc.nat(10 ** 9),
    )
    .map(([whole, digits, fraction]) =>
      digits === 0
        ? String(whole)
        : `${whole}.${String(fraction).padStart(9, '0').slice(0, digits).padEnd(digits, '7')}`,
    ),
);

async function mismatches(literals: readonly string[]): Promise<Record<string, unknown>[]> {
  const instance = await openDuckDb();
  const connection = await instance.connect();
  try {
    const values = literals.map((n, i) => `(${i}, ${sqlString(`{"a":${n}}`)})`).join(', ');
    const text = `json_extract_string(line, '$.a')`;
    const rows = await connection.runAndReadAll(`
      SELECT i, ${text} AS text,
        CAST(${decimalCastSql('duckdb', text, true)} AS VARCHAR) AS fast,
        CAST(TRY_CAST(${text} AS DECIMAL(38, 9)) AS VARCHAR) AS wide
      FROM (VALUES ${values}) AS lines (i, line)
      WHERE fast IS DISTINCT FROM wide`);
    return rows.getRowObjectsJS();
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

describe('the DuckDB decimal cast (DECIMAL(18, 9) first, then DECIMAL(38, 9))', () => {
  it('gives the wide cast on the edges', async () => {
    expect(await mismatches(EDGES)).toEqual([]);
  });

  it('gives the wide cast on 20,000 random JSON numbers', async () => {
    const literals = fc.sample(numberLiteral, { numRuns: 20_000, seed: 20261202 });
    expect(await mismatches(literals)).toEqual([]);
  });

  it('is what the sums and the summable rule of the DuckDB batch SQL use, and not the Athena SQL', () => {
    expect(decimalCastSql('duckdb', 'v', false)).toBe(
      'coalesce(TRY_CAST(v AS DECIMAL(18, 9)), CAST(v AS DECIMAL(38, 9)))',
    );
    expect(decimalCastSql('athena', 'v', true)).toBe('TRY_CAST(v AS DECIMAL(38, 9))');
  });
});
