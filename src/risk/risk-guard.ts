import type { Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { Clock } from '../core/index.ts';
import { tallyCounter, type Tally } from '../core/tally-counter.ts';
import { clientAddressKey } from '../identity/index.ts';

/**
 * Anti-scalper decisions for flash-sale attempts (DESIGN §2.8), in memory so the attempt path
 * makes no database or network round trip: velocity per user, device, IP, address and card;
 * how many distinct users share a device, an address or a card (scripted bots share them); the
 * account's age. Each signal adds points with a reason; the total picks a graduated response.
 */
export type RiskAction = 'allow' | 'slow_down' | 'challenge' | 'block';

export const riskReasons = [
  'user_velocity',
  'device_velocity',
  'ip_velocity',
  'address_velocity',
  'card_velocity',
  'shared_device',
  'shared_address',
  'shared_card',
  'new_account',
  'very_new_account',
] as const;
export type RiskReason = (typeof riskReasons)[number];

export interface RiskSignals {
  saleId: string;
  userId: string;
  deviceId?: string | undefined;
  ip?: string | undefined;
  /** The shipping address as given; normalised here and kept in memory only while counted. */
  address?: string | undefined;
  /** A card token or fingerprint. */
  card?: string | undefined;
  /** When the user's account was created; unknown counts as not new. */
  accountCreatedAt?: Date | undefined;
}

export interface RiskDecision {
  action: RiskAction;
  score: number;
  reasons: RiskReason[];
  /** For slow_down: seconds to wait before the next attempt. */
  retryAfterSeconds?: number;
}

export interface RiskPolicy {
  /** Length of a velocity window, ms. */
  windowMs: number;
  /** Attempts per window above which each dimension counts as too fast. */
  userAttempts: number;
  deviceAttempts: number;
  /** High: mobile carriers put many users behind one address (CGNAT). */
  ipAttempts: number;
  addressAttempts: number;
  cardAttempts: number;
  /** Distinct users on one device / address / card (per sale) that look like a farm. */
  sharedUsers: number;
  newAccountDays: number;
  slowDownAt: number;
  challengeAt: number;
  blockAt: number;
  /**
   * Devices, addresses or cards whose distinct users are remembered, per dimension and sale; the
   * least recently seen are forgotten beyond it, so a crowd of distinct ids cannot grow memory.
   */
  maxSharedKeys: number;
  /** A sale with no attempt for this long has its sharing counts forgotten, ms. */
  sharingIdleMs: number;
}

export const defaultRiskPolicy: RiskPolicy = {
  windowMs: 10_000,
  userAttempts: 6,
  deviceAttempts: 10,
  ipAttempts: 300,
  addressAttempts: 15,
  cardAttempts: 15,
  sharedUsers: 3,
  newAccountDays: 7,
  slowDownAt: 40,
  challengeAt: 60,
  blockAt: 80,
  maxSharedKeys: 100_000,
  sharingIdleMs: 86_400_000,
};

/** A fixed-window counter per key (current and previous window, weighted: a sliding estimate). */
class Velocity {
  readonly #counts = new Map<string, { window: number; current: number; previous: number }>();
  constructor(readonly windowMs: number) {}

  hit(key: string, now: number): number {
    const window = Math.floor(now / this.windowMs);
    let c = this.#counts.get(key);
    if (!c) {
      c = { window, current: 0, previous: 0 };
      this.#counts.set(key, c);
    } else if (c.window !== window) {
      c.previous = c.window === window - 1 ? c.current : 0;
      c.current = 0;
      c.window = window;
    }
    c.current += 1;
    const elapsed = (now % this.windowMs) / this.windowMs;
    return c.current + c.previous * (1 - elapsed);
  }

  /** Forgets keys idle for two windows (call now and then). */
  prune(now: number): void {
    const window = Math.floor(now / this.windowMs);
    for (const [key, c] of this.#counts) if (c.window < window - 1) this.#counts.delete(key);
  }

  get size(): number {
    return this.#counts.size;
  }
}

/**
 * Distinct users seen per key, capped (all we need to know is "more than a few"). At most
 * `maxKeys` keys, the least recently seen evicted: every attempt may bring a new device id, and
 * without a bound a bot rotating them grew this map for as long as the process ran.
 */
class Sharing {
  readonly #users = new Map<string, Set<string>>();
  constructor(
    readonly cap: number,
    readonly maxKeys: number,
  ) {}
  add(key: string, userId: string): number {
    let set = this.#users.get(key);
    if (set) {
      // Re-inserted so the Map's order is least recently seen first.
      this.#users.delete(key);
    } else {
      set = new Set();
      if (this.#users.size >= this.maxKeys) this.#users.delete(this.#users.keys().next().value!);
    }
    this.#users.set(key, set);
    if (set.size < this.cap) set.add(userId);
    return set.size;
  }

  get size(): number {
    return this.#users.size;
  }
}

export function normaliseAddress(address: string): string {
  return address
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[\s,.，。#-]+/g, '');
}

/** The shared-identifier dimensions, in scoring order. */
const dimensions: ReadonlyArray<{
  kind: 'd' | 'a' | 'c';
  value: (s: RiskSignals) => string | undefined;
  limit: 'deviceAttempts' | 'addressAttempts' | 'cardAttempts';
  fast: RiskReason;
  shared: RiskReason;
}> = [
  {
    kind: 'd',
    value: (s) => s.deviceId,
    limit: 'deviceAttempts',
    fast: 'device_velocity',
    shared: 'shared_device',
  },
  {
    kind: 'a',
    value: (s) => s.address,
    limit: 'addressAttempts',
    fast: 'address_velocity',
    shared: 'shared_address',
  },
  { kind: 'c', value: (s) => s.card, limit: 'cardAttempts', fast: 'card_velocity', shared: 'shared_card' },
];

export interface RiskGuard {
  assess(signals: RiskSignals): RiskDecision;
  readonly policy: RiskPolicy;
  /** How many keys the guard holds in memory (velocity and sharing): bounded, whatever comes. */
  trackedKeys(): number;
}

export function createRiskGuard(options: {
  clock: Clock;
  registry?: Registry;
  logger?: Logger;
  policy?: Partial<RiskPolicy>;
}): RiskGuard {
  const policy = { ...defaultRiskPolicy, ...options.policy };
  // One counter per dimension and, for sharing, per sale: looked up by the value as it comes, with
  // no key concatenated per attempt.
  const velocity = {
    u: new Velocity(policy.windowMs),
    d: new Velocity(policy.windowMs),
    a: new Velocity(policy.windowMs),
    c: new Velocity(policy.windowMs),
    i: new Velocity(policy.windowMs),
  };
  type SaleSharing = Record<'d' | 'a' | 'c', Sharing> & { lastSeen: number };
  const sharingBySale = new Map<string, SaleSharing>();
  const sharingIn = (sale: string, now: number) => {
    let sharing = sharingBySale.get(sale);
    if (!sharing) {
      const cap = policy.sharedUsers * 4;
      const keys = policy.maxSharedKeys;
      sharing = {
        d: new Sharing(cap, keys),
        a: new Sharing(cap, keys),
        c: new Sharing(cap, keys),
        lastSeen: now,
      };
      sharingBySale.set(sale, sharing);
    }
    sharing.lastSeen = now;
    return sharing;
  };
  const decisions = options.registry ? riskCounter(options.registry) : undefined;
  let lastPrune = 0;
  // NFKC and a regex per attempt add up; a crowd repeats its addresses, so remember them (bounded).
  const normalisedAddresses = new Map<string, string>();
  const normalised = (address: string): string => {
    let n = normalisedAddresses.get(address);
    if (n === undefined) {
      n = normaliseAddress(address).slice(0, 200);
      if (normalisedAddresses.size >= 50_000) normalisedAddresses.clear();
      normalisedAddresses.set(address, n);
    }
    return n;
  };

  return {
    policy,
    trackedKeys() {
      let n = 0;
      for (const v of Object.values(velocity)) n += v.size;
      for (const s of sharingBySale.values()) n += s.d.size + s.a.size + s.c.size;
      return n;
    },
    assess(signals) {
      const now = options.clock.now().getTime();
      if (now - lastPrune > policy.windowMs * 2) {
        for (const v of Object.values(velocity)) v.prune(now);
        // A sale over (or idle) for long enough keeps no counts: they grew with every sale held.
        for (const [sale, sharing] of sharingBySale)
          if (now - sharing.lastSeen > policy.sharingIdleMs) sharingBySale.delete(sale);
        lastPrune = now;
      }
      // Called for every attempt: no closures or tuple arrays per call, only the reasons that scored.
      let score = 0;
      const reasons: RiskReason[] = [];
      const sale = signals.saleId;
      let sharing: SaleSharing | undefined;
      if (velocity.u.hit(signals.userId, now) > policy.userAttempts) {
        score += 40;
        reasons.push('user_velocity');
      }
      for (const dim of dimensions) {
        const raw = dim.value(signals);
        const value = raw && dim.kind === 'a' ? normalised(raw) : raw?.slice(0, 200);
        if (!value) continue;
        if (velocity[dim.kind].hit(value, now) > policy[dim.limit]) {
          score += 30;
          reasons.push(dim.fast);
        }
        const users = (sharing ??= sharingIn(sale, now))[dim.kind].add(value, signals.userId);
        if (users >= policy.sharedUsers) {
          score += users >= policy.sharedUsers * 2 ? 70 : 35;
          reasons.push(dim.shared);
        }
      }
      // An IPv6 client counts by its /64 (one subscriber's prefix): counted per address, a scalper
      // rotated through 2^64 of them and never met the limit.
      if (signals.ip && velocity.i.hit(clientAddressKey(signals.ip), now) > policy.ipAttempts) {
        score += 30;
        reasons.push('ip_velocity');
      }
      if (signals.accountCreatedAt) {
        const ageDays = (now - signals.accountCreatedAt.getTime()) / 86_400_000;
        if (ageDays < 1) {
          score += 15;
          reasons.push('very_new_account');
        } else if (ageDays < policy.newAccountDays) {
          score += 5;
          reasons.push('new_account');
        }
      }
      const action: RiskAction =
        score >= policy.blockAt
          ? 'block'
          : score >= policy.challengeAt
            ? 'challenge'
            : score >= policy.slowDownAt
              ? 'slow_down'
              : 'allow';
      const decision: RiskDecision = { action, score, reasons };
      if (action === 'slow_down') decision.retryAfterSeconds = Math.ceil(policy.windowMs / 1000);
      if (decisions) {
        if (reasons.length === 0) decisions(action, 'none');
        else for (const reason of reasons) decisions(action, reason);
      }
      if (action !== 'allow')
        options.logger?.info(
          { saleId: sale, userId: signals.userId, action, score, reasons },
          'risk decision',
        );
      return decision;
    },
  };
}

function riskCounter(registry: Registry): Tally {
  return tallyCounter(registry, {
    name: 'millet_risk_decisions_total',
    help: 'Anti-scalper decisions on flash-sale attempts, by action and each reason that scored',
    labelNames: ['action', 'reason'],
  });
}
