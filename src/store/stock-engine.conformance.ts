import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AttemptInput, SaleRules, StockEngine } from './stock-engine.ts';

const T0 = Date.parse('2026-11-11T12:00:00Z');

export function saleRules(overrides: Partial<SaleRules> = {}): SaleRules {
  return {
    saleId: randomUUID(),
    allotment: 10,
    perUserLimit: 2,
    startsAt: T0,
    endsAt: T0 + 3_600_000,
    earlyAccessFrom: T0 - 600_000,
    admissionWindowMs: 0,
    ...overrides,
  };
}

function attempt(rules: SaleRules, overrides: Partial<AttemptInput> = {}): AttemptInput {
  return {
    saleId: rules.saleId,
    userId: randomUUID(),
    attemptId: randomUUID(),
    quantity: 1,
    now: rules.startsAt + 1,
    ticket: Math.floor(Math.random() * 2 ** 31),
    ...overrides,
  };
}

/**
 * One suite, every engine: the semantics of a flash-sale attempt do not depend on where the stock
 * lives. `open` gives a fresh engine (its own key prefix on Redis).
 */
export function describeStockEngine(name: string, open: () => Promise<StockEngine>, skip = false): void {
  describe.skipIf(skip)(`stock engine conformance: ${name}`, () => {
    let engine: StockEngine;
    beforeAll(async () => {
      engine = await open();
    });
    afterAll(async () => {
      await engine?.close();
    });

    async function sale(overrides: Partial<SaleRules> = {}, alreadyTaken?: number): Promise<SaleRules> {
      const rules = saleRules(overrides);
      await engine.configureSale(rules, { alreadyTaken });
      return rules;
    }

    it('sells exactly the allotment under heavy concurrency, never one unit more', async () => {
      const rules = await sale({ allotment: 100, perUserLimit: 1 });
      const results = await Promise.all(Array.from({ length: 2_000 }, () => engine.attempt(attempt(rules))));
      const accepted = results.filter((r) => r.status === 'accepted');
      expect(accepted).toHaveLength(100);
      expect(results.filter((r) => r.status === 'rejected' && r.reason === 'sold_out')).toHaveLength(1_900);
      const c = await engine.counters(rules.saleId);
      expect(c).toMatchObject({ remaining: 0, accepted: 100, unitsAccepted: 100, attempts: 2_000 });
      expect(c.rejected.sold_out).toBe(1_900);
    });

    it('sells multi-unit reservations without passing the allotment', async () => {
      const rules = await sale({ allotment: 7, perUserLimit: 3 });
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) => engine.attempt(attempt(rules, { quantity: 1 + (i % 3) }))),
      );
      const units = results.reduce((n, r) => n + (r.status === 'accepted' ? r.quantity : 0), 0);
      const c = await engine.counters(rules.saleId);
      expect(units).toBe(c.unitsAccepted);
      expect(units + c.remaining).toBe(7);
      expect(c.remaining).toBe(0);
    });

    it('holds the per-user limit under concurrent attempts by one user', async () => {
      const rules = await sale({ allotment: 50, perUserLimit: 2 });
      const userId = randomUUID();
      const results = await Promise.all(
        Array.from({ length: 50 }, () => engine.attempt(attempt(rules, { userId, quantity: 2 }))),
      );
      expect(results.filter((r) => r.status === 'accepted')).toHaveLength(1);
      expect(results.filter((r) => r.status === 'rejected' && r.reason === 'limit_reached')).toHaveLength(49);
      expect((await engine.counters(rules.saleId)).remaining).toBe(48);
      expect(await engine.attempt(attempt(rules, { quantity: 3 }))).toEqual({
        status: 'rejected',
        reason: 'over_limit',
      });
      expect(await engine.attempt(attempt(rules, { quantity: 0 }))).toEqual({
        status: 'rejected',
        reason: 'over_limit',
      });
    });

    it('replays a retried attempt id without taking stock twice', async () => {
      const rules = await sale({ allotment: 5 });
      const a = attempt(rules, { quantity: 2 });
      const first = await engine.attempt(a);
      const retries = await Promise.all(
        Array.from({ length: 10 }, () => engine.attempt({ ...a, now: a.now + 5 })),
      );
      expect(first).toEqual({ status: 'accepted', attemptId: a.attemptId, quantity: 2, acceptedAt: a.now });
      for (const r of retries) expect(r).toEqual(first);
      const c = await engine.counters(rules.saleId);
      expect(c.remaining).toBe(3);
      expect(c.accepted).toBe(1);
      expect(await engine.outcome(rules.saleId, a.userId, a.attemptId)).toEqual(first);
      expect(await engine.outcome(rules.saleId, a.userId, randomUUID())).toEqual({ status: 'unknown' });
    });

    it('checks the sale window, with early access only for F-code attempts', async () => {
      const rules = await sale();
      const before = attempt(rules, { now: rules.startsAt - 1 });
      expect(await engine.attempt(before)).toEqual({ status: 'rejected', reason: 'not_started' });
      expect(await engine.attempt({ ...before, early: true, now: rules.earlyAccessFrom! - 1 })).toEqual({
        status: 'rejected',
        reason: 'not_started',
      });
      expect((await engine.attempt({ ...before, early: true })).status).toBe('accepted');
      expect(await engine.attempt(attempt(rules, { now: rules.endsAt }))).toEqual({
        status: 'rejected',
        reason: 'ended',
      });
      const noEarly = await sale({ earlyAccessFrom: null });
      expect(await engine.attempt(attempt(noEarly, { now: noEarly.startsAt - 1, early: true }))).toEqual({
        status: 'rejected',
        reason: 'not_started',
      });
      expect(await engine.attempt(attempt(saleRules()))).toEqual({
        status: 'rejected',
        reason: 'unknown_sale',
      });
    });

    it('refuses blacklisted users, and lets them in again when taken off', async () => {
      const rules = await sale();
      const userId = randomUUID();
      await engine.setBlacklisted(rules.saleId, userId, true);
      expect(await engine.attempt(attempt(rules, { userId }))).toEqual({
        status: 'rejected',
        reason: 'blacklisted',
      });
      await engine.setBlacklisted(rules.saleId, userId, false);
      expect((await engine.attempt(attempt(rules, { userId }))).status).toBe('accepted');
      expect((await engine.counters(rules.saleId)).rejected.blacklisted).toBe(1);
    });

    it('shuffles the admission window: arrival order buys nothing, latecomers queue behind', async () => {
      const rules = await sale({ allotment: 3, perUserLimit: 1, admissionWindowMs: 2_000 });
      // Arrival order 0..5; tickets reverse it, so the last to arrive are first served.
      const early = Array.from({ length: 6 }, (_, i) =>
        attempt(rules, { now: rules.startsAt + i, ticket: 1_000 - i }),
      );
      for (const a of early) expect((await engine.attempt(a)).status).toBe('queued');
      expect((await engine.attempt(early[0]!)).status).toBe('queued');
      expect(await engine.attempt({ ...early[0]!, attemptId: randomUUID() })).toEqual({
        status: 'rejected',
        reason: 'already_queued',
      });
      expect(await engine.admit(rules.saleId, rules.startsAt + 1_999, 100)).toEqual({
        handled: 0,
        refusedEarly: [],
      });
      const late = attempt(rules, { now: rules.startsAt + 2_500, ticket: 0 });
      expect((await engine.attempt(late)).status).toBe('queued');
      expect((await engine.counters(rules.saleId)).lobby).toBe(7);
      expect((await engine.admit(rules.saleId, rules.startsAt + 3_000, 2)).handled).toBe(2);
      expect((await engine.admit(rules.saleId, rules.startsAt + 3_000, 100)).handled).toBe(5);
      const outcomes = await Promise.all(
        [...early, late].map((a) => engine.outcome(rules.saleId, a.userId, a.attemptId)),
      );
      expect(outcomes.map((o) => o.status)).toEqual([
        'rejected',
        'rejected',
        'rejected',
        'accepted',
        'accepted',
        'accepted',
        'rejected',
      ]);
      expect(outcomes[6]).toEqual({ status: 'rejected', reason: 'sold_out' });
      const c = await engine.counters(rules.saleId);
      expect(c).toMatchObject({ remaining: 0, accepted: 3, lobby: 0, queued: 7 });
      // Once the lobby is empty, attempts are answered at once.
      expect(await engine.attempt(attempt(rules, { now: rules.startsAt + 4_000 }))).toEqual({
        status: 'rejected',
        reason: 'sold_out',
      });
    });

    it('names the F-code attempts the lobby refuses, so their codes can be given back', async () => {
      // The store gave a code back only when the engine refused its attempt at once: one queued in
      // the lobby and refused there (sold out) kept the code spent, an early-access right lost for
      // nothing.
      const rules = await sale({ allotment: 1, perUserLimit: 1, admissionWindowMs: 1_000 });
      const inWindow = (ticket: number, early: boolean) =>
        attempt(rules, { now: rules.startsAt + 10, ticket, early });
      const winner = inWindow(1, true);
      const earlyLoser = inWindow(2, true);
      const loser = inWindow(3, false);
      for (const a of [winner, earlyLoser, loser]) expect((await engine.attempt(a)).status).toBe('queued');
      // A replay of a queued F-code attempt is still queued, and still an F-code attempt.
      expect(await engine.attempt(earlyLoser)).toEqual({
        status: 'queued',
        attemptId: earlyLoser.attemptId,
        quantity: 1,
      });
      expect(await engine.admit(rules.saleId, rules.startsAt + 1_000, 100)).toEqual({
        handled: 3,
        refusedEarly: [{ userId: earlyLoser.userId, attemptId: earlyLoser.attemptId }],
      });
      expect((await engine.outcome(rules.saleId, winner.userId, winner.attemptId)).status).toBe('accepted');
      expect(await engine.outcome(rules.saleId, earlyLoser.userId, earlyLoser.attemptId)).toEqual({
        status: 'rejected',
        reason: 'sold_out',
      });
    });

    it('returns released units to stock once per attempt', async () => {
      const rules = await sale({ allotment: 2, perUserLimit: 2 });
      const a = attempt(rules, { quantity: 2 });
      expect((await engine.attempt(a)).status).toBe('accepted');
      expect(await engine.attempt(attempt(rules))).toEqual({ status: 'rejected', reason: 'sold_out' });
      expect(await engine.release(rules.saleId, a.userId, randomUUID())).toBe(false);
      const twice = await Promise.all([
        engine.release(rules.saleId, a.userId, a.attemptId),
        engine.release(rules.saleId, a.userId, a.attemptId),
      ]);
      expect(twice.filter(Boolean)).toHaveLength(1);
      const c = await engine.counters(rules.saleId);
      expect(c).toMatchObject({ remaining: 2, unitsReleased: 2 });
      // The user's turn is spent; someone else gets the units.
      expect(await engine.attempt({ ...a, attemptId: randomUUID() })).toEqual({
        status: 'rejected',
        reason: 'limit_reached',
      });
      expect((await engine.attempt(attempt(rules))).status).toBe('accepted');
    });

    it('rebuilds stock from what the database already holds, and keeps it on reconfiguration', async () => {
      const rules = await sale({ allotment: 10 }, 4);
      expect((await engine.counters(rules.saleId)).remaining).toBe(6);
      await engine.attempt(attempt(rules));
      await engine.configureSale({ ...rules, perUserLimit: 1 }, { alreadyTaken: 0 });
      expect((await engine.counters(rules.saleId)).remaining).toBe(5);
      expect(await engine.attempt(attempt(rules, { quantity: 2 }))).toEqual({
        status: 'rejected',
        reason: 'over_limit',
      });
    });

    it('rebuilds the winners with the stock: a replay is the same win, a closed one is not given back twice', async () => {
      const rules = saleRules({ allotment: 10, perUserLimit: 2 });
      expect(await engine.holdsSale(rules.saleId)).toBe(false);
      const open = { userId: randomUUID(), attemptId: randomUUID(), quantity: 2, acceptedAt: T0 + 5 };
      const openWin = { status: 'accepted', attemptId: open.attemptId, quantity: 2, acceptedAt: T0 + 5 };
      const closed = { userId: randomUUID(), attemptId: randomUUID(), quantity: 1, acceptedAt: T0 + 6 };
      await engine.configureSale(rules, {
        alreadyTaken: 2,
        winners: [
          { ...open, released: false },
          { ...closed, released: true },
        ],
      });
      expect(await engine.holdsSale(rules.saleId)).toBe(true);
      expect((await engine.counters(rules.saleId)).remaining).toBe(8);
      // The winner's retry is the win it had, without taking stock again; another attempt is refused.
      expect(
        await engine.attempt(attempt(rules, { userId: open.userId, attemptId: open.attemptId, quantity: 2 })),
      ).toEqual(openWin);
      expect(await engine.attempt(attempt(rules, { userId: open.userId }))).toEqual({
        status: 'rejected',
        reason: 'limit_reached',
      });
      expect(await engine.outcome(rules.saleId, open.userId, open.attemptId)).toEqual(openWin);
      expect((await engine.counters(rules.saleId)).remaining).toBe(8);
      // The closed order's units are already back in the stock; the open one's come back once.
      expect(await engine.release(rules.saleId, closed.userId, closed.attemptId)).toBe(false);
      expect(await engine.release(rules.saleId, open.userId, open.attemptId)).toBe(true);
      expect(await engine.release(rules.saleId, open.userId, open.attemptId)).toBe(false);
      expect((await engine.counters(rules.saleId)).remaining).toBe(10);
      // Rules only, for a sale the engine does not hold: nothing is created (no full allotment).
      const lost = saleRules({ allotment: 10 });
      await engine.configureSale(lost, { rulesOnly: true });
      expect(await engine.holdsSale(lost.saleId)).toBe(false);
      expect(await engine.attempt(attempt(lost))).toEqual({ status: 'rejected', reason: 'unknown_sale' });
      // Held now: configuring again keeps the winners and the stock, whatever it is given.
      await engine.configureSale(rules, { alreadyTaken: 0, winners: [] });
      expect((await engine.counters(rules.saleId)).remaining).toBe(10);
      expect(await engine.attempt(attempt(rules, { userId: open.userId }))).toMatchObject({
        reason: 'limit_reached',
      });
    });

    it('hands accepted attempts off until acknowledged; a dead consumer’s entries are claimed', async () => {
      const rules = await sale({ allotment: 10 });
      const attempts = Array.from({ length: 5 }, () => attempt(rules));
      for (const a of attempts) await engine.attempt(a);
      const first = await engine.readAccepted(rules.saleId, 'writer-a', { count: 3, minIdleMs: 60_000 });
      expect(first.map((e) => e.attemptId)).toEqual(attempts.slice(0, 3).map((a) => a.attemptId));
      expect(first[0]).toMatchObject({
        userId: attempts[0]!.userId,
        quantity: 1,
        acceptedAt: attempts[0]!.now,
      });
      await engine.ack(rules.saleId, [first[0]!.entryId]);
      // writer-a "dies" holding two entries; writer-b sees only new ones until they are idle enough.
      const fresh = await engine.readAccepted(rules.saleId, 'writer-b', { count: 10, minIdleMs: 60_000 });
      expect(fresh.map((e) => e.attemptId)).toEqual(attempts.slice(3).map((a) => a.attemptId));
      expect((await engine.counters(rules.saleId)).pendingHandOff).toBe(4);
      const claimed = await engine.readAccepted(rules.saleId, 'writer-b', { count: 10, minIdleMs: 0 });
      expect(claimed.map((e) => e.attemptId).sort()).toEqual(
        attempts
          .slice(1)
          .map((a) => a.attemptId)
          .sort(),
      );
      await engine.ack(
        rules.saleId,
        claimed.map((e) => e.entryId),
      );
      expect(await engine.readAccepted(rules.saleId, 'writer-c', { count: 10, minIdleMs: 0 })).toEqual([]);
      expect((await engine.counters(rules.saleId)).pendingHandOff).toBe(0);
    });
  });
}
