import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/db/index.ts';

/**
 * The embedded default end to end, through the real binary: first start, a second process refused
 * by the lock, a clean SIGTERM, and `millet ledger verify` before and after tampering.
 */
const root = path.resolve(import.meta.dirname, '..');
let dataDir: string;

interface Started {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

function millet(args: string[]): Started {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    MILLET_DATA_DIR: dataDir,
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
  };
  delete env.DATABASE_URL; // this is about the embedded default, even when the suite runs on PostgreSQL
  delete env.MILLET_DB_SCHEMA;
  const child = spawn(process.execPath, [path.join(root, 'bin/millet.js'), ...args], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

async function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = millet(args);
  const code = await p.exited;
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

async function waitUntilReady(server: Started, deadlineMs: number): Promise<string> {
  const started = Date.now();
  while (Date.now() - started < deadlineMs) {
    const url = /listening on (http:\/\/\S+?) /.exec(server.stdout())?.[1];
    if (url) {
      const ready = await fetch(`${url}/health/ready`).catch(() => undefined);
      if (ready?.status === 200) return url;
    }
    if (server.child.exitCode !== null) throw new Error(`server exited: ${server.stderr()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`not ready within ${deadlineMs} ms: ${server.stdout()} ${server.stderr()}`);
}

beforeAll(() => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'millet-cli-'));
});
afterAll(() => {
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('millet CLI on the embedded database', () => {
  let server: Started;
  let url: string;

  afterAll(() => {
    if (server?.child.exitCode === null) server.child.kill('SIGKILL');
  });

  it('starts, answers /health/ready within 30 s, and hands out the bootstrap key once', async () => {
    const t0 = Date.now();
    server = millet(['start']);
    url = await waitUntilReady(server, 30_000);
    expect(Date.now() - t0).toBeLessThan(30_000);

    const keyFile = path.join(dataDir, 'bootstrap-operator-key');
    const key = fs.readFileSync(keyFile, 'utf8').trim();
    expect(key).toMatch(/^mlt_op_/);
    expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(server.stdout()).toContain(key);

    const accounts = await fetch(`${url}/v1/ledger/accounts`, {
      headers: { authorization: `Bearer ${key}` },
    });
    expect(accounts.status).toBe(200);
    const demo = (await accounts.json()) as { items: Array<{ code: string }> };
    // The demo ledger, and the wallet's bank clearing and withdrawal shortfall accounts, the
    // merchants' platform fee account and the store's merchant and deposit accounts that every
    // start makes sure of.
    expect(demo.items.map((a) => a.code).sort()).toEqual([
      'bank_clearing',
      'fee_income',
      'fee_income',
      'merchant_payable',
      'store_deposits',
      'user_wallet',
      'user_wallet',
      'withdrawal_shortfall',
      'world',
    ]);
  }, 60_000);

  it('refuses a second process on the same data directory with a clear message', async () => {
    const second = await run(['start']);
    expect(second.code).not.toBe(0);
    expect(second.stderr).toMatch(/in use/);
    expect(second.stderr).not.toMatch(/^\s+at /m); // no stack trace for an expected condition
    expect((await fetch(`${url}/health/ready`)).status).toBe(200);
  }, 60_000);

  it('closes cleanly on SIGTERM: exit 0 and the lock released', async () => {
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    expect(fs.existsSync(path.join(dataDir, 'millet.lock'))).toBe(false);
  }, 60_000);

  it('verifies the ledger it left behind', async () => {
    const report = await run(['ledger', 'verify']);
    expect(report.code, report.stderr).toBe(0);
    expect(report.stdout).toMatch(/consistent/);
    expect(report.stderr).toMatch(/verifying: \d+\/\d+ entries/);
    const json = await run(['ledger', 'verify', '--json']);
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout.trim().split('\n').at(-1)!) as {
      ok: boolean;
      checks: Array<{ name: string; ok: boolean }>;
    };
    expect(parsed.ok).toBe(true);
    expect(parsed.checks.length).toBeGreaterThanOrEqual(4);
  }, 60_000);

  it('starts again on the same directory without a new bootstrap key', async () => {
    const again = millet(['start']);
    await waitUntilReady(again, 30_000);
    expect(again.stdout()).not.toMatch(/mlt_op_/);
    again.child.kill('SIGINT');
    expect(await again.exited).toBe(0);
  }, 60_000);

  it('fails verification after a journal row is tampered with', async () => {
    const db = await openDatabase({ dataDir });
    try {
      await db.query(`UPDATE ledger_entries SET metadata = '{"memo":"tampered"}' WHERE seq = 1`);
    } finally {
      await db.close();
    }
    const report = await run(['ledger', 'verify']);
    expect(report.code).not.toBe(0);
    expect(report.stdout).toMatch(/FAIL\s+hash_chain/);
    const json = await run(['ledger', 'verify', '--json']);
    expect(json.code).not.toBe(0);
    const parsed = JSON.parse(json.stdout.trim()) as {
      ok: boolean;
      checks: Array<{ name: string; ok: boolean }>;
    };
    expect(parsed.ok).toBe(false);
    expect(parsed.checks.find((c) => c.name === 'hash_chain')?.ok).toBe(false);
  }, 60_000);
});
