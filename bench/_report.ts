import fs from 'node:fs';
import os from 'node:os';
import pg from 'pg';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const resultsDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results');

/** Writes bench/results/NAME.json and prints it: pretty by default, one JSON line last with --json. */
export function report(name: string, results: Record<string, unknown>, args: readonly string[]): void {
  const full = {
    bench: name,
    at: new Date().toISOString(),
    machine: {
      cpus: os.cpus().length,
      cpu: os.cpus()[0]?.model,
      memory_gib: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
    },
    ...results,
  };
  fs.mkdirSync(resultsDir, { recursive: true });
  fs.writeFileSync(path.join(resultsDir, `${name}.json`), `${JSON.stringify(full, null, 2)}\n`);
  if (args.includes('--json')) console.log(JSON.stringify(full));
  else console.log(JSON.stringify(full, null, 2));
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export const round = (value: number, digits = 1): number => Math.round(value * 10 ** digits) / 10 ** digits;

/** `--name value` from the command line, or the fallback. */
export function option(args: readonly string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

/** The PostgreSQL settings a result depends on, read from the server at `url`. */
export async function postgresSettings(url: string): Promise<Record<string, string>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const server: Record<string, string> = {};
    for (const s of ['server_version', 'fsync', 'synchronous_commit', 'work_mem', 'shared_buffers'])
      server[s] = (await client.query<Record<string, string>>(`SHOW ${s}`)).rows[0]![s]!;
    return server;
  } finally {
    await client.end();
  }
}
