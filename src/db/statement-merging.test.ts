import { describe, expect, it } from 'vitest';
import { openTestDatabase } from '../../test/support/test-database.ts';
import type { QueryResult } from './database.ts';
import { inlineable, inlineParameters, mergingQueryable, type StatementSender } from './statement-merging.ts';

/** Records what reaches the server: statements alone (with parameters) and merged texts. */
function recordingSender(fail?: string) {
  const sent: Array<{ one: string; params?: readonly unknown[] } | { many: string }> = [];
  const sender: StatementSender = {
    async one(sql, params) {
      sent.push({ one: sql, params });
      if (fail && sql.includes(fail)) throw new Error(`failed: ${fail}`);
      return { rows: [{ sql }], rowCount: 1 };
    },
    async many(text) {
      sent.push({ many: text });
      if (fail && text.includes(fail)) throw new Error(`failed: ${fail}`);
      return text.split(';\n').map((sql, i): QueryResult<unknown> => ({ rows: [{ sql }], rowCount: i }));
    },
  };
  return { sent, sender };
}

describe('inlining parameters', () => {
  it('writes values in as escaped literals, encoded as pg encodes parameters', () => {
    const at = new Date('2026-12-02T03:04:05.678Z');
    const sql = inlineParameters(
      'SELECT $1::text, $2::int8, $3::uuid[], $4::timestamptz, $5::text, $6::jsonb, $10::text',
      ["it's", 12n, ['a"b', null], at, null, { k: "'" }, 'x', 'y', 'z', 'tenth'],
    );
    expect(sql).toContain(`'it''s'::text`);
    expect(sql).toContain(`'12'::int8`);
    // standard_conforming_strings: a backslash stays as it is.
    expect(sql).toContain(`'{"a\\"b",NULL}'::uuid[]`);
    expect(sql).toContain('NULL::text');
    expect(sql).toContain(`'{"k":"''"}'::jsonb`);
    expect(sql).toContain(`'tenth'::text`);
    // The timestamp as pg sends it: it names the instant, whatever the process's time zone.
    const literal = /'([^']+)'::timestamptz/.exec(sql)![1]!;
    expect(new Date(literal).getTime()).toBe(at.getTime());
  });

  it('is refused for a parameter without a cast, and for binary values', () => {
    expect(inlineable('SELECT $1::text WHERE x = ANY($2::uuid[])', ['a', []])).toBe(true);
    expect(inlineable('UPDATE t SET a = $1 WHERE id = $2::int', [1, 2])).toBe(false);
    expect(inlineable('SELECT $1::bytea', [Buffer.from('x')])).toBe(false);
    expect(inlineable('COMMIT', undefined)).toBe(true);
  });
});

describe('mergingQueryable', () => {
  it('sends the statements issued together as one text, in order, each caller with its own result', async () => {
    const { sent, sender } = recordingSender();
    const tx = mergingQueryable(sender);
    const results = await Promise.all([
      tx.query('SELECT $1::int', [1]),
      tx.query('SELECT $1::text', ['b']),
      tx.query('SELECT 3'),
    ]);
    expect(sent).toEqual([{ many: `SELECT '1'::int;\nSELECT 'b'::text;\nSELECT 3` }]);
    expect(results.map((r) => r.rowCount)).toEqual([0, 1, 2]);
    expect(results[1]!.rows).toEqual([{ sql: `SELECT 'b'::text` }]);
  });

  it('keeps the ordinary path for a statement alone, for later turns, and for groups it cannot inline', async () => {
    const { sent, sender } = recordingSender();
    const tx = mergingQueryable(sender);
    await tx.query('SELECT $1::int', [1]);
    await tx.query('SELECT $1::int', [2]);
    await Promise.all([tx.query('SELECT $1::int', [3]), tx.query('UPDATE t SET a = $1', [4])]);
    expect(sent).toEqual([
      { one: 'SELECT $1::int', params: [1] },
      { one: 'SELECT $1::int', params: [2] },
      { one: 'SELECT $1::int', params: [3] },
      { one: 'UPDATE t SET a = $1', params: [4] },
    ]);
  });

  it('rejects every statement of a group whose text fails', async () => {
    const { sender } = recordingSender('boom');
    const tx = mergingQueryable(sender);
    const outcomes = await Promise.allSettled([tx.query('SELECT 1'), tx.query('SELECT boom')]);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
    expect((outcomes[0] as PromiseRejectedResult).reason).toEqual(new Error('failed: boom'));
  });
});

describe('statements issued together in a transaction', () => {
  it('read back exactly the values their parameters carried, on either engine', async () => {
    const t = await openTestDatabase([]);
    try {
      const tricky = ["it's", 'back\\slash', 'quote"d', '中文 ✓', '', "\\'", '{"json": "\\u00e9"}'];
      const at = new Date('2026-12-02T03:04:05.678Z');
      const [texts, numbers, when] = await t.db.transaction((tx) =>
        Promise.all([
          tx.query<{ v: string }>('SELECT unnest($1::text[]) AS v', [tricky]),
          tx.query<{ n: bigint; j: unknown }>('SELECT $1::int8 AS n, $2::jsonb AS j', [
            9_007_199_254_740_993n,
            { k: 'it\'s \\ "x"' },
          ]),
          tx.query<{ t: Date; nothing: string | null }>('SELECT $1::timestamptz AS t, $2::text AS nothing', [
            at,
            null,
          ]),
        ]),
      );
      expect(texts.rows.map((r) => r.v)).toEqual(tricky);
      expect(numbers.rows[0]).toEqual({ n: 9_007_199_254_740_993n, j: { k: 'it\'s \\ "x"' } });
      expect(when.rows[0]!.t.getTime()).toBe(at.getTime());
      expect(when.rows[0]!.nothing).toBeNull();
    } finally {
      await t.close();
    }
  });
});
