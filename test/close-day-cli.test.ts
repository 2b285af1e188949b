import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';
import { loadConfig } from '../src/core/index.ts';
import { rejection } from './support/rejection.ts';

const root = path.resolve(import.meta.dirname, '..');
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'millet-close-'));
afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

function millet(...args: string[]) {
  return milletWith({}, ...args);
}

function milletWith(env: NodeJS.ProcessEnv, ...args: string[]) {
  return spawnSync(process.execPath, ['bin/millet.js', ...args], {
    cwd: root,
    env: { ...process.env, DATABASE_URL: '', MILLET_DATA_DIR: dataDir, LOG_LEVEL: 'warn', ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A refusal as the CLI must print it: exit 1, one plain line on stderr, no stack trace. */
function expectPlainRefusal(result: ReturnType<typeof millet>, message: RegExp) {
  expect(result.status, result.stderr).toBe(1);
  expect(result.stderr).toMatch(message);
  expect(result.stderr).not.toMatch(/unexpected error|^\s+at /m);
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

describe('a close interrupted by a signal or a shutdown hands its run back', () => {
  // Before, Ctrl-C or a SIGTERM killed `millet close-day` (or the server, whose close left the
  // close running under a closed database) mid-close: its run stayed "running", and every close
  // of the date was refused until the lease ran out, 10 minutes later.
  it('millet close-day stops at a checkpoint on SIGINT, and the next close-day resumes at once', async () => {
    const child = spawn(process.execPath, ['bin/millet.js', 'close-day', '--days', '20'], {
      cwd: root,
      env: { ...process.env, DATABASE_URL: '', MILLET_DATA_DIR: dataDir, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    while (!stderr.includes('closing ') && child.exitCode === null) await sleep(20);
    child.kill('SIGINT');
    expect(await exited, stderr).toBe(1);
    expect(stderr).toMatch(/SIGINT, stopping the close/);
    expect(stderr).toMatch(/stopped: the process running it is shutting down/);
    expect(stderr).not.toMatch(/^\s+at /m);

    const resumed = millet('close-day', '--days', '1', '--json');
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(JSON.parse(resumed.stdout).runs[0].status).toBe('completed');
  }, 180_000);

  it('after a kill -9 mid-close, the next close-day on the embedded database resumes at once', async () => {
    // A hard kill cannot hand the run back. Before, the run stayed "running" and every close-day
    // was refused ("already running") for the 10 minutes of the lease, though the embedded
    // database is one process's and no process could be running it.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'millet-close-killed-'));
    try {
      const env = { ...process.env, DATABASE_URL: '', MILLET_DATA_DIR: dir, LOG_LEVEL: 'warn' };
      const child = spawn(process.execPath, ['bin/millet.js', 'close-day', '--days', '20'], {
        cwd: root,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const exited = new Promise<NodeJS.Signals | null>((resolve) =>
        child.on('exit', (_code, signal) => resolve(signal)),
      );
      while (!stderr.includes('closing ') && child.exitCode === null) await sleep(20);
      child.kill('SIGKILL');
      expect(await exited, stderr).toBe('SIGKILL');
      const interrupted = /closing (\d{4}-\d{2}-\d{2})/.exec(stderr)![1]!;

      const resumed = milletWith({ MILLET_DATA_DIR: dir }, 'close-day', '--days', '1', '--json');
      expect(resumed.status, resumed.stderr).toBe(0);
      const [run] = JSON.parse(resumed.stdout).runs as Array<{ businessDate: string; status: string }>;
      expect(run!.status).toBe('completed');
      // The date the killed close was on, or the next if it had completed that one.
      expect(run!.businessDate >= interrupted).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);

  it("the app's close (the server's SIGTERM) hands back the close it is running", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'millet-close-shutdown-'));
    const config = loadConfig({ MILLET_DATA_DIR: dir, LOG_LEVEL: 'warn', PORT: '0' });
    try {
      const app = await createApp(config);
      let started!: () => void;
      const closing = new Promise<void>((resolve) => (started = resolve));
      const days = app.endOfDay.closeDays(20, { onProgress: () => started() });
      const stopped = rejection(days);
      await closing;
      await app.close();
      expect((await stopped).code).toBe('CLOSE_INTERRUPTED');

      const again = await createApp(config);
      try {
        // The next date after the last closed one is the one interrupted.
        const [resumed] = await again.endOfDay.closeDays(1);
        expect(resumed!.status).toBe('completed');
      } finally {
        await again.close();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});

describe('millet refuses bad input and a bad environment in plain words, exit 1, no stack', () => {
  it('keeps --json output parseable on a first run, whose log (the migrations) goes to stderr', () => {
    const fresh = fs.mkdtempSync(path.join(os.tmpdir(), 'millet-close-fresh-'));
    try {
      const first = milletWith(
        { MILLET_DATA_DIR: fresh, LOG_LEVEL: 'info' },
        'close-day',
        '--days',
        '1',
        '--json',
      );
      expect(first.status, first.stderr).toBe(0);
      expect(JSON.parse(first.stdout).runs).toHaveLength(1);
      expect(first.stderr).toContain('applied migrations');
    } finally {
      fs.rmSync(fresh, { recursive: true, force: true });
    }
  }, 180_000);

  it('checks dates and options before it opens anything', () => {
    expectPlainRefusal(millet('close-day', '--date', '2025-02-30'), /calendar date/);
    expectPlainRefusal(millet('credit', 'refresh', '--date', '2025-13-01'), /calendar date/);
    // --days goes on from the last closed date: a --date beside it was silently ignored.
    expectPlainRefusal(millet('close-day', '--date', '2025-01-01', '--days', '2'), /cannot be used with/);
  }, 180_000);

  it('reads --days and --batch-size as plain digits and checks the range before the database opens', () => {
    // Number() read these as 1000, 16 and 5, and --days 99999 was refused only after the database
    // had been opened (and created, migrations and all, on a first run).
    const fresh = fs.mkdtempSync(path.join(os.tmpdir(), 'millet-close-untouched-'));
    try {
      for (const bad of ['1e3', '0x10', ' 5', '0', '-1', '1.5', '99999']) {
        expectPlainRefusal(
          milletWith({ MILLET_DATA_DIR: fresh }, 'close-day', '--days', bad),
          /--days.*must be a whole number from 1 to 3660, in plain digits/,
        );
      }
      expectPlainRefusal(
        milletWith({ MILLET_DATA_DIR: fresh }, 'credit', 'refresh', '--batch-size', '1e3'),
        /--batch-size.*must be a whole number ≥ 1, in plain digits/,
      );
      expect(fs.readdirSync(fresh)).toEqual([]);
    } finally {
      fs.rmSync(fresh, { recursive: true, force: true });
    }
  }, 180_000);

  it('says what is wrong with the environment: a bad setting, an unreachable database, an output folder', () => {
    expectPlainRefusal(milletWith({ PORT: 'abc' }, 'ledger', 'verify'), /PORT must be a port number/);
    expectPlainRefusal(milletWith({ PORT: 'abc' }, 'close-day'), /PORT must be a port number/);
    expectPlainRefusal(
      milletWith({ DATABASE_URL: 'postgres://millet@127.0.0.1:1/none' }, 'close-day'),
      /ECONNREFUSED.*DATABASE_URL/,
    );
    const notAFolder = path.join(dataDir, 'not-a-folder');
    fs.writeFileSync(notAFolder, '');
    expectPlainRefusal(
      milletWith({ MILLET_DATA_DIR: path.join(notAFolder, 'data') }, 'ledger', 'verify'),
      /ENOTDIR/,
    );
    // Refused at once, not after the minutes the report takes.
    expectPlainRefusal(
      millet('credit', 'report', '--out', path.join(notAFolder, 'report.html')),
      /not a writable folder/,
    );
    expectPlainRefusal(
      millet('credit', 'train', '--model', 'behaviour', '--out', path.join(dataDir, 'missing', 'model.json')),
      /not a writable folder/,
    );
  }, 180_000);
});
