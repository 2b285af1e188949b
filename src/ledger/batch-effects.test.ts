import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock, MilletError, newId } from '../core/index.ts';
import type { Queryable } from '../db/index.ts';
import { openTestDatabase, type TestDatabase } from '../../test/support/test-database.ts';
import { rejection } from '../../test/support/rejection.ts';
import {
  BatchDeferred,
  batchEffect,
  createLedger,
  ledgerMigrations,
  type BatchHook,
  type EffectOutcome,
  type Ledger,
} from './index.ts';

let t: TestDatabase;
let ledger: Ledger;
const clock = new ManualClock('2025-06-01T00:00:00Z');

beforeAll(async () => {
  t = await openTestDatabase(ledgerMigrations);
  await t.db.exec('CREATE TABLE effect_log (id uuid PRIMARY KEY, outcome text NOT NULL)');
  ledger = createLedger({ db: t.db, clock });
});
afterAll(async () => {
  await ledger.close();
  await t.close();
});

interface Item {
  id: string;
  act: 'pass' | 'refuse' | 'defer' | 'poison';
}

function describeOutcome(o: EffectOutcome): string {
  if (o.ok) return 'ok';
  return `${o.byLedger ? 'ledger' : 'effect'}:${o.error.code}`;
}

/** Records every settled outcome in effect_log; a poisoned item makes the write fail. */
function loggingHook(
  name: string,
): BatchHook<Item, { rows: Array<{ id: string; outcome: string }>; poisoned: boolean }> {
  return {
    name,
    async load(tx: Queryable, items) {
      // Proves load runs in the batch's transaction: it sees the head row the batch locked.
      await tx.query('SELECT last_seq FROM ledger_head WHERE id = 1');
      return { rows: [], poisoned: items.some((i) => i.act === 'poison') };
    },
    admit(state, item) {
      if (item.act === 'refuse')
        throw new MilletError('PAYMENT_LIMIT_EXCEEDED', `${name} refuses ${item.id}`);
      if (item.act === 'defer') return 'defer';
      return { settle: (outcome) => state.rows.push({ id: item.id, outcome: describeOutcome(outcome) }) };
    },
    async write(tx, state) {
      if (state.poisoned) throw new Error('the effect could not be written');
      if (state.rows.length === 0) return;
      await tx.query('INSERT INTO effect_log (id, outcome) SELECT * FROM unnest($1::uuid[], $2::text[])', [
        state.rows.map((r) => r.id),
        state.rows.map((r) => r.outcome),
      ]);
    },
  };
}

async function logged(id: string): Promise<string | undefined> {
  const result = await t.db.query<{ outcome: string }>('SELECT outcome FROM effect_log WHERE id = $1', [id]);
  return result.rows[0]?.outcome;
}

async function entryExists(id: string): Promise<boolean> {
  const result = await t.db.query(
    'SELECT 1 FROM ledger_entries WHERE id = $1 UNION ALL SELECT 1 FROM ledger_failed_entries WHERE id = $1',
    [id],
  );
  return result.rows.length > 0;
}

async function accounts(funds: bigint) {
  const world = await ledger.openAccount({ currency: 'CNY', code: 'world', bound: { kind: 'unbounded' } });
  const wallet = await ledger.openAccount({ currency: 'CNY', code: 'w', bound: { kind: 'no_overdraft' } });
  const shop = await ledger.openAccount({ currency: 'CNY', code: 'shop', bound: { kind: 'no_overdraft' } });
  await ledger.transfer({ id: newId(), debitAccountId: world.id, creditAccountId: wallet.id, amount: funds });
  return { world, wallet, shop };
}

describe('batch effects', () => {
  it('commits each command with its effects in one batch: refused, deferred and ledger-refused ones alone', async () => {
    const { world, wallet, shop } = await accounts(1_000n);
    const hook = loggingHook('log');
    const pay = (act: Item['act'], amount: bigint) => {
      const id = newId();
      const promise = ledger.transfer(
        { id, debitAccountId: wallet.id, creditAccountId: shop.id, amount },
        { effects: [batchEffect(hook, { id, act })] },
      );
      return {
        id,
        settled: promise.then(
          (receipt) => ({ ok: true as const, receipt }),
          (error: unknown) => ({ ok: false as const, error }),
        ),
      };
    };
    // Queued in one tick: the writer takes them in one batch (two if the opener went alone).
    const before = ledger.writerStats.batches;
    const opener = ledger.transfer({
      id: newId(),
      debitAccountId: world.id,
      creditAccountId: shop.id,
      amount: 1n,
    });
    const passed = pay('pass', 300n);
    const refused = pay('refuse', 300n);
    const deferred = pay('defer', 300n);
    // 300 + 800 > 1,000: the ledger refuses this one, and the effect is told so.
    const overdrawn = pay('pass', 800n);
    const passedToo = pay('pass', 700n);
    await opener;
    const results = await Promise.all(
      [passed, refused, deferred, overdrawn, passedToo].map((p) => p.settled),
    );
    expect(ledger.writerStats.batches - before).toBeLessThanOrEqual(2);

    expect(results[0]!.ok).toBe(true);
    expect(await logged(passed.id)).toBe('ok');

    expect(results[1]).toMatchObject({ ok: false, error: { code: 'PAYMENT_LIMIT_EXCEEDED' } });
    expect(await logged(refused.id)).toBeUndefined();
    // Refused by an effect, not by the ledger: the id is not burned, so it can be used again.
    expect(await entryExists(refused.id)).toBe(false);

    expect(results[2]).toMatchObject({ ok: false });
    expect((results[2] as { error: unknown }).error).toBeInstanceOf(BatchDeferred);
    expect(await logged(deferred.id)).toBeUndefined();
    expect(await entryExists(deferred.id)).toBe(false);

    expect(results[3]).toMatchObject({ ok: false, error: { code: 'INSUFFICIENT_FUNDS' } });
    expect(await logged(overdrawn.id)).toBe('ledger:INSUFFICIENT_FUNDS');

    expect(results[4]!.ok).toBe(true);
    expect(await logged(passedToo.id)).toBe('ok');
    expect((await ledger.getAccount(wallet.id)).balances.posted).toBe(0n);
  });

  it('tells earlier effects of a command that a later one refused it', async () => {
    const { wallet, shop } = await accounts(100n);
    const first = loggingHook('first');
    const second = loggingHook('second');
    const id = newId();
    const error = await rejection(
      ledger.transfer(
        { id, debitAccountId: wallet.id, creditAccountId: shop.id, amount: 10n },
        { effects: [batchEffect(first, { id, act: 'pass' }), batchEffect(second, { id, act: 'refuse' })] },
      ),
    );
    expect(error.code).toBe('PAYMENT_LIMIT_EXCEEDED');
    expect(await logged(id)).toBe('effect:PAYMENT_LIMIT_EXCEEDED');
    expect(await entryExists(id)).toBe(false);
  });

  it('rolls back the ledger entries with an effect that fails to write, and isolates the fault', async () => {
    const { world, wallet, shop } = await accounts(1_000n);
    const hook = loggingHook('log');
    const ids = [newId(), newId(), newId(), newId()];
    const opener = ledger.transfer({
      id: newId(),
      debitAccountId: world.id,
      creditAccountId: shop.id,
      amount: 1n,
    });
    const settled = ids.map((id, i) =>
      ledger
        .transfer(
          { id, debitAccountId: wallet.id, creditAccountId: shop.id, amount: 10n },
          { effects: [batchEffect(hook, { id, act: i === 2 ? 'poison' : 'pass' })] },
        )
        .then(
          () => 'ok',
          (e: unknown) => (e instanceof Error ? e.message : String(e)),
        ),
    );
    await opener;
    expect(await Promise.all(settled)).toEqual(['ok', 'ok', 'the effect could not be written', 'ok']);
    for (const [i, id] of ids.entries()) {
      // Never a ledger entry without its record, nor a record without its entry.
      expect(await entryExists(id)).toBe(i !== 2);
      expect(await logged(id)).toBe(i === 2 ? undefined : 'ok');
    }
    expect((await ledger.getAccount(wallet.id)).balances.posted).toBe(970n);
    expect((await ledger.verify()).ok).toBe(true);
  });
});
