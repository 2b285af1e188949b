import { describe, expect, it } from 'vitest';
import { newId } from '../core/index.ts';
import { applyMigrations } from '../db/index.ts';
import { openTestDatabase } from '../../test/support/test-database.ts';
import { webhooksMigrations } from './index.ts';

describe('webhooks migration 0004 (delivered stays delivered)', () => {
  it('sets succeeded the deliveries an attempt delivered but the newest attempt left pending or failed, and keeps the rest', async () => {
    const t = await openTestDatabase(webhooksMigrations.filter((m) => m.version <= 3));
    try {
      const { db } = t;
      const at = new Date('2026-03-01T04:00:00Z');
      const later = (ms: number) => new Date(at.getTime() + ms);
      const delivery = async (
        status: 'pending' | 'succeeded' | 'failed',
        succeededAt: Date | null,
        nextAttemptAt: Date | null,
        attempts: Array<'succeeded' | 'failed' | 'abandoned' | null>,
      ) => {
        const id = newId();
        await db.query(
          `INSERT INTO webhook_deliveries (id, message_id, owner_id, endpoint_id, url, event_type, body, status,
             attempts, max_attempts, next_attempt_at, created_at, updated_at, succeeded_at)
           VALUES ($1, 'msg_1', 'merchant-1', NULL, 'https://example.com/hook', 'payment.succeeded', '{}', $2,
             $3, 8, $4, $5, $5, $6)`,
          [id, status, attempts.length, nextAttemptAt, at, succeededAt],
        );
        for (const [i, outcome] of attempts.entries())
          await db.query(
            `INSERT INTO webhook_attempts (id, delivery_id, attempt, trigger, started_at, outcome, duration_ms)
             VALUES ($1, $2, $3, 'scheduled', $4, $5, $6)`,
            [newId(), id, i + 1, later(i * 60_000), outcome, outcome === null ? null : 250],
          );
        return id;
      };
      // An older attempt's late success fenced out by a newer failed one: left retrying, or failed.
      const retrying = await delivery('pending', null, later(3_600_000), ['succeeded', 'failed']);
      const gaveUp = await delivery('failed', null, null, ['failed', 'succeeded', 'failed']);
      // A failed redeliver of a succeeded delivery.
      const redelivered = await delivery('failed', later(1_000), null, ['succeeded', 'failed']);
      // Not delivered: left as they are.
      const failing = await delivery('pending', null, later(5_000), ['failed', 'abandoned']);
      const failed = await delivery('failed', null, null, ['failed']);
      const running = await delivery('pending', null, later(120_000), [null]);
      const fine = await delivery('succeeded', later(2_000), null, ['succeeded']);

      await applyMigrations(db, webhooksMigrations);
      const rows = await db.query<{
        id: string;
        status: string;
        next_attempt_at: Date | null;
        succeeded_at: Date | null;
      }>('SELECT id, status, next_attempt_at, succeeded_at FROM webhook_deliveries');
      const byId = new Map(rows.rows.map((r) => [r.id, r]));
      expect(byId.get(retrying)).toMatchObject({
        status: 'succeeded',
        next_attempt_at: null,
        succeeded_at: later(250),
      });
      expect(byId.get(gaveUp)).toMatchObject({ status: 'succeeded', succeeded_at: later(60_250) });
      expect(byId.get(redelivered)).toMatchObject({ status: 'succeeded', succeeded_at: later(1_000) });
      expect(byId.get(failing)).toMatchObject({ status: 'pending', next_attempt_at: later(5_000) });
      expect(byId.get(failed)).toMatchObject({ status: 'failed', succeeded_at: null });
      expect(byId.get(running)).toMatchObject({ status: 'pending', next_attempt_at: later(120_000) });
      expect(byId.get(fine)).toMatchObject({ status: 'succeeded', succeeded_at: later(2_000) });
    } finally {
      await t.close();
    }
  });
});
