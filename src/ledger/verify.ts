import { canonicalJson } from '../core/index.ts';
import type { Queryable } from '../db/index.ts';
import { boundFromRow, boundViolation, type AccountTotals } from './bounds.ts';
import { decodeLegs, entryHash, GENESIS_HASH } from './entry-hash.ts';
import type { AccountTotalsRow } from './rows.ts';
import type { VerifyCheck, VerifyReport } from './types.ts';

const PAGE = 5000;

function zeroTotals(): AccountTotals {
  return { debitsPosted: 0n, creditsPosted: 0n, debitsPending: 0n, creditsPending: 0n };
}

/** A leg as the writer stores it: side, phase, an account, a currency and a positive amount. */
const WELL_FORMED_LEG = /^[DC][PHR] \S+ \S+ [1-9]\d*$/;
const PHASES: Record<string, string> = { P: 'posted', H: 'held', R: 'released' };

/**
 * What is wrong with an entry's legs, or undefined: every leg must be well formed, and in each
 * currency the legs of each phase (posted, held, released) must net to zero, as the writer refuses
 * any other entry. The journal-wide zero sum alone misses two unbalanced entries that offset.
 */
function entryProblem(legsText: string): { detail: string; malformed: boolean } | undefined {
  const net = new Map<string, bigint>();
  for (const part of legsText.split(';')) {
    if (!WELL_FORMED_LEG.test(part))
      return { detail: `has a malformed leg "${part.slice(0, 120)}"`, malformed: true };
    const [sidePhase, , currency, amount] = part.split(' ');
    const key = `${currency} ${PHASES[sidePhase![1]!]}`;
    net.set(key, (net.get(key) ?? 0n) + (sidePhase![0] === 'C' ? BigInt(amount!) : -BigInt(amount!)));
  }
  const off = [...net].filter(([, n]) => n !== 0n);
  if (off.length === 0) return undefined;
  return {
    detail: `does not balance: ${off.map(([key, n]) => `${key} off by ${n}`).join(', ')}`,
    malformed: false,
  };
}

/**
 * Re-derives everything from the journal and compares: the hash chain, zero-sum per currency, every
 * account's totals equal the sum of its legs (in the journal and in the postings index), pending
 * totals equal the open holds, and no account outside its bound. Reads only; safe while running.
 */
export async function verifyLedger(
  db: Queryable,
  onProgress?: (done: bigint, total: bigint) => void,
): Promise<VerifyReport> {
  const checks: VerifyCheck[] = [];
  const head = (
    await db.query<{ last_seq: bigint; last_hash: string }>(
      'SELECT last_seq, last_hash FROM ledger_head WHERE id = 1',
    )
  ).rows[0]!;

  // 1. The chain, and totals re-derived from the hashed legs.
  const totals = new Map<string, AccountTotals>();
  const netByCurrency = new Map<string, { posted: bigint; pending: bigint }>();
  let expectedSeq = 1n;
  let previousHash = GENESIS_HASH;
  let chainProblem: string | undefined;
  const unbalancedEntries: string[] = [];
  let unbalancedCount = 0;
  let legCount = 0n;
  while (expectedSeq <= head.last_seq && !chainProblem) {
    const page = await db.query<{
      seq: bigint;
      id: string;
      kind: string;
      posted_at: Date;
      hold_id: string | null;
      reverses_seq: bigint | null;
      legs: string;
      metadata: Record<string, unknown>;
      hash: string;
    }>('SELECT * FROM ledger_entries WHERE seq >= $1 AND seq <= $2 ORDER BY seq LIMIT $3', [
      expectedSeq,
      head.last_seq,
      PAGE,
    ]);
    if (page.rows.length === 0) {
      chainProblem = `entry ${expectedSeq} is missing`;
      break;
    }
    for (const row of page.rows) {
      if (row.seq !== expectedSeq) {
        chainProblem = `entry ${expectedSeq} is missing (found ${row.seq})`;
        break;
      }
      const legs = decodeLegs(row.legs);
      const hash = entryHash(previousHash, {
        seq: row.seq,
        id: row.id,
        kind: row.kind,
        postedAtIso: row.posted_at.toISOString(),
        holdId: row.hold_id,
        reversesSeq: row.reverses_seq,
        legsText: row.legs,
        metadataJson: canonicalJson(row.metadata),
      });
      if (hash !== row.hash) {
        chainProblem = `entry ${row.seq} (${row.id}) does not match its hash`;
        break;
      }
      const problem = entryProblem(row.legs);
      if (problem !== undefined) {
        unbalancedCount += 1;
        if (unbalancedEntries.length < 10)
          unbalancedEntries.push(`entry ${row.seq} (${row.id}) ${problem.detail}`);
      }
      // A malformed leg has no amount to add up (the other checks then report what it leaves out).
      for (const leg of problem?.malformed ? [] : legs) {
        legCount += 1n;
        const t = totals.get(leg.a) ?? zeroTotals();
        totals.set(leg.a, t);
        const amount = BigInt(leg.n);
        const net = netByCurrency.get(leg.c) ?? { posted: 0n, pending: 0n };
        netByCurrency.set(leg.c, net);
        const signed = leg.s === 'C' ? amount : -amount;
        if (leg.p === 'P') {
          if (leg.s === 'D') t.debitsPosted += amount;
          else t.creditsPosted += amount;
          net.posted += signed;
        } else {
          const delta = leg.p === 'H' ? amount : -amount;
          if (leg.s === 'D') t.debitsPending += delta;
          else t.creditsPending += delta;
          net.pending += leg.p === 'H' ? signed : -signed;
        }
      }
      previousHash = row.hash;
      expectedSeq += 1n;
    }
    onProgress?.(expectedSeq - 1n, head.last_seq);
  }
  if (!chainProblem && previousHash !== head.last_hash)
    chainProblem = 'the journal head does not match the last entry';
  checks.push({
    name: 'hash_chain',
    ok: !chainProblem,
    detail: chainProblem ?? `${head.last_seq} entries chain to ${head.last_hash.slice(0, 16)}…`,
  });

  checks.push({
    name: 'entries_balance',
    ok: unbalancedCount === 0,
    detail:
      unbalancedCount === 0
        ? 'every entry balances in each currency'
        : `${unbalancedCount} entries do not: ${unbalancedEntries.join('; ')}${unbalancedCount > 10 ? '; …' : ''}`,
  });

  // 2. Zero-sum per currency.
  const unbalanced = [...netByCurrency].filter(([, n]) => n.posted !== 0n || n.pending !== 0n);
  checks.push({
    name: 'zero_sum',
    ok: unbalanced.length === 0,
    detail:
      unbalanced.length === 0
        ? `${netByCurrency.size} currencies balance`
        : unbalanced
            .map(([c, n]) => `${c} posted off by ${n.posted}, pending off by ${n.pending}`)
            .join('; '),
  });

  // 3. Account totals = sum of journal legs; 5. bounds hold.
  const accounts = await db.query<Omit<AccountTotalsRow, 'currency'>>(
    'SELECT id, bound, overdraft_limit, debits_posted, credits_posted, debits_pending, credits_pending FROM ledger_accounts',
  );
  const mismatched: string[] = [];
  const outOfBounds: string[] = [];
  for (const a of accounts.rows) {
    const stored: AccountTotals = {
      debitsPosted: a.debits_posted,
      creditsPosted: a.credits_posted,
      debitsPending: a.debits_pending,
      creditsPending: a.credits_pending,
    };
    const derived = totals.get(a.id) ?? zeroTotals();
    totals.delete(a.id);
    if (
      derived.debitsPosted !== stored.debitsPosted ||
      derived.creditsPosted !== stored.creditsPosted ||
      derived.debitsPending !== stored.debitsPending ||
      derived.creditsPending !== stored.creditsPending
    ) {
      mismatched.push(a.id);
    }
    if (boundViolation(boundFromRow(a.bound, a.overdraft_limit), zeroTotals(), stored))
      outOfBounds.push(a.id);
  }
  const orphans = [...totals.keys()];
  checks.push({
    name: 'balances_equal_legs',
    ok: mismatched.length === 0 && orphans.length === 0,
    detail:
      mismatched.length === 0 && orphans.length === 0
        ? `${accounts.rows.length} accounts match their legs`
        : `totals differ from legs for ${[...mismatched, ...orphans.map((o) => `${o} (no account)`)].slice(0, 10).join(', ')}`,
  });
  checks.push({
    name: 'bounds',
    ok: outOfBounds.length === 0,
    detail:
      outOfBounds.length === 0
        ? 'every account within its bound'
        : `out of bounds: ${outOfBounds.slice(0, 10).join(', ')}`,
  });

  // 4. The postings index agrees with the journal, and pending totals with the open holds.
  const postings = await db.query<{ id: string }>(
    `SELECT a.id FROM ledger_accounts a
       LEFT JOIN (SELECT account_id,
                         sum(amount) FILTER (WHERE side = 'D' AND phase = 'P')::int8 AS dp,
                         sum(amount) FILTER (WHERE side = 'C' AND phase = 'P')::int8 AS cp
                    FROM ledger_postings GROUP BY account_id) p ON p.account_id = a.id
      WHERE coalesce(p.dp, 0) <> a.debits_posted OR coalesce(p.cp, 0) <> a.credits_posted`,
  );
  const postingCount = (await db.query<{ n: bigint }>('SELECT count(*)::int8 AS n FROM ledger_postings'))
    .rows[0]!.n;
  checks.push({
    name: 'postings_index',
    ok: postings.rows.length === 0 && postingCount === legCount,
    detail:
      postings.rows.length === 0 && postingCount === legCount
        ? `${postingCount} postings agree with the journal`
        : `${postings.rows.length} accounts differ; ${postingCount} postings for ${legCount} legs`,
  });
  const holds = await db.query<{ id: string }>(
    `SELECT a.id FROM ledger_accounts a
       LEFT JOIN (SELECT debit_account_id AS id, sum(amount)::int8 AS s FROM ledger_holds WHERE status = 'pending' GROUP BY 1) d ON d.id = a.id
       LEFT JOIN (SELECT credit_account_id AS id, sum(amount)::int8 AS s FROM ledger_holds WHERE status = 'pending' GROUP BY 1) c ON c.id = a.id
      WHERE coalesce(d.s, 0) <> a.debits_pending OR coalesce(c.s, 0) <> a.credits_pending`,
  );
  checks.push({
    name: 'holds_equal_pending',
    ok: holds.rows.length === 0,
    detail:
      holds.rows.length === 0
        ? 'pending totals equal the open holds'
        : `pending totals differ from holds for ${holds.rows.length} accounts`,
  });

  return { ok: checks.every((c) => c.ok), entries: head.last_seq, checks };
}
