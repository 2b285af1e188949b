import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../core/index.ts';
import type { Database } from '../db/index.ts';
import { openTestDatabase, type TestDatabase } from '../../test/support/test-database.ts';
import { Blacklist, riskMigrations } from './index.ts';

describe('blacklist', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await openTestDatabase(riskMigrations);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('keeps the table, its mirror and the listeners agreeing when an add and a remove cross', async () => {
    // The add's INSERT runs first, but its answer comes back only after the remove's DELETE has
    // run and answered (or after 200 ms, when the DELETE waits for the add to finish).
    let deleteAnswered!: () => void;
    const deleted = new Promise<void>((resolve) => (deleteAnswered = resolve));
    let insertRan: Promise<unknown> = Promise.resolve();
    const db = new Proxy(t.db, {
      get(target, property, receiver) {
        if (property !== 'query') return Reflect.get(target, property, receiver) as unknown;
        return async (sql: string, params?: unknown[]) => {
          if (sql.includes('INSERT')) {
            insertRan = target.query(sql, params);
            const result = await insertRan;
            await Promise.race([deleted, new Promise((r) => setTimeout(r, 200))]);
            return result;
          }
          if (sql.includes('DELETE')) {
            await insertRan;
            const result = await target.query(sql, params);
            deleteAnswered();
            return result;
          }
          return target.query(sql, params);
        };
      },
    }) as Database;
    const blacklist = new Blacklist(db, new ManualClock('2026-11-11T12:00:00Z'));
    const pushed = new Map<string, boolean>();
    blacklist.onChange(async (userId, listed) => {
      pushed.set(userId, listed);
    });
    const userId = randomUUID();
    await Promise.all([blacklist.add(userId, 'reseller', null), blacklist.remove(userId)]);

    const inTable = (await blacklist.list({ limit: 10 })).some((e) => e.userId === userId);
    // The remove was sent last: the user is off the list everywhere.
    expect({ inTable, mirrored: blacklist.has(userId), pushed: pushed.get(userId) }).toEqual({
      inTable: false,
      mirrored: false,
      pushed: false,
    });
    await blacklist.load();
    expect(blacklist.has(userId)).toBe(false);
  });
});
