import type { Database } from '../db/index.ts';
import type { CloseStep } from '../jobs/index.ts';
import type { Payouts } from './payouts.ts';
import { merchantFromRow, type MerchantRow } from './rows.ts';
import type { Settlements } from './settlements.ts';

export const SETTLEMENT_STEP = 'merchants.settlement';
const FIRST_ID = '00000000-0000-0000-0000-000000000000';

/**
 * The close step `merchants.settlement` for business date D: merchants in id order, a chunk at a
 * time, each settled for D (fees booked, payout scheduled and held) and then its payouts due by D
 * sent to the bank. The cursor is the last merchant id done, checkpointed after every chunk, so a
 * close that stops resumes after it; a merchant done twice changes nothing (its rows and ledger ids
 * are derived from the merchant and the date). Suspended merchants are settled too: their money
 * is still theirs.
 */
export function settlementCloseStep(
  deps: { db: Database; settlements: Settlements; payouts: Payouts },
  chunkSize = 100,
): CloseStep {
  return {
    name: SETTLEMENT_STEP,
    async run(ctx) {
      let after = ctx.cursor ?? FIRST_ID;
      const counts = await deps.db.query<{ total: bigint; done: bigint }>(
        'SELECT count(*)::int8 AS total, count(*) FILTER (WHERE id <= $1)::int8 AS done FROM merchants_merchants',
        [after],
      );
      const total = counts.rows[0]!.total;
      let done = counts.rows[0]!.done;
      for (;;) {
        const chunk = await deps.db.query<MerchantRow>(
          'SELECT * FROM merchants_merchants WHERE id > $1 ORDER BY id LIMIT $2',
          [after, chunkSize],
        );
        if (chunk.rows.length === 0) break;
        for (const row of chunk.rows) {
          const merchant = merchantFromRow(row);
          await deps.settlements.settleDay(merchant, ctx.businessDate, ctx.asOf);
          await deps.payouts.sendDue(merchant, ctx.businessDate);
        }
        after = chunk.rows.at(-1)!.id;
        done += BigInt(chunk.rows.length);
        await ctx.checkpoint(after, { done, total });
      }
    },
  };
}
