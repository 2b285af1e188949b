import { derivedId, isMilletError, type Clock } from '../core/index.ts';
import type { Queryable } from '../db/index.ts';
import type { GroupCommitWriter } from './group-commit-writer.ts';

/**
 * Voids pending holds whose timeout has passed. Each expiry is a journal entry whose id is derived
 * from the hold, so running the job twice (or in two processes) expires each hold once.
 */
export async function expireDueHolds(
  db: Queryable,
  writer: GroupCommitWriter,
  clock: Clock,
  limit = 1000,
): Promise<number> {
  const due = await db.query<{ id: string }>(
    `SELECT id FROM ledger_holds WHERE status = 'pending' AND expires_at <= $1 ORDER BY expires_at LIMIT $2`,
    [clock.now(), limit],
  );
  const results = await Promise.allSettled(
    due.rows.map((row) =>
      writer.submit({ type: 'hold_expire', id: derivedId('ledger.hold-expiry', row.id), holdId: row.id }),
    ),
  );
  let expired = 0;
  for (const result of results) {
    if (result.status === 'fulfilled') expired += 1;
    // A hold posted or voided meanwhile is fine; anything else is a real fault.
    else if (!(isMilletError(result.reason) && result.reason.code === 'HOLD_NOT_PENDING'))
      throw result.reason;
  }
  return expired;
}
