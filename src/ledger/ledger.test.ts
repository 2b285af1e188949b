import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock, canonicalJson, newId } from '../core/index.ts';
import { onPostgres, openTestDatabase, type TestDatabase } from '../../test/support/test-database.ts';
import { MAX_AMOUNT, createLedger, ledgerMigrations, type Ledger } from './index.ts';
import { rejection } from '../../test/support/rejection.ts';
import { entryHash, GENESIS_HASH } from './entry-hash.ts';

let t: TestDatabase;
let ledger: Ledger;
const clock = new ManualClock('2025-06-01T00:00:00Z');

beforeAll(async () => {
  t = await openTestDatabase(ledgerMigrations);
  ledger = createLedger({ db: t.db, clock });
});
afterAll(async () => {
  await ledger.close();
  await t.close();
});

const world = () => ledger.openAccount({ currency: 'CNY', code: 'world', bound: { kind: 'unbounded' } });
const wallet = () =>
  ledger.openAccount({ currency: 'CNY', code: 'user_wallet', bound: { kind: 'no_overdraft' } });

async function funded(amount: bigint) {
  const source = await world();
  const account = await wallet();
  if (amount > 0n)
    await ledger.transfer({ id: newId(), debitAccountId: source.id, creditAccountId: account.id, amount });
  return { source, account };
}

describe('accounts', () => {
  it('opens an account with its bound and metadata, idempotently by id', async () => {
    const id = newId();
    const command = {
      id,
      currency: 'CNY',
      code: 'user_wallet',
      bound: { kind: 'overdraft_limit', limit: 500n },
      metadata: { userId: 'u1' },
    } as const;
    const a = await ledger.openAccount(command);
    expect(a).toMatchObject({
      id,
      currency: 'CNY',
      bound: { kind: 'overdraft_limit', limit: 500n },
      metadata: { userId: 'u1' },
    });
    expect(a.balances.posted).toBe(0n);
    expect((await ledger.openAccount(command)).id).toBe(id);
    const conflict = await rejection(ledger.openAccount({ ...command, metadata: { userId: 'u2' } }));
    expect(conflict.code).toBe('ACCOUNT_ID_CONFLICT');
  });

  it('limits account metadata to 4096 UTF-8 bytes, as entries are limited', async () => {
    const open = (note: string) =>
      ledger.openAccount({
        currency: 'CNY',
        code: 'noted',
        bound: { kind: 'unbounded' },
        metadata: { note },
      });
    // 1,366 characters, 4,109 bytes with {"note":"…"} around them: one byte over stops it.
    const error = await rejection(open('汉'.repeat(1362)));
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.message).toMatch(/4096 bytes/);
    // 1,361 × 3 + 11 = 4,094 bytes.
    expect((await open('汉'.repeat(1361))).metadata).toEqual({ note: '汉'.repeat(1361) });
  });

  it('refuses bad currencies and unknown accounts with stable codes', async () => {
    expect(
      (await rejection(ledger.openAccount({ currency: 'cny', code: 'x', bound: { kind: 'unbounded' } })))
        .code,
    ).toBe('VALIDATION_FAILED');
    expect((await rejection(ledger.getAccount(newId()))).code).toBe('ACCOUNT_NOT_FOUND');
  });
});

describe('entries', () => {
  it('posts a multi-leg entry atomically and zero-sum', async () => {
    const { account: payer } = await funded(10_000n);
    const merchant = await wallet();
    const fees = await ledger.openAccount({
      currency: 'CNY',
      code: 'fee_income',
      bound: { kind: 'credit_only' },
    });
    const receipt = await ledger.postEntry({
      id: newId(),
      legs: [
        { accountId: payer.id, side: 'debit', amount: 1_000n },
        { accountId: merchant.id, side: 'credit', amount: 994n },
        { accountId: fees.id, side: 'credit', amount: 6n },
      ],
      metadata: { order: 'o-1' },
    });
    expect(receipt.kind).toBe('entry');
    expect((await ledger.getAccount(payer.id)).balances.posted).toBe(9_000n);
    expect((await ledger.getAccount(merchant.id)).balances.posted).toBe(994n);
    expect((await ledger.getAccount(fees.id)).balances.posted).toBe(6n);
    const entry = await ledger.getEntry(receipt.entryId);
    expect(entry.legs).toHaveLength(3);
    expect(entry.metadata).toEqual({ order: 'o-1' });
  });

  it('refuses unbalanced entries, single legs and bad amounts before they reach the journal', async () => {
    const { source, account } = await funded(100n);
    const unbalanced = await rejection(
      ledger.postEntry({
        id: newId(),
        legs: [
          { accountId: account.id, side: 'debit', amount: 10n },
          { accountId: source.id, side: 'credit', amount: 9n },
        ],
      }),
    );
    expect(unbalanced.code).toBe('ENTRY_UNBALANCED');
    expect(
      (
        await rejection(
          ledger.postEntry({ id: newId(), legs: [{ accountId: account.id, side: 'debit', amount: 1n }] }),
        )
      ).code,
    ).toBe('ENTRY_TOO_FEW_LEGS');
    expect(
      (
        await rejection(
          ledger.transfer({
            id: newId(),
            debitAccountId: account.id,
            creditAccountId: source.id,
            amount: 0n,
          }),
        )
      ).code,
    ).toBe('AMOUNT_INVALID');
    expect((await ledger.getAccount(account.id)).balances.posted).toBe(100n);
  });

  it('refuses legs that balance overall but not per currency', async () => {
    const cny = await world();
    const usd = await ledger.openAccount({ currency: 'USD', code: 'world', bound: { kind: 'unbounded' } });
    const error = await rejection(
      ledger.transfer({ id: newId(), debitAccountId: cny.id, creditAccountId: usd.id, amount: 5n }),
    );
    expect(error.code).toBe('CURRENCY_MISMATCH');
  });

  it('refuses an entry that moves nothing: one account on both sides, in any case', async () => {
    const { source, account } = await funded(100n);
    const id = newId();
    const self = await rejection(
      ledger.transfer({ id, debitAccountId: account.id, creditAccountId: account.id, amount: 10n }),
    );
    expect(self.code).toBe('VALIDATION_FAILED');
    const upper = await rejection(
      ledger.transfer({
        id: newId(),
        debitAccountId: account.id,
        creditAccountId: account.id.toUpperCase(),
        amount: 10n,
      }),
    );
    expect(upper.code).toBe('VALIDATION_FAILED');
    const netZero = await rejection(
      ledger.postEntry({
        id: newId(),
        legs: [
          { accountId: account.id, side: 'debit', amount: 10n },
          { accountId: source.id, side: 'credit', amount: 10n },
          { accountId: source.id, side: 'debit', amount: 10n },
          { accountId: account.id, side: 'credit', amount: 10n },
        ],
      }),
    );
    expect(netZero.code).toBe('VALIDATION_FAILED');
    const hold = await rejection(
      ledger.placeHold({
        id: newId(),
        debitAccountId: account.id,
        creditAccountId: account.id.toUpperCase(),
        amount: 10n,
      }),
    );
    expect(hold.code).toBe('VALIDATION_FAILED');
    // Refused before the journal: the id is not burnt.
    await ledger.transfer({ id, debitAccountId: account.id, creditAccountId: source.id, amount: 10n });
    // An account on both sides of an entry that moves money elsewhere is still an entry.
    await ledger.postEntry({
      id: newId(),
      legs: [
        { accountId: account.id, side: 'debit', amount: 10n },
        { accountId: account.id, side: 'credit', amount: 4n },
        { accountId: source.id, side: 'credit', amount: 6n },
      ],
    });
    expect((await ledger.getAccount(account.id)).balances.posted).toBe(84n);
  });

  it('counts the metadata limit in UTF-8 bytes, not characters', async () => {
    const { source, account } = await funded(0n);
    const transfer = (note: string) =>
      ledger.transfer({
        id: newId(),
        debitAccountId: source.id,
        creditAccountId: account.id,
        amount: 1n,
        metadata: { note },
      });
    // 3,000 characters, 9,000 bytes: under a count of characters this went through.
    const error = await rejection(transfer('汉'.repeat(3000)));
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.message).toMatch(/4096 bytes/);
    // {"note":"…"} is 11 bytes around the text: 1,361 × 3 + 11 = 4,094.
    await transfer('汉'.repeat(1361));
    expect((await ledger.getAccount(account.id)).balances.posted).toBe(1n);
  });
});

describe('bounds', () => {
  it('no overdraft: cannot spend more than the balance', async () => {
    const { source, account } = await funded(500n);
    const error = await rejection(
      ledger.transfer({ id: newId(), debitAccountId: account.id, creditAccountId: source.id, amount: 501n }),
    );
    expect(error.code).toBe('INSUFFICIENT_FUNDS');
    await ledger.transfer({
      id: newId(),
      debitAccountId: account.id,
      creditAccountId: source.id,
      amount: 500n,
    });
    expect((await ledger.getAccount(account.id)).balances.posted).toBe(0n);
  });

  it('overdraft limit: may go negative down to the limit', async () => {
    const source = await world();
    const line = await ledger.openAccount({
      currency: 'CNY',
      code: 'line',
      bound: { kind: 'overdraft_limit', limit: 300n },
    });
    await ledger.transfer({ id: newId(), debitAccountId: line.id, creditAccountId: source.id, amount: 300n });
    expect((await ledger.getAccount(line.id)).balances.posted).toBe(-300n);
    const error = await rejection(
      ledger.transfer({ id: newId(), debitAccountId: line.id, creditAccountId: source.id, amount: 1n }),
    );
    expect(error.code).toBe('OVERDRAFT_LIMIT_EXCEEDED');
  });

  it('credit only: a debit is refused, a reversal of its credit is not', async () => {
    const { account } = await funded(100n);
    const fees = await ledger.openAccount({
      currency: 'CNY',
      code: 'fee_income',
      bound: { kind: 'credit_only' },
    });
    const fee = await ledger.transfer({
      id: newId(),
      debitAccountId: account.id,
      creditAccountId: fees.id,
      amount: 7n,
    });
    expect(
      (
        await rejection(
          ledger.transfer({ id: newId(), debitAccountId: fees.id, creditAccountId: account.id, amount: 1n }),
        )
      ).code,
    ).toBe('ACCOUNT_CREDIT_ONLY');
    await ledger.reverseEntry({ id: newId(), entryId: fee.entryId });
    expect((await ledger.getAccount(fees.id)).balances.posted).toBe(0n);
    expect((await ledger.getAccount(account.id)).balances.posted).toBe(100n);
  });

  it('no overcredit: a receivable cannot be repaid beyond what is owed', async () => {
    const { account: payer } = await funded(1_000n);
    const receivable = await ledger.openAccount({
      currency: 'CNY',
      code: 'receivable',
      bound: { kind: 'no_overcredit' },
    });
    const lender = await world();
    await ledger.transfer({
      id: newId(),
      debitAccountId: receivable.id,
      creditAccountId: lender.id,
      amount: 200n,
    });
    const error = await rejection(
      ledger.transfer({
        id: newId(),
        debitAccountId: payer.id,
        creditAccountId: receivable.id,
        amount: 201n,
      }),
    );
    expect(error.code).toBe('CREDIT_LIMIT_EXCEEDED');
    await ledger.transfer({
      id: newId(),
      debitAccountId: payer.id,
      creditAccountId: receivable.id,
      amount: 200n,
    });
  });
});

describe('ids in upper case', () => {
  it('name the same accounts, holds and entries as in lower case', async () => {
    const { source, account } = await funded(1_000n);
    const merchant = await wallet();
    const U = (id: string) => id.toUpperCase();
    const id = newId();
    const transfer = { id: U(id), debitAccountId: U(source.id), creditAccountId: U(account.id), amount: 5n };
    const receipt = await ledger.transfer(transfer);
    expect(receipt.entryId).toBe(id);
    // A retry in either case is the same entry, not a second one (nor a duplicate key).
    expect((await ledger.transfer({ ...transfer, id })).seq).toBe(receipt.seq);
    expect((await ledger.transfer(transfer)).seq).toBe(receipt.seq);
    const hold = await ledger.placeHold({
      id: newId(),
      debitAccountId: U(account.id),
      creditAccountId: U(merchant.id),
      amount: 100n,
    });
    await ledger.postHold({ id: newId(), holdId: U(hold.holdId!), amount: 40n });
    const other = await ledger.placeHold({
      id: newId(),
      debitAccountId: account.id,
      creditAccountId: merchant.id,
      amount: 10n,
    });
    await ledger.voidHold({ id: newId(), holdId: U(other.holdId!) });
    await ledger.reverseEntry({ id: newId(), entryId: U(receipt.entryId) });
    expect((await ledger.getAccount(account.id)).balances).toMatchObject({
      posted: 960n,
      available: 960n,
    });
    expect((await ledger.getAccount(merchant.id)).balances.posted).toBe(40n);
  });
});

describe('running totals', () => {
  it('refuses a command that would carry a total past int8, with a stable code, and goes on', async () => {
    const [from, to] = [await world(), await world()];
    // 64 legs of the largest amount: 3.2 × 10^16 per entry, so 288 entries take `to` to 9.216 × 10^18.
    const legs = Array.from({ length: 64 }, (_, i) => ({
      accountId: i % 2 ? to.id : from.id,
      side: i % 2 ? ('credit' as const) : ('debit' as const),
      amount: MAX_AMOUNT,
    }));
    await Promise.all(Array.from({ length: 288 }, () => ledger.postEntry({ id: newId(), legs })));
    const over = await rejection(ledger.postEntry({ id: newId(), legs }));
    expect(over.code).toBe('ACCOUNT_TOTALS_OVERFLOW');
    // Debits posted plus pending count together: a hold on `from` can't pass it either.
    for (let i = 0; i < 7; i++)
      await ledger.transfer({
        id: newId(),
        debitAccountId: from.id,
        creditAccountId: to.id,
        amount: MAX_AMOUNT,
      });
    const hold = await rejection(
      ledger.placeHold({ id: newId(), debitAccountId: from.id, creditAccountId: to.id, amount: MAX_AMOUNT }),
    );
    expect(hold.code).toBe('ACCOUNT_TOTALS_OVERFLOW');
    // What still fits goes through: the account is not stuck.
    await ledger.transfer({ id: newId(), debitAccountId: from.id, creditAccountId: to.id, amount: 1n });
    expect((await ledger.getAccount(to.id)).balances.creditsPosted).toBe((288n * 32n + 7n) * MAX_AMOUNT + 1n);
    expect((await ledger.verify()).ok).toBe(true);
  });
});

describe('idempotency (TigerBeetle semantics)', () => {
  it('same id and payload returns the original result without posting twice', async () => {
    const { source, account } = await funded(0n);
    const command = { id: newId(), debitAccountId: source.id, creditAccountId: account.id, amount: 42n };
    const first = await ledger.transfer(command);
    const again = await ledger.transfer(command);
    expect(again).toEqual(first);
    expect((await ledger.getAccount(account.id)).balances.posted).toBe(42n);
  });

  it('same id with another payload is a conflict', async () => {
    const { source, account } = await funded(100n);
    const id = newId();
    await ledger.transfer({ id, debitAccountId: source.id, creditAccountId: account.id, amount: 1n });
    const error = await rejection(
      ledger.transfer({ id, debitAccountId: source.id, creditAccountId: account.id, amount: 2n }),
    );
    expect(error.code).toBe('ENTRY_ID_CONFLICT');
    expect((await ledger.getAccount(account.id)).balances.posted).toBe(101n);
  });

  it('a failed id stays failed, even once it could succeed', async () => {
    const { source, account } = await funded(10n);
    const command = { id: newId(), debitAccountId: account.id, creditAccountId: source.id, amount: 20n };
    expect((await rejection(ledger.transfer(command))).code).toBe('INSUFFICIENT_FUNDS');
    await ledger.transfer({
      id: newId(),
      debitAccountId: source.id,
      creditAccountId: account.id,
      amount: 100n,
    });
    expect((await rejection(ledger.transfer(command))).code).toBe('INSUFFICIENT_FUNDS');
    expect((await rejection(ledger.transfer({ ...command, amount: 5n }))).code).toBe('ENTRY_ID_CONFLICT');
    expect((await ledger.getAccount(account.id)).balances.posted).toBe(110n);
  });

  it('duplicates inside one batch resolve like retries', async () => {
    const { source, account } = await funded(0n);
    const command = { id: newId(), debitAccountId: source.id, creditAccountId: account.id, amount: 5n };
    const results = await Promise.allSettled([
      ledger.transfer(command),
      ledger.transfer(command),
      ledger.transfer({ ...command, amount: 6n }),
    ]);
    expect(results[0]).toEqual(results[1]);
    expect(results[2]).toMatchObject({ status: 'rejected', reason: { code: 'ENTRY_ID_CONFLICT' } });
    expect((await ledger.getAccount(account.id)).balances.posted).toBe(5n);
  });
});

describe('holds', () => {
  it('a pending hold reduces available, not posted; a partial post releases the rest', async () => {
    const { source, account } = await funded(1_000n);
    const hold = await ledger.placeHold({
      id: newId(),
      debitAccountId: account.id,
      creditAccountId: source.id,
      amount: 600n,
    });
    let balances = (await ledger.getAccount(account.id)).balances;
    expect(balances).toMatchObject({ posted: 1_000n, available: 400n, debitsPending: 600n });
    expect(
      (
        await rejection(
          ledger.transfer({
            id: newId(),
            debitAccountId: account.id,
            creditAccountId: source.id,
            amount: 401n,
          }),
        )
      ).code,
    ).toBe('INSUFFICIENT_FUNDS');
    await ledger.postHold({ id: newId(), holdId: hold.entryId, amount: 250n });
    balances = (await ledger.getAccount(account.id)).balances;
    expect(balances).toMatchObject({ posted: 750n, available: 750n, debitsPending: 0n });
    expect(await ledger.getHold(hold.entryId)).toMatchObject({ status: 'posted', postedAmount: 250n });
    expect((await rejection(ledger.voidHold({ id: newId(), holdId: hold.entryId }))).code).toBe(
      'HOLD_NOT_PENDING',
    );
  });

  it('void releases the whole hold; posting more than held is refused', async () => {
    const { source, account } = await funded(100n);
    const hold = await ledger.placeHold({
      id: newId(),
      debitAccountId: account.id,
      creditAccountId: source.id,
      amount: 80n,
    });
    expect((await rejection(ledger.postHold({ id: newId(), holdId: hold.entryId, amount: 81n }))).code).toBe(
      'HOLD_POST_EXCEEDS_AMOUNT',
    );
    await ledger.voidHold({ id: newId(), holdId: hold.entryId });
    expect((await ledger.getAccount(account.id)).balances).toMatchObject({ posted: 100n, available: 100n });
    expect((await rejection(ledger.postHold({ id: newId(), holdId: newId() }))).code).toBe('HOLD_NOT_FOUND');
  });

  it('expires at its timeout: posting is refused and the job voids it', async () => {
    const { source, account } = await funded(100n);
    const hold = await ledger.placeHold({
      id: newId(),
      debitAccountId: account.id,
      creditAccountId: source.id,
      amount: 30n,
      timeoutSeconds: 60,
    });
    expect(await ledger.expireHolds()).toBe(0);
    clock.advance(61_000);
    expect((await rejection(ledger.postHold({ id: newId(), holdId: hold.entryId }))).code).toBe(
      'HOLD_EXPIRED',
    );
    expect((await rejection(ledger.voidHold({ id: newId(), holdId: hold.entryId }))).code).toBe(
      'HOLD_EXPIRED',
    );
    expect(await ledger.expireHolds()).toBeGreaterThanOrEqual(1);
    expect(await ledger.getHold(hold.entryId)).toMatchObject({ status: 'expired' });
    expect((await ledger.getAccount(account.id)).balances).toMatchObject({ posted: 100n, available: 100n });
    expect(await ledger.expireHolds()).toBe(0);
  });

  it('reads many holds in one query, each as its own read shows it; unknown and malformed ids are absent', async () => {
    const { source, account } = await funded(1_000n);
    const place = (amount: bigint) =>
      ledger.placeHold({ id: newId(), debitAccountId: account.id, creditAccountId: source.id, amount });
    const [pending, posted, voided] = [await place(100n), await place(200n), await place(300n)];
    await ledger.postHold({ id: newId(), holdId: posted.entryId, amount: 150n });
    await ledger.voidHold({ id: newId(), holdId: voided.entryId });
    const ids = [pending.entryId, posted.entryId, voided.entryId];
    const unknown = newId();
    const holds = await ledger.getHolds([...ids, pending.entryId, unknown, 'not-a-uuid']);
    expect([...holds.keys()].sort()).toEqual([...ids].sort());
    for (const id of ids) expect(holds.get(id)).toEqual(await ledger.getHold(id));
    expect(holds.get(posted.entryId)).toMatchObject({ status: 'posted', postedAmount: 150n });
    expect(holds.get(voided.entryId)).toMatchObject({ status: 'voided' });
    expect((await ledger.getHolds([])).size).toBe(0);
    expect((await ledger.getHolds(['not-a-uuid'])).size).toBe(0);
  });
});

describe('reversals', () => {
  it('posts a correcting entry once; holds and reversals themselves are not reversible', async () => {
    const { source, account } = await funded(100n);
    const payment = await ledger.transfer({
      id: newId(),
      debitAccountId: account.id,
      creditAccountId: source.id,
      amount: 60n,
    });
    const reversal = await ledger.reverseEntry({ id: newId(), entryId: payment.entryId });
    expect(reversal.kind).toBe('reversal');
    expect((await ledger.getAccount(account.id)).balances.posted).toBe(100n);
    expect((await rejection(ledger.reverseEntry({ id: newId(), entryId: payment.entryId }))).code).toBe(
      'ENTRY_ALREADY_REVERSED',
    );
    expect((await rejection(ledger.reverseEntry({ id: newId(), entryId: reversal.entryId }))).code).toBe(
      'ENTRY_NOT_REVERSIBLE',
    );
    const hold = await ledger.placeHold({
      id: newId(),
      debitAccountId: account.id,
      creditAccountId: source.id,
      amount: 1n,
    });
    expect((await rejection(ledger.reverseEntry({ id: newId(), entryId: hold.entryId }))).code).toBe(
      'ENTRY_NOT_REVERSIBLE',
    );
    expect((await rejection(ledger.reverseEntry({ id: newId(), entryId: newId() }))).code).toBe(
      'ENTRY_NOT_FOUND',
    );
  });

  it('reverses an entry written earlier in the same group-commit batch', async () => {
    const { source, account } = await funded(10n);
    const paymentId = newId();
    // The first transfer occupies the writer, so the next two gather into one batch behind it.
    const results = await Promise.allSettled([
      ledger.transfer({ id: newId(), debitAccountId: source.id, creditAccountId: account.id, amount: 1n }),
      ledger.transfer({ id: paymentId, debitAccountId: source.id, creditAccountId: account.id, amount: 5n }),
      ledger.reverseEntry({ id: newId(), entryId: paymentId }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
    const [, payment, reversal] = results as PromiseFulfilledResult<{ seq: bigint }>[];
    expect(reversal!.value.seq).toBe(payment!.value.seq + 1n);
    expect((await ledger.getAccount(account.id)).balances.posted).toBe(11n);
  });

  it('a reversal that would overdraw the credited account is refused', async () => {
    const { source, account } = await funded(100n);
    const other = await wallet();
    const gift = await ledger.transfer({
      id: newId(),
      debitAccountId: account.id,
      creditAccountId: other.id,
      amount: 100n,
    });
    await ledger.transfer({ id: newId(), debitAccountId: other.id, creditAccountId: source.id, amount: 50n });
    expect((await rejection(ledger.reverseEntry({ id: newId(), entryId: gift.entryId }))).code).toBe(
      'INSUFFICIENT_FUNDS',
    );
  });
});

describe('history', () => {
  it('balances as of any instant, statements page by cursor with running balances', async () => {
    const { source, account } = await funded(0n);
    const times: Date[] = [];
    for (let i = 1; i <= 5; i++) {
      clock.advance(1000);
      await ledger.transfer({
        id: newId(),
        debitAccountId: source.id,
        creditAccountId: account.id,
        amount: BigInt(i * 100),
      });
      times.push(clock.now());
    }
    expect((await ledger.balanceAt(account.id, new Date(times[0]!.getTime() - 1))).posted).toBe(0n);
    expect((await ledger.balanceAt(account.id, times[1]!)).posted).toBe(300n);
    expect((await ledger.balanceAt(account.id, new Date(times[2]!.getTime() + 500))).posted).toBe(600n);
    expect((await ledger.balanceAt(account.id, times[4]!)).posted).toBe(1_500n);

    const first = await ledger.statement(account.id, { limit: 2 });
    expect(first.items.map((l) => l.balanceAfter)).toEqual([100n, 300n]);
    const second = await ledger.statement(account.id, { limit: 2, cursor: first.nextCursor! });
    expect(second.items.map((l) => l.amount)).toEqual([300n, 400n]);
    const third = await ledger.statement(account.id, { limit: 2, cursor: second.nextCursor! });
    expect(third.items.map((l) => l.balanceAfter)).toEqual([1_500n]);
    expect(third.nextCursor).toBeNull();
    expect((await rejection(ledger.statement(account.id, { cursor: 'garbage' }))).code).toBe(
      'VALIDATION_FAILED',
    );
  });

  it('the outbox delivers every entry in order and resumes from the acknowledged cursor', async () => {
    const consumer = `test-${newId()}`;
    const all = await ledger.pollEvents(consumer, 100_000);
    expect(all.length).toBeGreaterThan(10);
    expect(all.map((e) => e.seq)).toEqual(all.map((_, i) => BigInt(i + 1)));
    await ledger.acknowledgeEvents(consumer, all[4]!.seq);
    const rest = await ledger.pollEvents(consumer, 3);
    expect(rest.map((e) => e.seq)).toEqual([6n, 7n, 8n]);
    await ledger.acknowledgeEvents(consumer, 2n); // never moves back
    expect((await ledger.pollEvents(consumer, 1))[0]!.seq).toBe(6n);
  });

  it('verify passes on an honest journal and catches a tampered entry', async () => {
    const report = await ledger.verify();
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    expect(report.ok).toBe(true);
    await t.db.query(`UPDATE ledger_entries SET metadata = '{"tampered":true}' WHERE seq = 3`);
    const tampered = await ledger.verify();
    expect(tampered.ok).toBe(false);
    expect(tampered.checks.find((c) => c.name === 'hash_chain')).toMatchObject({ ok: false });
  });
});

describe('verify on a journal rewritten with its hash chain recomputed', () => {
  // Anyone who can write the tables can recompute the chain; what verify can still hold the
  // journal to is the writer's rules. Before, only the journal-wide zero sum looked at balance, so
  // two unbalanced entries that offset passed, and a leg whose amount was not a number made verify
  // throw (a stack from `millet ledger verify`, a 500 from GET /v1/ledger/verify).
  let u: TestDatabase;
  let own: Ledger;
  beforeAll(async () => {
    u = await openTestDatabase(ledgerMigrations);
    own = createLedger({ db: u.db, clock });
  });
  afterAll(async () => {
    await own.close();
    await u.close();
  });

  async function rehashChain() {
    const rows = await u.db.query<{
      seq: bigint;
      id: string;
      kind: string;
      posted_at: Date;
      hold_id: string | null;
      reverses_seq: bigint | null;
      legs: string;
      metadata: Record<string, unknown>;
    }>('SELECT * FROM ledger_entries ORDER BY seq');
    let previous = GENESIS_HASH;
    for (const row of rows.rows) {
      previous = entryHash(previous, {
        seq: row.seq,
        id: row.id,
        kind: row.kind,
        postedAtIso: row.posted_at.toISOString(),
        holdId: row.hold_id,
        reversesSeq: row.reverses_seq,
        legsText: row.legs,
        metadataJson: canonicalJson(row.metadata),
      });
      await u.db.query('UPDATE ledger_entries SET hash = $2 WHERE seq = $1', [row.seq, previous]);
    }
    await u.db.query('UPDATE ledger_head SET last_hash = $1', [previous]);
  }

  /** Rewrites the amount of the credit leg on `account` in entry `seq`, and every total after it. */
  async function rewriteCredit(seq: bigint, account: string, from: bigint, to: string) {
    await u.db.query('UPDATE ledger_entries SET legs = replace(legs, $2, $3) WHERE seq = $1', [
      seq,
      `CP ${account} CNY ${from}`,
      `CP ${account} CNY ${to}`,
    ]);
    if (!/^\d+$/.test(to)) return;
    const delta = BigInt(to) - from;
    await u.db.query('UPDATE ledger_accounts SET credits_posted = credits_posted + $2 WHERE id = $1', [
      account,
      delta,
    ]);
    await u.db.query(
      `UPDATE ledger_postings SET amount = amount + $3, credits_posted = credits_posted + $3
        WHERE account_id = $1 AND entry_seq = $2`,
      [account, seq, delta],
    );
  }

  it('finds two unbalanced entries that offset, and reports a malformed leg instead of throwing', async () => {
    const source = await own.openAccount({ currency: 'CNY', code: 'world', bound: { kind: 'unbounded' } });
    const a = await own.openAccount({
      currency: 'CNY',
      code: 'user_wallet',
      bound: { kind: 'no_overdraft' },
    });
    const b = await own.openAccount({
      currency: 'CNY',
      code: 'user_wallet',
      bound: { kind: 'no_overdraft' },
    });
    const first = await own.transfer({
      id: newId(),
      debitAccountId: source.id,
      creditAccountId: a.id,
      amount: 100n,
    });
    const second = await own.transfer({
      id: newId(),
      debitAccountId: source.id,
      creditAccountId: b.id,
      amount: 100n,
    });
    const hold = await own.placeHold({
      id: newId(),
      debitAccountId: a.id,
      creditAccountId: b.id,
      amount: 30n,
    });
    await own.postHold({ id: newId(), holdId: hold.holdId ?? hold.entryId, amount: 20n });
    expect((await own.verify()).checks.filter((c) => !c.ok)).toEqual([]);

    // 10 fen more to a, 10 fen less to b: every total, the postings and the journal's sum agree.
    await rewriteCredit(first.seq, a.id, 100n, '110');
    await rewriteCredit(second.seq, b.id, 100n, '90');
    await rehashChain();
    const offset = await own.verify();
    expect(offset.ok).toBe(false);
    expect(offset.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(['entries_balance']);
    const detail = offset.checks.find((c) => c.name === 'entries_balance')!.detail;
    expect(detail).toContain(`entry ${first.seq} (${first.entryId}) does not balance: CNY posted off by 10`);
    expect(detail).toContain(
      `entry ${second.seq} (${second.entryId}) does not balance: CNY posted off by -10`,
    );

    await rewriteCredit(second.seq, b.id, 90n, '9x0');
    await rehashChain();
    const malformed = await own.verify();
    expect(malformed.ok).toBe(false);
    expect(malformed.checks.find((c) => c.name === 'entries_balance')!.detail).toContain(
      `entry ${second.seq} (${second.entryId}) has a malformed leg "CP ${b.id} CNY 9x0"`,
    );
  });
});

// Round trips are what a batch waits on while it holds the ledger head, so they bound the
// ledger's throughput; PGlite has none, so this is PostgreSQL's test.
describe.skipIf(!onPostgres)('a ledger batch on PostgreSQL', () => {
  it('takes the head lock and makes its reads in one round trip: three in all with its writes and COMMIT', async () => {
    const world = await ledger.openAccount({ currency: 'CNY', code: 'world', bound: { kind: 'unbounded' } });
    const wallets = await Promise.all(
      Array.from({ length: 8 }, () =>
        ledger.openAccount({ currency: 'CNY', code: 'user_wallet', bound: { kind: 'no_overdraft' } }),
      ),
    );
    const send = (debitAccountId: string, creditAccountId: string, amount: bigint) =>
      ledger.transfer({ id: newId(), debitAccountId, creditAccountId, amount });
    await send(world.id, wallets[0]!.id, 1n); // the first batch of a ledger reads more (warm-up)

    const clientQuery = pg.Client.prototype.query;
    let roundTrips = 0;
    const batchesBefore = ledger.writerStats.batches;
    pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
      roundTrips += 1;
      return (clientQuery as (...a: unknown[]) => unknown).apply(this, args);
    } as typeof clientQuery;
    try {
      // One transfer alone, then eight submitted together (they gather into one batch or two).
      await send(world.id, wallets[0]!.id, 100n);
      await Promise.all(wallets.map((w) => send(world.id, w.id, 100n)));
    } finally {
      pg.Client.prototype.query = clientQuery;
    }
    const batches = ledger.writerStats.batches - batchesBefore;
    expect(batches).toBeGreaterThanOrEqual(2);
    // BEGIN with the head lock and every read; the writes; COMMIT.
    expect(roundTrips).toBe(3 * batches);
    for (const w of wallets) {
      const account = await ledger.getAccount(w.id);
      expect(account.balances.posted).toBe(w.id === wallets[0]!.id ? 201n : 100n);
    }
  });
});
