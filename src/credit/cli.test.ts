import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { businessDateOf } from '../core/index.ts';
import { addDays } from '../jobs/index.ts';
import { repoRoot } from './datasets.ts';

const run = promisify(execFile);

describe('millet credit eval', () => {
  it('prints exactly one JSON object on stdout', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'millet-credit-'));
    try {
      const lines = fs
        .readFileSync(path.join(repoRoot, 'data/credit/taiwan-credit-card-default.csv'), 'utf8')
        .split('\n');
      const sample = path.join(dir, 'sample.csv');
      fs.writeFileSync(sample, [lines[0], ...lines.slice(1, 401)].join('\n') + '\n');
      const { stdout } = await run(
        process.execPath,
        [path.join(repoRoot, 'bin/millet.js'), 'credit', 'eval', '--model', 'behaviour', '--data', sample],
        { cwd: dir },
      );
      const outputLines = stdout.trim().split('\n');
      expect(outputLines).toHaveLength(1);
      const result = JSON.parse(outputLines[0]!);
      expect(Object.keys(result)).toEqual(['model', 'n', 'auc', 'ks', 'gini']);
      expect(result.model).toBe('behaviour');
      expect(result.n).toBe(400);
      expect(result.auc).toBeGreaterThan(0.6);
      expect(result.gini).toBeCloseTo(2 * result.auc - 1, 3);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails with a message and no stdout on a file without the target', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'millet-credit-'));
    try {
      const bad = path.join(dir, 'bad.csv');
      fs.writeFileSync(bad, 'LIMIT_BAL\n1000\n');
      const failed = await run(
        process.execPath,
        [path.join(repoRoot, 'bin/millet.js'), 'credit', 'eval', '--model', 'behaviour', '--data', bad],
        { cwd: dir },
      ).catch((error: { stdout: string; stderr: string; code: number }) => error);
      expect('code' in failed && failed.code).toBe(1);
      expect(failed.stdout).toBe('');
      expect(failed.stderr).toMatch(/DEFAULT_NEXT_MONTH/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('millet credit refresh', () => {
  it('refuses a date PostgreSQL has no day for with a message, not a stack', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'millet-credit-'));
    try {
      // The embedded database, whatever the test run uses: the command seeds the one it opens.
      const env = { ...process.env, DATABASE_URL: '', REDIS_URL: '', MILLET_DEMO: '0' };
      const failed = await run(
        process.execPath,
        [path.join(repoRoot, 'bin/millet.js'), 'credit', 'refresh', '--date', '0000-01-01'],
        { cwd: dir, env },
      ).catch((error: { stdout: string; stderr: string; code: number }) => error);
      expect('code' in failed && failed.code).toBe(1);
      expect(failed.stdout).toBe('');
      // Refused as the option is read (isBusinessDate knows PostgreSQL has no year 0000), before
      // the database opens.
      expect(failed.stderr).toMatch(
        /option '--date <YYYY-MM-DD>' argument '0000-01-01' is invalid\. must be a calendar date as YYYY-MM-DD, from 0001-01-01/,
      );
      expect(failed.stderr).not.toMatch(/unexpected error|\n\s+at /);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('refuses a date after today, so a typo cannot hold back later refreshes', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'millet-credit-'));
    try {
      const env = { ...process.env, DATABASE_URL: '', REDIS_URL: '', MILLET_DEMO: '0' };
      // Two days ahead, not one: the command reads the clock a moment after the test does, and
      // Beijing midnight may fall in between.
      const future = addDays(businessDateOf(new Date()), 2);
      const failed = await run(
        process.execPath,
        [path.join(repoRoot, 'bin/millet.js'), 'credit', 'refresh', '--date', future],
        { cwd: dir, env },
      ).catch((error: { stdout: string; stderr: string; code: number }) => error);
      expect('code' in failed && failed.code).toBe(1);
      expect(failed.stdout).toBe('');
      expect(failed.stderr).toMatch(
        new RegExp(`--date ${future} is after today \\(\\d{4}-\\d{2}-\\d{2}, Asia/Shanghai\\)`),
      );
      expect(failed.stderr).not.toMatch(/unexpected error|\n\s+at /);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
