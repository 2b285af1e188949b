import { randomUUID } from 'node:crypto';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../core/index.ts';
import { createRiskGuard, normaliseAddress } from './risk-guard.ts';

const old = new Date('2020-01-01T00:00:00Z');

describe('risk guard', () => {
  it('allows a genuine buyer: own device and address, an old account, a retry or two', () => {
    const guard = createRiskGuard({ clock: new ManualClock('2026-11-11T12:00:00Z') });
    const userId = randomUUID();
    for (let i = 0; i < 3; i++)
      expect(
        guard.assess({ saleId: 's', userId, deviceId: 'phone', address: 'a 1', accountCreatedAt: old }),
      ).toEqual({ action: 'allow', score: 0, reasons: [] });
  });

  it('slows down a user hammering the endpoint, and lets them in again after the window', () => {
    const clock = new ManualClock('2026-11-11T12:00:00Z');
    const guard = createRiskGuard({ clock });
    const userId = randomUUID();
    const actions = Array.from({ length: 8 }, () =>
      guard.assess({ saleId: 's', userId, accountCreatedAt: old }),
    );
    expect(actions.slice(0, 6).every((d) => d.action === 'allow')).toBe(true);
    expect(actions[6]).toMatchObject({
      action: 'slow_down',
      reasons: ['user_velocity'],
      retryAfterSeconds: 10,
    });
    clock.advance(25_000);
    expect(guard.assess({ saleId: 's', userId, accountCreatedAt: old }).action).toBe('allow');
  });

  it('grades a farm: a shared device and address of new accounts is challenged, then blocked', () => {
    const registry = new Registry();
    const guard = createRiskGuard({ clock: new ManualClock('2026-11-11T12:00:00Z'), registry });
    const fresh = new Date('2026-11-11T10:00:00Z');
    const decisions = Array.from({ length: 7 }, () =>
      guard.assess({ saleId: 's', userId: randomUUID(), deviceId: 'farm', accountCreatedAt: fresh }),
    );
    expect(decisions.map((d) => d.action)).toEqual([
      'allow',
      'allow',
      'slow_down',
      'slow_down',
      'slow_down',
      'block',
      'block',
    ]);
    expect(decisions[5]!.reasons).toEqual(['shared_device', 'very_new_account']);
    // Sharing is counted per sale: the same device in another sale starts afresh.
    expect(
      guard.assess({ saleId: 't', userId: randomUUID(), deviceId: 'farm', accountCreatedAt: old }).action,
    ).toBe('allow');
    const withAddress = Array.from({ length: 3 }, () =>
      guard.assess({
        saleId: 'u',
        userId: randomUUID(),
        deviceId: 'f2',
        address: '仓库路 1 号',
        accountCreatedAt: fresh,
      }),
    );
    expect(withAddress[2]).toMatchObject({
      action: 'block',
      reasons: ['shared_device', 'shared_address', 'very_new_account'],
    });
    return registry.metrics().then((text) => {
      expect(text).toMatch(/millet_risk_decisions_total\{action="block",reason="shared_device"\} 3/);
    });
  });

  it('normalises addresses so spacing and punctuation do not make a new one', () => {
    expect(normaliseAddress('上海市 浦东新区, 1号')).toBe(normaliseAddress('上海市浦东新区1号'));
  });

  it('counts an IPv6 client by its /64, so rotating addresses inside it does not escape the limit', () => {
    const guard = createRiskGuard({
      clock: new ManualClock('2026-11-11T12:00:00Z'),
      policy: { ipAttempts: 3 },
    });
    const actions = Array.from({ length: 5 }, (_, i) =>
      guard.assess({
        saleId: 's',
        userId: randomUUID(),
        ip: `2001:db8:1:2:${(i + 1).toString(16)}::${i + 7}`,
        accountCreatedAt: old,
      }),
    );
    expect(actions.map((d) => d.reasons)).toEqual([[], [], [], ['ip_velocity'], ['ip_velocity']]);
    // Another /64 and an IPv4 client are counted apart; an IPv4-mapped address is its IPv4.
    expect(guard.assess({ saleId: 's', userId: randomUUID(), ip: '2001:db8:1:3::1' }).reasons).toEqual([]);
    for (let i = 0; i < 3; i++) guard.assess({ saleId: 's', userId: randomUUID(), ip: '203.0.113.7' });
    expect(guard.assess({ saleId: 's', userId: randomUUID(), ip: '::ffff:203.0.113.7' }).reasons).toEqual([
      'ip_velocity',
    ]);
  });

  it('keeps its memory bounded under a crowd of distinct devices, and forgets sales long idle', () => {
    const clock = new ManualClock('2026-11-11T12:00:00Z');
    const guard = createRiskGuard({ clock, policy: { maxSharedKeys: 100 } });
    for (let i = 0; i < 1_000; i++) {
      guard.assess({ saleId: 's', userId: 'u', deviceId: `d${i}`, address: `a${i}`, card: `c${i}` });
      clock.advance(50);
    }
    // Velocity keys live for two 10 s windows; sharing keeps the 100 most recently seen per dimension.
    expect(guard.trackedKeys()).toBeLessThan(3 * 100 + 4 * 400 + 1);
    // The most recent device is still remembered: the same device under more users is still a farm.
    const shared = ['x', 'y'].map((u) => guard.assess({ saleId: 's', userId: u, deviceId: 'd999' }));
    expect(shared[1]!.reasons).toContain('shared_device');
    clock.advance(86_400_000 + 30_000);
    guard.assess({ saleId: 't', userId: 'v' });
    expect(guard.trackedKeys()).toBe(1);
  });
});
