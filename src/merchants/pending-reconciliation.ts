import type { Clock } from '../core/index.ts';
import { BANK_CARD } from './bank-card-method.ts';
import type { PaymentService } from './payments.ts';
import type { Refunds } from './refunds.ts';

/**
 * How long a sweep's claim on a row lasts. Longer than a drive takes, so two processes do not
 * drive one row at once (harmless — the ledger posts an entry id once and status changes are
 * conditional — but wasted); and the pause before a row still undecided is tried again.
 */
const LEASE_MS = 60_000;

export interface PendingSweepOptions {
  /** Only rows pending for longer than this: a younger one may still be in its own request. */
  olderThanMs?: number;
  /** Rows per round, at most: the jobs run one after another, so a round must end. */
  limit?: number;
  /** Rows claimed at a time; a stopped round leaves only these to their leases. */
  batchSize?: number;
}

/**
 * The pending sweep (job `merchants.pending-reconciliation`). A payment or refund whose ledger call
 * ended undecided — LEDGER_UNAVAILABLE, or a crash after the ledger committed and before the row
 * was updated — stays pending, holding the payer's class allowance, the order, or part of the
 * refundable amount. The sweep drives each on as a retry of its request would (`redrive`): the same
 * ledger entry id is submitted again, so the ledger posts it once or answers with its first
 * outcome, and the row is completed, or failed with what it held given back. Card payments are
 * left to the card reconciliation, which asks the bank (they are pending until it settles).
 *
 * Returns how many rows it decided, for the jobs log. Every row is committed on its own, claimed
 * before it is driven, so a round stopped anywhere resumes with the next: what it had claimed and
 * not finished waits out its lease. A row still undecided does not stop the round (a row that
 * always fails must not starve the rows after it); the first such error is thrown at the end, for
 * the jobs log, since it means the ledger or database is still failing.
 */
export async function reconcilePending(
  deps: { payments: PaymentService; refunds: Refunds; clock: Clock },
  options: PendingSweepOptions = {},
): Promise<number> {
  const now = deps.clock.now().getTime();
  const before = new Date(now - (options.olderThanMs ?? 60_000));
  const leaseUntil = new Date(now + LEASE_MS);
  const limit = options.limit ?? 500;
  const batchSize = options.batchSize ?? 50;
  const payments = await sweep(
    (n) => deps.payments.claimPending(before, leaseUntil, { skip: [BANK_CARD], limit: n }),
    async (row) => (await deps.payments.redrive(row)).status,
    async (id) => (await deps.payments.find(id))?.status,
    limit,
    batchSize,
  );
  const refunds = await sweep(
    (n) => deps.refunds.claimPending(before, leaseUntil, n),
    async (row) => (await deps.refunds.redrive(row)).status,
    async (id) => (await deps.refunds.get(id)).status,
    limit,
    batchSize,
  );
  const stuck = payments.stuck ?? refunds.stuck;
  if (stuck) throw stuck.error;
  return payments.decided + refunds.decided;
}

async function sweep<Row extends { id: string }>(
  claim: (limit: number) => Promise<Row[]>,
  drive: (row: Row) => Promise<string>,
  statusOf: (id: string) => Promise<string | undefined>,
  limit: number,
  batchSize: number,
): Promise<{ decided: number; stuck: { error: unknown } | undefined }> {
  let claimed = 0;
  let decided = 0;
  let stuck: { error: unknown } | undefined;
  while (claimed < limit) {
    const rows = await claim(Math.min(batchSize, limit - claimed));
    if (rows.length === 0) break;
    claimed += rows.length;
    for (const row of rows) {
      let status: string | undefined;
      try {
        status = await drive(row);
      } catch (error) {
        // A definite refusal has already failed the row and is thrown all the same: the row's
        // status, not the error, says whether it was decided.
        status = await statusOf(row.id);
        if (status === 'pending') stuck ??= { error };
      }
      if (status !== 'pending') decided += 1;
    }
  }
  return { decided, stuck };
}
