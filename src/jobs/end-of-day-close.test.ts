import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../core/index.ts';
import { openTestDatabase, type TestDatabase } from '../../test/support/test-database.ts';
import { addDays, endOfBusinessDate, isBusinessDate } from './business-dates.ts';
import { createEndOfDayClose, type CloseProgress, type CloseStep } from './end-of-day-close.ts';
import { jobsMigrations } from './index.ts';
import { rejection } from '../../test/support/rejection.ts';

let t: TestDatabase;
beforeAll(async () => {
  t = await openTestDatabase(jobsMigrations);
});
afterAll(async () => {
  await t.close();
});

/** A chunked step over `items` that records what it processed and can be told to crash once. */
function chunkedStep(
  name: string,
  items: number,
  log: string[],
  crashAt?: { index: number; armed: boolean },
): CloseStep {
  return {
    name,
    async run(ctx) {
      let next = ctx.cursor === null ? 0 : Number(ctx.cursor);
      while (next < items) {
        if (crashAt?.armed && next === crashAt.index) {
          crashAt.armed = false;
          throw new Error(`${name} crashed at ${next}`);
        }
        log.push(`${ctx.businessDate}:${name}:${next}`);
        next += 1;
        await ctx.checkpoint(String(next), { done: next, total: items });
      }
    },
  };
}

describe('business dates', () => {
  it('do calendar arithmetic and end at midnight Shanghai time', () => {
    expect(addDays('2024-02-28', 1)).toBe('2024-02-29');
    expect(addDays('2024-12-31', 1)).toBe('2025-01-01');
    expect(endOfBusinessDate('2025-03-31').toISOString()).toBe('2025-03-31T15:59:59.999Z');
    expect(isBusinessDate('2025-02-30')).toBe(false);
  });

  it('are exactly the days the database can store', async () => {
    // Before, year 0000 passed (JavaScript has one, PostgreSQL does not) and each caller storing a
    // date (the credit refresh, the marketplace funnel) had to refuse it itself.
    const candidates = [
      '0000-01-01',
      '0000-02-29',
      '0000-12-31',
      '0001-01-01',
      '0004-02-29',
      '0100-02-29',
      '0400-02-29',
      '1582-10-10',
      '1900-02-29',
      '2000-02-29',
      '2025-02-29',
      '2025-04-31',
      '9999-12-31',
    ];
    for (const text of candidates) {
      const stored = await t.db
        .query<{ d: string }>('SELECT $1::date::text AS d', [text])
        .then((r) => r.rows[0]!.d === text)
        .catch(() => false);
      expect(isBusinessDate(text), text).toBe(stored);
    }
    expect(isBusinessDate('0000-01-01')).toBe(false);
    expect(isBusinessDate('0001-01-01')).toBe(true);
  });
});

describe('the end-of-day close', () => {
  it('runs one close at a time, also before any date has closed', async () => {
    // A new installation: no date has closed, so the order check lets any date through, and two
    // dates asked for at once would run side by side, the later one possibly finishing first.
    const fresh = await openTestDatabase(jobsMigrations);
    try {
      const clock = new ManualClock('2025-05-02T02:00:00Z');
      let entered!: () => void;
      const inStep = new Promise<void>((resolve) => (entered = resolve));
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const close = createEndOfDayClose({
        db: fresh.db,
        clock,
        steps: [
          {
            name: 'slow',
            async run() {
              entered();
              await gate;
            },
          },
        ],
      });
      const first = close.close('2025-05-01');
      await inStep;
      const second = await rejection(close.close('2025-04-30'));
      expect(second.code).toBe('IDEMPOTENCY_KEY_IN_PROGRESS');
      expect(second.details).toMatchObject({ running: '2025-05-01' });
      release();
      expect((await first).status).toBe('completed');
      // Once it has finished, dates go on in order.
      expect((await rejection(close.close('2025-04-30'))).code).toBe('VALIDATION_FAILED');
    } finally {
      await fresh.close();
    }
  });

  it('refuses a first close far from today, which would fix where closing starts for good', async () => {
    // Before, a new installation's first close of 1925-05-01 (a typo) completed, and from then on
    // only 1925-05-02 could close: today's business could not close without ~36,500 closes first.
    const fresh = await openTestDatabase(jobsMigrations);
    try {
      const clock = new ManualClock('2025-05-02T02:00:00Z');
      const close = createEndOfDayClose({ db: fresh.db, clock, steps: [] });
      const typo = await rejection(close.close('1925-05-01'));
      expect(typo.code).toBe('VALIDATION_FAILED');
      expect(typo.message).toContain('first close');
      const farAhead = await rejection(close.close('2999-01-01', { fastForward: true }));
      expect(farAhead.code).toBe('VALIDATION_FAILED');
      expect(await close.lastClosedDate()).toBeNull();
      // A recent date (the installation went live some weeks ago) is fine.
      expect((await close.close('2025-03-01')).status).toBe('completed');
    } finally {
      await fresh.close();
    }
  });

  it('runs its steps in order, once per date, and resumes a failed step from its checkpoint', async () => {
    const clock = new ManualClock('2025-05-02T02:00:00Z'); // 10:00 on 2 May in Shanghai
    const log: string[] = [];
    const crash = { index: 2, armed: true };
    const progress: CloseProgress[] = [];
    const close = createEndOfDayClose({
      db: t.db,
      clock,
      steps: [chunkedStep('accrual', 2, log), chunkedStep('statements', 4, log, crash)],
    });

    const failure = await rejection(close.close(undefined, { onProgress: (p) => progress.push(p) }));
    expect(String(failure)).toContain('statements crashed at 2');
    expect(await close.getRun('2025-05-01')).toMatchObject({
      status: 'failed',
      steps: [
        { step: 'accrual', status: 'completed', done: 2n },
        { step: 'statements', status: 'failed', done: 2n, total: 4n },
      ],
    });

    const done = await close.close('2025-05-01');
    expect(done.status).toBe('completed');
    // Nothing ran twice: accrual was done, statements went on from item 2.
    expect(log).toEqual([
      '2025-05-01:accrual:0',
      '2025-05-01:accrual:1',
      '2025-05-01:statements:0',
      '2025-05-01:statements:1',
      '2025-05-01:statements:2',
      '2025-05-01:statements:3',
    ]);
    expect(progress.map((p) => `${p.step}:${p.done}/${p.total}`)).toContain('statements:2/4');

    await close.close('2025-05-01'); // already closed: nothing happens
    expect(log).toHaveLength(6);
  });

  it('closes dates in order, refuses dates not yet over, and fast-forwards', async () => {
    const clock = new ManualClock('2025-05-02T17:00:00Z'); // 01:00 on 3 May in Shanghai
    const log: string[] = [];
    const close = createEndOfDayClose({
      db: t.db,
      clock,
      steps: [chunkedStep('accrual', 1, log), chunkedStep('statements', 1, log)],
    });
    expect(await close.lastClosedDate()).toBe('2025-05-01');
    expect((await rejection(close.close('2025-05-04'))).code).toBe('VALIDATION_FAILED');
    expect((await rejection(close.close('2025-05-03', { fastForward: false }))).message).toContain(
      'has not ended',
    );
    // 23:59:59.999 on 3 May in Shanghai is still 3 May.
    clock.set('2025-05-03T15:59:59.999Z');
    expect((await rejection(close.close('2025-05-03', { fastForward: false }))).message).toContain(
      'has not ended',
    );
    clock.set('2025-05-02T17:00:00Z');
    await close.close('2025-05-02');
    const runs = await close.closeDays(3);
    expect(runs.map((r) => r.businessDate)).toEqual(['2025-05-03', '2025-05-04', '2025-05-05']);
    expect(await close.lastClosedDate()).toBe('2025-05-05');
    expect(log.filter((l) => l.endsWith(':accrual:0'))).toHaveLength(4);
  });

  it('will not run one date twice at once, but takes over an abandoned run after its lease', async () => {
    const clock = new ManualClock('2025-05-07T02:00:00Z');
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow: CloseStep = {
      name: 'slow',
      async run(ctx) {
        await ctx.checkpoint(null, { done: 0 });
        await gate;
      },
    };
    const close = createEndOfDayClose({ db: t.db, clock, steps: [slow], leaseMs: 60_000 });
    const first = close.close('2025-05-06');
    // Wait until the first close has claimed the date (its step has checkpointed), however slow CI is.
    while ((await close.getRun('2025-05-06').catch(() => undefined))?.steps[0]?.status !== 'running') {
      await new Promise((r) => setTimeout(r, 5));
    }
    expect((await rejection(close.close('2025-05-06'))).code).toBe('IDEMPOTENCY_KEY_IN_PROGRESS');
    release();
    expect((await first).status).toBe('completed');

    // A process that died mid-close leaves its run "running"; after the lease another takes it over.
    await t.db.query(
      `INSERT INTO jobs_close_runs (business_date, status, started_at, heartbeat_at) VALUES ('2025-05-07', 'running', $1, $1)`,
      [clock.now()],
    );
    clock.set('2025-05-08T02:00:00Z');
    expect((await close.close('2025-05-07')).status).toBe('completed');
  });

  it('as the sole runner of its database, resumes at once a run a dead process left running', async () => {
    // The embedded database is one process's (its directory lock). Before, after a kill -9 (or a
    // second Ctrl-C) mid-close, `millet close-day` answered "already running" for the 10 minutes
    // of the lease, though no process could be running it.
    const fresh = await openTestDatabase(jobsMigrations);
    try {
      const clock = new ManualClock('2025-05-02T02:00:00Z');
      const log: string[] = [];
      // What the dead process left: the run "running" under its owner, a fresh heartbeat, and
      // its step's checkpoint after item 2 of 4.
      await fresh.db.query(
        `INSERT INTO jobs_close_runs (business_date, status, started_at, heartbeat_at, owner)
         VALUES ('2025-05-01', 'running', $1, $1, 'a-process-that-died')`,
        [clock.now()],
      );
      await fresh.db.query(
        `INSERT INTO jobs_close_steps (business_date, step, position, status, cursor, done, total)
         VALUES ('2025-05-01', 'statements', 0, 'running', '2', 2, 4)`,
      );
      let entered!: () => void;
      const inGate = new Promise<void>((resolve) => (entered = resolve));
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const gated: CloseStep = {
        name: 'gated',
        async run() {
          entered();
          await gate;
        },
      };
      const close = createEndOfDayClose({
        db: fresh.db,
        clock,
        steps: [chunkedStep('statements', 4, log), gated],
        soleRunner: true,
      });
      const resumed = close.close('2025-05-01');
      await Promise.race([inGate, resumed]);
      expect(log).toEqual(['2025-05-01:statements:2', '2025-05-01:statements:3']);
      // A close this runner is running is live all the same: the same date, or another.
      expect((await rejection(close.close('2025-05-01'))).code).toBe('IDEMPOTENCY_KEY_IN_PROGRESS');
      const other = await rejection(close.close('2025-05-02', { fastForward: true }));
      expect(other.code).toBe('IDEMPOTENCY_KEY_IN_PROGRESS');
      expect(other.details).toMatchObject({ running: '2025-05-01' });
      release();
      expect((await resumed).status).toBe('completed');

      // Without the option (PostgreSQL, where other processes may hold runs) the lease is waited out.
      await fresh.db.query(
        `INSERT INTO jobs_close_runs (business_date, status, started_at, heartbeat_at, owner)
         VALUES ('2025-05-02', 'running', $1, $1, 'another-process')`,
        [clock.now()],
      );
      const shared = createEndOfDayClose({ db: fresh.db, clock, steps: [] });
      expect((await rejection(shared.close('2025-05-02', { fastForward: true }))).code).toBe(
        'IDEMPOTENCY_KEY_IN_PROGRESS',
      );
    } finally {
      await fresh.close();
    }
  });

  it('leaves a run it lost to another close alone: no failure recorded under it, no cursor moved', async () => {
    // A close whose step ran past its lease without a checkpoint is taken over while it still
    // runs. Before, when its step then failed it marked the run failed under the new owner, so a
    // third close took the date and ran beside the second; one that went on moved the cursor.
    const clock = new ManualClock('2025-05-09T02:00:00Z');
    const calls: string[] = [];
    const gates = new Map<
      string,
      { entered: Promise<void>; enter: () => void; release: () => void; gate: Promise<void> }
    >();
    for (const name of ['first', 'second']) {
      let enter!: () => void;
      let release!: () => void;
      const entered = new Promise<void>((r) => (enter = r));
      const gate = new Promise<void>((r) => (release = r));
      gates.set(name, { entered, enter, release, gate });
    }
    const who = ['first', 'second', 'third'];
    const slow: CloseStep = {
      name: 'slow',
      async run(ctx) {
        const me = who[calls.length]!;
        calls.push(me);
        const g = gates.get(me);
        if (g) {
          g.enter();
          await g.gate;
        }
        if (me === 'first') throw new Error('the first close failed late');
        await ctx.checkpoint(me, { done: 1 });
      },
    };
    const close = createEndOfDayClose({ db: t.db, clock, steps: [slow], leaseMs: 60_000 });
    const first = close.close('2025-05-08');
    await gates.get('first')!.entered;
    clock.set('2025-05-09T02:05:00Z'); // the first close's lease has run out
    const second = close.close('2025-05-08');
    await gates.get('second')!.entered;
    gates.get('first')!.release();
    expect(String(await rejection(first))).toContain('the first close failed late');
    expect((await close.getRun('2025-05-08')).status).toBe('running');
    expect((await rejection(close.close('2025-05-08'))).code).toBe('IDEMPOTENCY_KEY_IN_PROGRESS');
    gates.get('second')!.release();
    expect((await second).status).toBe('completed');
    expect(calls).toEqual(['first', 'second']);
  });

  it('stops a close that lost its run at its next checkpoint', async () => {
    const clock = new ManualClock('2025-05-10T02:00:00Z');
    const { step, inStep, release } = firstRunWaits('chunks');
    const close = createEndOfDayClose({ db: t.db, clock, steps: [step], leaseMs: 60_000 });
    const stale = close.close('2025-05-09');
    await inStep;
    clock.set('2025-05-10T02:05:00Z');
    expect((await close.close('2025-05-09')).status).toBe('completed');
    release();
    expect((await rejection(stale)).message).toContain('taken over');
    expect(await cursorOf('2025-05-09')).toBe('by-2');
    expect((await close.getRun('2025-05-09')).status).toBe('completed');
  });

  it('keeps renewing the lease of a step that runs past it without a checkpoint, and stops after', async () => {
    // Before, the heartbeat moved only at checkpoints: a live step longer than the lease was taken
    // over by a second close, and both ran the step until the first one's next write.
    const clock = new ManualClock('2025-05-11T02:00:00Z');
    let entered!: () => void;
    const inStep = new Promise<void>((r) => (entered = r));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let calls = 0;
    const slow: CloseStep = {
      name: 'slow',
      async run() {
        calls += 1;
        entered();
        await gate;
      },
    };
    const close = createEndOfDayClose({ db: t.db, clock, steps: [slow], leaseMs: 60_000, heartbeatMs: 5 });
    const first = close.close('2025-05-10');
    await inStep;
    clock.set('2025-05-11T02:05:00Z'); // five leases later, still inside the step
    expect(await heartbeatReaches('2025-05-10', clock.now())).toBe(true);
    expect((await rejection(close.close('2025-05-10'))).code).toBe('IDEMPOTENCY_KEY_IN_PROGRESS');
    release();
    expect((await first).status).toBe('completed');
    expect(calls).toBe(1);
    // The heartbeat stopped with the close.
    const finished = await heartbeatOf('2025-05-10');
    clock.set('2025-05-11T03:00:00Z');
    await sleep(50);
    expect(await heartbeatOf('2025-05-10')).toEqual(finished);
  });

  it('never renews the lease of a run another close took over', async () => {
    const clock = new ManualClock('2025-05-12T02:00:00Z');
    let entered!: () => void;
    const inStep = new Promise<void>((r) => (entered = r));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow: CloseStep = {
      name: 'slow',
      async run(ctx) {
        if (ctx.cursor === null) {
          entered();
          await gate;
        }
        await ctx.checkpoint('done', { done: 1 });
      },
    };
    const close = createEndOfDayClose({ db: t.db, clock, steps: [slow], leaseMs: 60_000, heartbeatMs: 5 });
    const first = close.close('2025-05-11');
    await inStep;
    // Another process took the run over (its claim wrote its own owner and heartbeat).
    await t.db.query(`UPDATE jobs_close_runs SET owner = 'another-close' WHERE business_date = '2025-05-11'`);
    const theirs = await heartbeatOf('2025-05-11');
    clock.set('2025-05-12T02:05:00Z');
    await sleep(50);
    expect(await heartbeatOf('2025-05-11')).toEqual(theirs);
    release();
    expect((await rejection(first)).message).toContain('taken over');
    expect((await close.getRun('2025-05-11')).status).toBe('running');
    clock.set('2025-05-12T03:00:00Z'); // the other close's lease ran out: the date can close
    expect((await close.close('2025-05-11')).status).toBe('completed');
  });

  it('hands its run back on shutdown, so the next close resumes at once from the checkpoint', async () => {
    // Before, a close stopped by Ctrl-C or a SIGTERM left its run "running": the next close was
    // refused for the rest of the lease (10 minutes).
    const clock = new ManualClock('2025-05-13T02:00:00Z');
    const log: string[] = [];
    let entered!: () => void;
    const inStep = new Promise<void>((r) => (entered = r));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let paused = false;
    const statements: CloseStep = {
      name: 'statements',
      async run(ctx) {
        for (let next = ctx.cursor === null ? 0 : Number(ctx.cursor); next < 4; next++) {
          if (next === 2 && !paused) {
            paused = true;
            entered();
            await gate;
          }
          log.push(`statements:${next}`);
          await ctx.checkpoint(String(next + 1), { done: next + 1, total: 4 });
        }
      },
    };
    const steps = [chunkedStep('accrual', 2, log), statements];
    const close = createEndOfDayClose({ db: t.db, clock, steps });
    const running = close.close('2025-05-12');
    await inStep;
    const stopping = close.shutdown();
    release();
    await stopping;
    const stopped = await rejection(running);
    expect(stopped.code).toBe('CLOSE_INTERRUPTED');
    expect(await close.getRun('2025-05-12')).toMatchObject({
      status: 'failed',
      steps: [
        { step: 'accrual', status: 'completed', done: 2n },
        { step: 'statements', status: 'failed', done: 2n, total: 4n },
      ],
    });
    // This instance takes no more closes; the next process resumes the run without waiting.
    expect((await rejection(close.close('2025-05-12'))).code).toBe('CLOSE_INTERRUPTED');
    const next = createEndOfDayClose({ db: t.db, clock, steps });
    expect((await next.close('2025-05-12')).status).toBe('completed');
    // Item 2 was done but not checkpointed when the close stopped: steps are idempotent per date.
    expect(log).toEqual([
      '2025-05-12:accrual:0',
      '2025-05-12:accrual:1',
      'statements:0',
      'statements:1',
      'statements:2',
      'statements:2',
      'statements:3',
    ]);
  });

  it('hands back a run whose step reaches no checkpoint within the grace, fencing its late writes', async () => {
    const clock = new ManualClock('2025-05-14T02:00:00Z');
    const { step: slow, inStep, release } = firstRunWaits('slow');
    const close = createEndOfDayClose({ db: t.db, clock, steps: [slow] });
    const running = close.close('2025-05-13');
    await inStep;
    await close.shutdown({ graceMs: 20 });
    // The caller hears at once, though the step's code has not returned.
    expect((await rejection(running)).code).toBe('CLOSE_INTERRUPTED');
    expect(await close.getRun('2025-05-13')).toMatchObject({
      status: 'failed',
      steps: [{ step: 'slow', status: 'failed' }],
    });
    const next = createEndOfDayClose({ db: t.db, clock, steps: [slow] });
    expect((await next.close('2025-05-13')).status).toBe('completed');
    release();
    await sleep(50);
    expect(await cursorOf('2025-05-13')).toBe('by-2');
    expect((await next.getRun('2025-05-13')).status).toBe('completed');
  });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A step whose first run waits, once it has started (`inStep`), until `release`; every run then
 * checkpoints `by-<run number>`, so the cursor tells which run wrote last.
 */
function firstRunWaits(name: string): { step: CloseStep; inStep: Promise<void>; release: () => void } {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let entered!: () => void;
  const inStep = new Promise<void>((r) => (entered = r));
  let calls = 0;
  const step: CloseStep = {
    name,
    async run(ctx) {
      calls += 1;
      if (calls === 1) {
        entered();
        await gate;
      }
      await ctx.checkpoint(`by-${calls}`, { done: calls });
    },
  };
  return { step, inStep, release };
}

async function cursorOf(businessDate: string): Promise<string | undefined> {
  const row = await t.db.query<{ cursor: string }>(
    'SELECT cursor FROM jobs_close_steps WHERE business_date = $1',
    [businessDate],
  );
  return row.rows[0]?.cursor;
}

async function heartbeatOf(businessDate: string): Promise<Date | undefined> {
  const row = await t.db.query<{ heartbeat_at: Date }>(
    'SELECT heartbeat_at FROM jobs_close_runs WHERE business_date = $1',
    [businessDate],
  );
  return row.rows[0]?.heartbeat_at;
}

/** Waits (a while, in real time) for the run's heartbeat to reach `at`; false if it never does. */
async function heartbeatReaches(businessDate: string, at: Date): Promise<boolean> {
  for (let waited = 0; waited < 2_000; waited += 10) {
    if (((await heartbeatOf(businessDate))?.getTime() ?? 0) >= at.getTime()) return true;
    await sleep(10);
  }
  return false;
}
