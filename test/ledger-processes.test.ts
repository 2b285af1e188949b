import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId, systemClock } from '../src/core/index.ts';
import { applyMigrations, openPGlite } from '../src/db/index.ts';
import { createLedger, ledgerMigrations, type Ledger } from '../src/ledger/index.ts';
import { onPostgres, openTestDatabase, type TestDatabase } from './support/test-database.ts';
import { spawnLedgerWorker } from './support/spawn-worker.ts';

/** Opens `n` funded wallets plus a hot merchant account. */
async function fundedAccounts(ledger: Ledger, n: number) {
  const world = await ledger.openAccount({ currency: 'CNY', code: 'world', bound: { kind: 'unbounded' } });
  const hot = await ledger.openAccount({
    currency: 'CNY',
    code: 'merchant',
    bound: { kind: 'no_overdraft' },
  });
  const wallets = await Promise.all(
    Array.from({ length: n }, () =>
      ledger.openAccount({ currency: 'CNY', code: 'user_wallet', bound: { kind: 'no_overdraft' } }),
    ),
  );
  await Promise.all(
    wallets.map((w) =>
      ledger.transfer({ id: newId(), debitAccountId: world.id, creditAccountId: w.id, amount: 10_000_000n }),
    ),
  );
  return { wallets: wallets.map((w) => w.id), hot: hot.id };
}

describe.skipIf(!onPostgres)('several processes on one PostgreSQL', () => {
  let t: TestDatabase;
  let ledger: Ledger;
  beforeAll(async () => {
    t = await openTestDatabase(ledgerMigrations);
    ledger = createLedger({ db: t.db, clock: systemClock });
  });
  afterAll(async () => {
    await ledger.close();
    await t.close();
  });

  it('three writers posting at once, one hot account among them: final balances are exact', async () => {
    const { wallets, hot } = await fundedAccounts(ledger, 40);
    const before = new Map(
      await Promise.all(
        [...wallets, hot].map(async (id) => [id, (await ledger.getAccount(id)).balances.posted] as const),
      ),
    );
    const env = { DATABASE_URL: t.url, MILLET_DB_SCHEMA: t.schema };
    const workers = [
      spawnLedgerWorker({ accounts: wallets, count: 1500, inFlight: 200 }, env),
      spawnLedgerWorker({ accounts: wallets, count: 1500, inFlight: 200 }, env),
      spawnLedgerWorker({ accounts: wallets, hotAccount: hot, count: 1500, inFlight: 200 }, env),
    ];
    const codes = await Promise.all(workers.map((w) => w.exited));
    expect(codes, workers.map((w) => w.stderr()).join('\n')).toEqual([0, 0, 0]);
    const acks = workers.flatMap((w) => w.acks);
    expect(acks).toHaveLength(4500);

    const expected = new Map(before);
    for (const ack of acks) {
      expected.set(ack.debit, expected.get(ack.debit)! - ack.amount);
      expected.set(ack.credit, expected.get(ack.credit)! + ack.amount);
    }
    for (const [id, balance] of expected) expect((await ledger.getAccount(id)).balances.posted).toBe(balance);
    const report = await ledger.verify();
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
  });
});

describe('a writer killed with SIGKILL mid-stream', () => {
  it('keeps every acknowledged transfer, and the journal verifies after restart', async () => {
    // On PostgreSQL the worker shares the test schema; on PGlite it owns a data directory that the
    // test reopens afterwards (taking over the dead process's lock).
    const dataDir = onPostgres ? undefined : fs.mkdtempSync(path.join(os.tmpdir(), 'millet-crash-'));
    const t = onPostgres ? await openTestDatabase(ledgerMigrations) : undefined;
    let db = t?.db ?? (await openPGlite(dataDir));
    if (!t) await applyMigrations(db, ledgerMigrations);
    let ledger = createLedger({ db, clock: systemClock });
    const { wallets } = await fundedAccounts(ledger, 20);
    if (!t) {
      await ledger.close();
      await db.close();
    }

    const worker = spawnLedgerWorker(
      { accounts: wallets, inFlight: 100 },
      t
        ? { DATABASE_URL: t.url, MILLET_DB_SCHEMA: t.schema }
        : { DATABASE_URL: '', MILLET_DATA_DIR: dataDir },
    );
    const deadline = Date.now() + 30_000;
    while (worker.acks.length < 2000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    worker.child.kill('SIGKILL');
    expect(await worker.exited).toBe('SIGKILL');
    const acked = [...worker.acks];
    expect(acked.length, worker.stderr()).toBeGreaterThanOrEqual(2000);

    if (!t) {
      db = await openPGlite(dataDir);
      ledger = createLedger({ db, clock: systemClock });
    }
    try {
      const found = await db.query<{ n: bigint }>(
        'SELECT count(*)::int8 AS n FROM ledger_entries WHERE id = ANY($1::uuid[])',
        [acked.map((a) => a.entryId)],
      );
      expect(found.rows[0]!.n).toBe(BigInt(acked.length));
      await ledger.close();
      // The embedded directory admits one process: hand it to the CLI.
      if (!t) await db.close();
      const verify = spawnSync(process.execPath, ['bin/millet.js', 'ledger', 'verify', '--json'], {
        cwd: path.resolve(import.meta.dirname, '..'),
        env: {
          ...process.env,
          ...(t
            ? { DATABASE_URL: t.url, MILLET_DB_SCHEMA: t.schema }
            : { DATABASE_URL: '', MILLET_DATA_DIR: dataDir }),
        },
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(verify.status, verify.stderr).toBe(0);
      const report = JSON.parse(verify.stdout.trim().split('\n').at(-1)!) as { ok: boolean; entries: string };
      expect(report.ok).toBe(true);
      expect(BigInt(report.entries)).toBeGreaterThanOrEqual(BigInt(acked.length));
    } finally {
      await ledger.close();
      if (t) await t.close();
      else {
        await db.close();
        fs.rmSync(dataDir!, { recursive: true, force: true });
      }
    }
  });
});
