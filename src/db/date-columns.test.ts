import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../test/support/test-database.ts';

describe('date columns', () => {
  let t: TestDatabase;
  const zone = process.env.TZ;
  beforeAll(async () => {
    t = await openTestDatabase([]);
  });
  afterAll(async () => {
    if (zone === undefined) delete process.env.TZ;
    else process.env.TZ = zone;
    await t?.close();
  });

  // A server in China may run with its local time zone; a calendar date must not move a day.
  it.each(['UTC', 'Asia/Shanghai', 'America/Los_Angeles'])(
    'come back as their YYYY-MM-DD text under TZ=%s',
    async (tz) => {
      process.env.TZ = tz;
      const r = await t.db.query<{ d: unknown; n: unknown }>(
        "SELECT '2025-06-02'::date AS d, NULL::date AS n",
      );
      expect(r.rows[0]).toEqual({ d: '2025-06-02', n: null });
    },
  );
});
