import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface Ack {
  entryId: string;
  debit: string;
  credit: string;
  amount: bigint;
}

export interface Worker {
  child: ChildProcess;
  acks: Ack[];
  /** Resolves with the exit code (or the signal's name) when the process ends. */
  exited: Promise<number | string>;
  stderr: () => string;
}

/** Starts test/support/ledger-worker.ts through tsx with the given plan and environment. */
export function spawnLedgerWorker(plan: object, env: Record<string, string | undefined>): Worker {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(root, 'test/support/ledger-worker.ts')],
    {
      cwd: root,
      env: { ...process.env, ...env, WORKER_PLAN: JSON.stringify(plan) },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const acks: Ack[] = [];
  let pending = '';
  let errors = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) {
      const [word, entryId, debit, credit, amount] = line.split(' ');
      if (word === 'ack')
        acks.push({ entryId: entryId!, debit: debit!, credit: credit!, amount: BigInt(amount!) });
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => (errors += chunk.toString()));
  const exited = new Promise<number | string>((resolve) =>
    child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)),
  );
  return { child, acks, exited, stderr: () => errors };
}
