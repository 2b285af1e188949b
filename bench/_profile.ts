import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { newId, systemClock } from '../src/core/index.ts';
import {
  applyMigrations,
  openPGlite,
  openPostgres,
  dropPostgresSchema,
  type Database,
} from '../src/db/index.ts';
import { createLedger, ledgerMigrations } from '../src/ledger/index.ts';

const engine = process.argv[2] ?? 'pglite';
const times = new Map<string, number>();
function instrument(db: Database): Database {
  const wrapQ = (q: { query: Database['query'] }) => ({
    query: async (sql: string, params?: readonly unknown[]) => {
      const t0 = performance.now();
      try {
        return await q.query(sql, params);
      } finally {
        const key = sql.trim().slice(0, 40).replace(/\s+/g, ' ');
        times.set(key, (times.get(key) ?? 0) + performance.now() - t0);
      }
    },
  });
  return {
    ...db,
    query: wrapQ(db).query as Database['query'],
    transaction: (work, o) => db.transaction((tx) => work(wrapQ(tx) as never), o),
  };
}
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'prof-'));
const url = 'postgres://postgres@127.0.0.1:5432/test';
const raw =
  engine === 'pglite' ? await openPGlite(dir) : await openPostgres({ url, schema: 'prof_' + process.pid });
const db = instrument(raw);
await applyMigrations(db, ledgerMigrations);
const ledger = createLedger({ db, clock: systemClock });
const world = await ledger.openAccount({ currency: 'CNY', code: 'w', bound: { kind: 'unbounded' } });
console.time('accounts');
const wallets = await Promise.all(
  Array.from({ length: 10000 }, () =>
    ledger.openAccount({ currency: 'CNY', code: 'x', bound: { kind: 'no_overdraft' } }),
  ),
);
console.timeEnd('accounts');
console.time('fund');
await Promise.all(
  wallets.map((w) =>
    ledger.transfer({ id: newId(), debitAccountId: world.id, creditAccountId: w.id, amount: 10n ** 9n }),
  ),
);
console.timeEnd('fund');
times.clear();
const N = 40000;
const t0 = performance.now();
let done = 0;
await Promise.all(
  Array.from({ length: 8000 }, async () => {
    while (done < N) {
      done++;
      const i = Math.floor(Math.random() * 10000);
      await ledger.transfer({
        id: newId(),
        debitAccountId: wallets[i]!.id,
        creditAccountId: wallets[(i + 1) % 10000]!.id,
        amount: 1n,
      });
    }
  }),
);
const el = (performance.now() - t0) / 1000;
console.log('tps', Math.round(N / el), 'batches', ledger.writerStats);
console.log(
  [...times]
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${v.toFixed(0).padStart(7)}ms ${k}`)
    .join('\n'),
);
await ledger.close();
await raw.close();
if (engine !== 'pglite') await dropPostgresSchema(url, 'prof_' + process.pid);
