import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..');
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'millet-close-'));
afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

function millet(...args: string[]) {
  return spawnSync(process.execPath, ['bin/millet.js', ...args], {
    cwd: root,
    env: { ...process.env, DATABASE_URL: '', MILLET_DATA_DIR: dataDir, LOG_LEVEL: 'warn' },
    encoding: 'utf8',
    timeout: 60_000,
  });
}

describe('millet close-day on the embedded database', () => {
  it('fast-forwards day by day, reports each step, and closing a closed date again changes nothing', () => {
    const forward = millet('close-day', '--days', '2', '--json');
    expect(forward.status, forward.stderr).toBe(0);
    const { runs } = JSON.parse(forward.stdout) as {
      runs: Array<{ businessDate: string; status: string; steps: Array<{ step: string; status: string }> }>;
    };
    expect(runs).toHaveLength(2);
    expect(
      runs.every((r) => r.status === 'completed' && r.steps.every((s) => s.status === 'completed')),
    ).toBe(true);
    expect(runs[0]!.steps.map((s) => s.step)).toContain('ledger.expire-holds');
    expect(forward.stderr).toContain(`closing ${runs[0]!.businessDate}`);

    const again = millet('close-day', '--date', runs[0]!.businessDate, '--json');
    expect(again.status, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).runs[0].status).toBe('completed');

    const skipped = millet('close-day', '--date', '2999-01-01');
    expect(skipped.status).toBe(1);
    expect(skipped.stderr).toMatch(/close \d{4}-\d{2}-\d{2} before 2999-01-01|has not ended/);
  });
});
