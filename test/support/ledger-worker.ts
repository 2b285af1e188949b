/**
 * A child process for the multi-process and crash tests: opens the configured database (DATABASE_URL
 * and MILLET_DB_SCHEMA, or MILLET_DATA_DIR for PGlite), then posts transfers among the given accounts
 * and prints `ack <entryId> <debit> <credit> <amount>` for each one only after the ledger acknowledged
 * it. Input comes as JSON in the WORKER_PLAN environment variable.
 */
import { newId, systemClock } from '../../src/core/index.ts';
import { openDatabase } from '../../src/db/index.ts';
import { createLedger } from '../../src/ledger/index.ts';

interface Plan {
  accounts: string[];
  /** Every transfer credits this account when set (the hot-account case). */
  hotAccount?: string;
  /** Stop after this many transfers; omit to run until killed. */
  count?: number;
  inFlight: number;
}

const plan = JSON.parse(process.env.WORKER_PLAN ?? '{}') as Plan;
const db = await openDatabase({
  databaseUrl: process.env.DATABASE_URL,
  dataDir: process.env.MILLET_DATA_DIR,
  schema: process.env.MILLET_DB_SCHEMA,
});
const ledger = createLedger({ db, clock: systemClock });
const pick = () => plan.accounts[Math.floor(Math.random() * plan.accounts.length)]!;

let started = 0;
const out: string[] = [];
const flush = () => {
  if (out.length > 0) process.stdout.write(out.splice(0).join(''));
};
const flusher = setInterval(flush, 20);

await Promise.all(
  Array.from({ length: plan.inFlight }, async () => {
    while (plan.count === undefined || started < plan.count) {
      started += 1;
      const debit = pick();
      let credit = plan.hotAccount ?? pick();
      while (credit === debit) credit = pick();
      const amount = BigInt(1 + Math.floor(Math.random() * 1000));
      const receipt = await ledger.transfer({
        id: newId(),
        debitAccountId: debit,
        creditAccountId: credit,
        amount,
      });
      out.push(`ack ${receipt.entryId} ${debit} ${credit} ${amount}\n`);
    }
  }),
);
clearInterval(flusher);
flush();
await ledger.close();
await db.close();
process.stdout.write('done\n');
