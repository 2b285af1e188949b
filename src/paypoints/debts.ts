import { isUuid } from '../core/index.ts';
import type { Queryable } from '../db/index.ts';

/**
 * Unpaid service-order debts per user (count and total, fen), for the score service. Built from
 * the database alone so the composition root can give it to the score service before Pay Points
 * itself (which needs the score service) exists.
 */
export function serviceOrderDebts(db: Queryable): {
  unpaidDebts(userIds: readonly string[]): Promise<ReadonlyMap<string, { count: number; amount: bigint }>>;
} {
  return {
    async unpaidDebts(userIds) {
      const out = new Map<string, { count: number; amount: bigint }>();
      const valid = userIds.filter(isUuid);
      if (valid.length === 0) return out;
      const r = await db.query<{ user_id: string; n: bigint; amount: bigint }>(
        `SELECT user_id, count(*)::int8 AS n, sum(debt)::int8 AS amount FROM paypoints_service_orders
         WHERE status = 'unpaid' AND user_id = ANY($1::uuid[]) GROUP BY user_id`,
        [valid],
      );
      for (const row of r.rows) out.set(row.user_id, { count: Number(row.n), amount: row.amount });
      return out;
    },
  };
}
