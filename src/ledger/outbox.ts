import type { Clock } from '../core/index.ts';
import type { Queryable } from '../db/index.ts';
import { entryFromRow, type EntryRow } from './rows.ts';
import type { JournalEntry } from './types.ts';

/**
 * The outbox of posted events is the journal itself: its sequence is gapless and committed in order
 * (every batch holds the head row lock until commit), so a consumer that remembers the last seq it
 * handled sees every entry exactly once per successful acknowledgement — at-least-once delivery with
 * no second table to write on the hot path.
 */
export async function pollEvents(db: Queryable, consumer: string, limit = 500): Promise<JournalEntry[]> {
  const cursor = await db.query<{ last_seq: bigint }>(
    'SELECT last_seq FROM ledger_outbox_cursors WHERE consumer = $1',
    [consumer],
  );
  const after = cursor.rows[0]?.last_seq ?? 0n;
  const rows = await db.query<EntryRow>('SELECT * FROM ledger_entries WHERE seq > $1 ORDER BY seq LIMIT $2', [
    after,
    limit,
  ]);
  return rows.rows.map(entryFromRow);
}

/** Records that `consumer` has handled everything up to and including `seq`. Never moves back. */
export async function acknowledgeEvents(
  db: Queryable,
  clock: Clock,
  consumer: string,
  seq: bigint,
): Promise<void> {
  await db.query(
    `INSERT INTO ledger_outbox_cursors (consumer, last_seq, updated_at) VALUES ($1, $2, $3)
     ON CONFLICT (consumer) DO UPDATE SET last_seq = greatest(ledger_outbox_cursors.last_seq, excluded.last_seq), updated_at = excluded.updated_at`,
    [consumer, seq, clock.now()],
  );
}
