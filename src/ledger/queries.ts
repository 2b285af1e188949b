import { MilletError, isUuid } from '../core/index.ts';
import type { Queryable } from '../db/index.ts';
import { clampLimit, getAccount } from './accounts.ts';
import { decodeCursor, encodeCursor } from './cursor.ts';
import { entryFromRow, holdFromRow, phaseOf, type EntryRow, type HoldRow } from './rows.ts';
import type { BalanceAt, EntryKind, Hold, JournalEntry, Page, StatementLine } from './types.ts';

export async function getEntry(db: Queryable, id: string): Promise<JournalEntry> {
  const result = isUuid(id)
    ? await db.query<EntryRow>('SELECT * FROM ledger_entries WHERE id = $1', [id])
    : { rows: [] };
  const row = result.rows[0];
  if (!row) throw new MilletError('ENTRY_NOT_FOUND', `Entry ${id} does not exist`, { entryId: id });
  return entryFromRow(row);
}

export async function getHold(db: Queryable, id: string): Promise<Hold> {
  const result = isUuid(id)
    ? await db.query<HoldRow>('SELECT * FROM ledger_holds WHERE id = $1', [id])
    : { rows: [] };
  const row = result.rows[0];
  if (!row) throw new MilletError('HOLD_NOT_FOUND', `Hold ${id} does not exist`, { holdId: id });
  return holdFromRow(row);
}

/**
 * Many holds in one query (a page of orders showing their deposits); ids that are not UUIDs or name
 * no hold are absent from the map, as `getAccounts` does for accounts.
 */
export async function getHolds(db: Queryable, ids: readonly string[]): Promise<Map<string, Hold>> {
  const valid = [...new Set(ids)].filter(isUuid);
  const found = new Map<string, Hold>();
  if (valid.length === 0) return found;
  const result = await db.query<HoldRow>('SELECT * FROM ledger_holds WHERE id = ANY($1::uuid[])', [valid]);
  for (const row of result.rows) {
    const hold = holdFromRow(row);
    found.set(hold.id, hold);
  }
  return found;
}

/** The account's posted totals as they stood at `at` (the last posting at or before that instant). */
export async function balanceAt(db: Queryable, accountId: string, at: Date): Promise<BalanceAt> {
  await getAccount(db, accountId);
  const result = await db.query<{ debits_posted: bigint; credits_posted: bigint }>(
    `SELECT p.debits_posted, p.credits_posted
       FROM ledger_postings p
      WHERE p.account_id = $1
        AND p.entry_seq <= (SELECT coalesce(max(seq), 0) FROM ledger_entries WHERE posted_at <= $2)
      ORDER BY p.entry_seq DESC, p.leg_index DESC
      LIMIT 1`,
    [accountId, at],
  );
  const row = result.rows[0] ?? { debits_posted: 0n, credits_posted: 0n };
  return {
    accountId,
    asOf: at,
    debitsPosted: row.debits_posted,
    creditsPosted: row.credits_posted,
    posted: row.credits_posted - row.debits_posted,
  };
}

const MAX_INT8 = 2n ** 63n - 1n;
const MAX_INT4 = 2 ** 31 - 1;

export interface StatementQuery {
  cursor?: string;
  limit?: number;
  /** Only lines posted at or after this instant. */
  from?: Date;
  /** Only lines posted before this instant. */
  to?: Date;
}

/** An account's lines in journal order, with the running posted balance, a page at a time. */
export async function statement(
  db: Queryable,
  accountId: string,
  query: StatementQuery = {},
): Promise<Page<StatementLine>> {
  await getAccount(db, accountId);
  const limit = clampLimit(query.limit);
  let afterSeq = 0n;
  let afterLeg = -1;
  if (query.cursor) {
    const [seq, leg] = decodeCursor(query.cursor, 2);
    // In range of the columns too (int8, int): a tampered figure must not reach the database.
    if (
      !/^\d{1,19}$/.test(seq!) ||
      !/^\d{1,10}$/.test(leg!) ||
      BigInt(seq!) > MAX_INT8 ||
      Number(leg) > MAX_INT4
    )
      throw new MilletError('VALIDATION_FAILED', 'cursor is not one this API handed out', {
        field: 'cursor',
      });
    afterSeq = BigInt(seq!);
    afterLeg = Number(leg);
  }
  const result = await db.query<{
    entry_seq: bigint;
    leg_index: number;
    side: 'D' | 'C';
    phase: 'P' | 'H' | 'R';
    amount: bigint;
    debits_posted: bigint;
    credits_posted: bigint;
    id: string;
    kind: EntryKind;
    posted_at: Date;
    metadata: Record<string, unknown>;
  }>(
    `SELECT p.entry_seq, p.leg_index, p.side, p.phase, p.amount, p.debits_posted, p.credits_posted,
            e.id, e.kind, e.posted_at, e.metadata
       FROM ledger_postings p JOIN ledger_entries e ON e.seq = p.entry_seq
      WHERE p.account_id = $1 AND (p.entry_seq, p.leg_index) > ($2::int8, $3::int)
        AND ($4::timestamptz IS NULL OR e.posted_at >= $4) AND ($5::timestamptz IS NULL OR e.posted_at < $5)
      ORDER BY p.entry_seq, p.leg_index
      LIMIT $6`,
    [accountId, afterSeq, afterLeg, query.from ?? null, query.to ?? null, limit + 1],
  );
  const rows = result.rows.slice(0, limit);
  const items = rows.map((r): StatementLine => ({
    entrySeq: r.entry_seq,
    entryId: r.id,
    kind: r.kind,
    postedAt: r.posted_at,
    side: r.side === 'D' ? 'debit' : 'credit',
    phase: phaseOf(r.phase),
    amount: r.amount,
    balanceAfter: r.credits_posted - r.debits_posted,
    metadata: r.metadata,
  }));
  const last = rows.at(-1);
  return {
    items,
    nextCursor: result.rows.length > limit && last ? encodeCursor([last.entry_seq, last.leg_index]) : null,
  };
}
