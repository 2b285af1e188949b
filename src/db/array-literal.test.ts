import fc from 'fast-check';
import pgUtils from 'pg/lib/utils.js';
import { describe, expect, it } from 'vitest';
import { openTestDatabase } from '../../test/support/test-database.ts';
import { arrayLiteral } from './array-literal.ts';

describe('arrayLiteral', () => {
  it('encodes an array exactly as pg does', () => {
    const element = fc.oneof(
      fc.string({ unit: 'binary' }),
      fc.constantFrom('a"b', 'c\\d', '\\"', '"', '', 'NULL', "it's"),
      fc.uuid(),
      fc.integer(),
      fc.double(),
      fc.bigInt(),
      fc.constant(null),
      fc.constant(undefined),
      fc.date({ noInvalidDate: true }),
      fc.array(fc.oneof(fc.string(), fc.integer(), fc.constant(null)), { maxLength: 3 }),
    );
    fc.assert(
      fc.property(fc.array(element, { maxLength: 12 }), (values) => {
        expect(arrayLiteral(values)).toBe(pgUtils.prepareValue(values));
      }),
      { numRuns: 3_000 },
    );
    expect(arrayLiteral(['a', 1n])).toBe('{"a","1"}');
    expect(arrayLiteral([])).toBe('{}');
  });

  it('carries array parameters to the database and back unchanged, on either engine', async () => {
    const t = await openTestDatabase([]);
    try {
      const tricky = ["it's", 'back\\slash', 'quote"d', '中文 ✓', '', null, '{"json": "\\u00e9"}'];
      const ids = ['6cd0c88f-6b8d-87f8-a18b-0e1633a2659f', '01a235d7-3617-73ed-ad3f-026cb600b6b4'];
      const amounts = [0n, -5n, 9_007_199_254_740_993n];
      const result = await t.db.query<{ texts: Array<string | null>; ids: string[]; amounts: bigint[] }>(
        'SELECT $1::text[] AS texts, $2::uuid[] AS ids, ARRAY(SELECT unnest($3::int8[])) AS amounts',
        [tricky, ids, amounts],
      );
      expect(result.rows[0]!.texts).toEqual(tricky);
      expect(result.rows[0]!.ids).toEqual(ids);
      expect(result.rows[0]!.amounts.map(String)).toEqual(amounts.map(String));
    } finally {
      await t.close();
    }
  });
});
