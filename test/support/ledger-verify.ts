import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect } from 'vitest';
import type { ApiHarness } from './api-harness.ts';
import { onPostgres } from './test-database.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * `millet ledger verify --json` on the harness's database (PostgreSQL); PGlite in memory can't be
 * shared with a child process, so there the same verification runs in-process.
 */
export async function expectLedgerVerifies(h: ApiHarness): Promise<void> {
  if (onPostgres) {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [path.join(root, 'bin/millet.js'), 'ledger', 'verify', '--json'],
      {
        cwd: root,
        env: {
          ...process.env,
          DATABASE_URL: h.t.url!,
          MILLET_DB_SCHEMA: h.t.schema!,
          MILLET_DEMO: '0',
          LOG_LEVEL: 'warn',
        },
      },
    );
    expect(JSON.parse(stdout)).toMatchObject({ ok: true });
  } else {
    const report = await h.ledger.verify();
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    expect(report.ok).toBe(true);
  }
}
