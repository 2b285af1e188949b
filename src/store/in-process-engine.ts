import {
  LATE_TICKET_BASE,
  type AcceptedAttempt,
  type AdmitResult,
  type AttemptInput,
  type AttemptOutcome,
  type AttemptResult,
  type RejectReason,
  type SaleCounters,
  type SaleRules,
  type SaleSetup,
  type StockEngine,
} from './stock-engine.ts';

interface Win {
  attemptId: string;
  quantity: number;
  acceptedAt: number;
}

interface LogEntry extends AcceptedAttempt {
  seq: number;
}

interface SaleState {
  rules: SaleRules;
  remaining: number;
  buyers: Map<string, Win>;
  lobby: Array<{ userId: string; ticket: number }>;
  lobbySorted: boolean;
  /** `early`: an F-code attempt (its code goes back if the lobby refuses it). */
  queuedAttempts: Map<string, { attemptId: string; quantity: number; early: boolean }>;
  outcomes: Map<string, { attemptId: string; reason: RejectReason }>;
  blacklist: Set<string>;
  released: Set<string>;
  lateSeq: number;
  log: LogEntry[];
  /** Index in `log` of the next entry never delivered. */
  nextUndelivered: number;
  pending: Map<string, { entry: LogEntry; consumer: string; deliveredAt: number }>;
  counters: {
    attempts: number;
    accepted: number;
    unitsAccepted: number;
    unitsReleased: number;
    queued: number;
    rejected: Partial<Record<RejectReason, number>>;
  };
}

/**
 * The embedded stock engine: the same rules as the Redis Lua script, on Maps in this process. Every
 * operation runs synchronously to completion (one event-loop turn), which is what makes it atomic.
 *
 * The hand-off log lives here too, so an order writer that stops (or throws) mid-batch leaves its
 * entries pending and the next writer claims them. The whole process dying loses the engine's
 * state with it; at start the store rebuilds each sale from the orders in the database (the stock
 * and the winners), so accepted attempts that had not become orders return to stock (never
 * oversold; those users' reservations are lost — with more than one process or for durability,
 * use Redis).
 */
export class InProcessStockEngine implements StockEngine {
  readonly kind = 'in-process' as const;
  readonly #sales = new Map<string, SaleState>();
  #seq = 0;

  async configureSale(rules: SaleRules, setup: SaleSetup = {}): Promise<void> {
    const existing = this.#sales.get(rules.saleId);
    if (existing) {
      existing.rules = { ...rules };
      return;
    }
    if (setup.rulesOnly) return;
    const winners = setup.winners ?? [];
    this.#sales.set(rules.saleId, {
      rules: { ...rules },
      remaining: Math.max(0, rules.allotment - (setup.alreadyTaken ?? 0)),
      buyers: new Map(
        winners.map((w) => [
          w.userId,
          { attemptId: w.attemptId, quantity: w.quantity, acceptedAt: w.acceptedAt },
        ]),
      ),
      lobby: [],
      lobbySorted: true,
      queuedAttempts: new Map(),
      outcomes: new Map(),
      blacklist: new Set(),
      released: new Set(winners.filter((w) => w.released).map((w) => w.attemptId)),
      lateSeq: 0,
      log: [],
      nextUndelivered: 0,
      pending: new Map(),
      counters: { attempts: 0, accepted: 0, unitsAccepted: 0, unitsReleased: 0, queued: 0, rejected: {} },
    });
  }

  async holdsSale(saleId: string): Promise<boolean> {
    return this.#sales.has(saleId);
  }

  async attempt(input: AttemptInput): Promise<AttemptResult> {
    return this.attemptNow(input);
  }

  /** The attempt without a promise around it (the lean HTTP path calls this). */
  attemptNow(input: AttemptInput): AttemptResult {
    const sale = this.#sales.get(input.saleId);
    if (!sale) return { status: 'rejected', reason: 'unknown_sale' };
    const { rules, counters } = sale;
    counters.attempts += 1;
    const reject = (reason: RejectReason): AttemptResult => {
      counters.rejected[reason] = (counters.rejected[reason] ?? 0) + 1;
      return { status: 'rejected', reason };
    };
    const won = sale.buyers.get(input.userId);
    if (won) {
      if (won.attemptId === input.attemptId) return { status: 'accepted', ...won };
      return reject('limit_reached');
    }
    const queued = sale.queuedAttempts.get(input.userId);
    if (queued) {
      if (queued.attemptId === input.attemptId)
        return { status: 'queued', attemptId: queued.attemptId, quantity: queued.quantity };
      return reject('already_queued');
    }
    if (sale.blacklist.has(input.userId)) return reject('blacklisted');
    const now = input.now;
    if (now >= rules.endsAt) return reject('ended');
    if (now < rules.startsAt) {
      const early = input.early === true && rules.earlyAccessFrom !== null && now >= rules.earlyAccessFrom;
      if (!early) return reject('not_started');
    }
    const quantity = input.quantity;
    if (!Number.isInteger(quantity) || quantity < 1 || quantity > rules.perUserLimit)
      return reject('over_limit');
    if (sale.remaining < quantity) return reject('sold_out');
    const inWindow = now >= rules.startsAt && now < rules.startsAt + rules.admissionWindowMs;
    if (inWindow || sale.lobby.length > 0) {
      const ticket = inWindow ? input.ticket : LATE_TICKET_BASE + ++sale.lateSeq;
      sale.queuedAttempts.set(input.userId, {
        attemptId: input.attemptId,
        quantity,
        early: input.early === true,
      });
      sale.lobby.push({ userId: input.userId, ticket });
      sale.lobbySorted = false;
      counters.queued += 1;
      return { status: 'queued', attemptId: input.attemptId, quantity };
    }
    return this.#allocate(sale, input.userId, input.attemptId, quantity, now);
  }

  #allocate(
    sale: SaleState,
    userId: string,
    attemptId: string,
    quantity: number,
    now: number,
  ): AttemptResult {
    sale.remaining -= quantity;
    const win = { attemptId, quantity, acceptedAt: now };
    sale.buyers.set(userId, win);
    this.#seq += 1;
    sale.log.push({
      seq: this.#seq,
      entryId: `${this.#seq}-0`,
      saleId: sale.rules.saleId,
      userId,
      attemptId,
      quantity,
      acceptedAt: now,
    });
    sale.counters.accepted += 1;
    sale.counters.unitsAccepted += quantity;
    return { status: 'accepted', ...win };
  }

  async admit(saleId: string, now: number, max: number): Promise<AdmitResult> {
    const none: AdmitResult = { handled: 0, refusedEarly: [] };
    const sale = this.#sales.get(saleId);
    if (!sale || sale.lobby.length === 0) return none;
    if (now < sale.rules.startsAt + sale.rules.admissionWindowMs) return none;
    if (!sale.lobbySorted) {
      // Ticket order, ties by user id (as a Redis sorted set orders equal scores).
      sale.lobby.sort(
        (a, b) => a.ticket - b.ticket || (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0),
      );
      sale.lobbySorted = true;
    }
    const batch = sale.lobby.splice(0, max);
    const refusedEarly: AdmitResult['refusedEarly'] = [];
    for (const { userId } of batch) {
      const queued = sale.queuedAttempts.get(userId);
      if (!queued) continue;
      sale.queuedAttempts.delete(userId);
      const reason: RejectReason | undefined = sale.blacklist.has(userId)
        ? 'blacklisted'
        : sale.remaining < queued.quantity
          ? 'sold_out'
          : undefined;
      if (reason) {
        sale.outcomes.set(userId, { attemptId: queued.attemptId, reason });
        sale.counters.rejected[reason] = (sale.counters.rejected[reason] ?? 0) + 1;
        if (queued.early) refusedEarly.push({ userId, attemptId: queued.attemptId });
      } else this.#allocate(sale, userId, queued.attemptId, queued.quantity, now);
    }
    return { handled: batch.length, refusedEarly };
  }

  async outcome(saleId: string, userId: string, attemptId: string): Promise<AttemptOutcome> {
    const sale = this.#sales.get(saleId);
    if (!sale) return { status: 'unknown' };
    const won = sale.buyers.get(userId);
    if (won?.attemptId === attemptId) return { status: 'accepted', ...won };
    const queued = sale.queuedAttempts.get(userId);
    if (queued?.attemptId === attemptId) return { status: 'queued', attemptId, quantity: queued.quantity };
    const out = sale.outcomes.get(userId);
    if (out?.attemptId === attemptId) return { status: 'rejected', reason: out.reason };
    return { status: 'unknown' };
  }

  async release(saleId: string, userId: string, attemptId: string): Promise<boolean> {
    const sale = this.#sales.get(saleId);
    const won = sale?.buyers.get(userId);
    if (!sale || !won || won.attemptId !== attemptId || sale.released.has(attemptId)) return false;
    sale.released.add(attemptId);
    sale.remaining += won.quantity;
    sale.counters.unitsReleased += won.quantity;
    return true;
  }

  async setBlacklisted(saleId: string, userId: string, blacklisted: boolean): Promise<void> {
    const sale = this.#sales.get(saleId);
    if (!sale) return;
    if (blacklisted) sale.blacklist.add(userId);
    else sale.blacklist.delete(userId);
  }

  async readAccepted(
    saleId: string,
    consumer: string,
    options: { count: number; minIdleMs: number },
  ): Promise<AcceptedAttempt[]> {
    const sale = this.#sales.get(saleId);
    if (!sale) return [];
    const now = Date.now();
    const out: AcceptedAttempt[] = [];
    for (const pending of sale.pending.values()) {
      if (out.length >= options.count) break;
      if (now - pending.deliveredAt < options.minIdleMs) continue;
      pending.consumer = consumer;
      pending.deliveredAt = now;
      out.push(publicEntry(pending.entry));
    }
    while (out.length < options.count && sale.nextUndelivered < sale.log.length) {
      const entry = sale.log[sale.nextUndelivered++]!;
      sale.pending.set(entry.entryId, { entry, consumer, deliveredAt: now });
      out.push(publicEntry(entry));
    }
    return out;
  }

  async ack(saleId: string, entryIds: readonly string[]): Promise<void> {
    const sale = this.#sales.get(saleId);
    if (!sale) return;
    for (const id of entryIds) sale.pending.delete(id);
    // Drop the acknowledged prefix of the log (memory stays bounded by what is in flight).
    let drop = 0;
    while (drop < sale.nextUndelivered && !sale.pending.has(sale.log[drop]!.entryId)) drop += 1;
    if (drop > 1024 || drop === sale.nextUndelivered) {
      sale.log.splice(0, drop);
      sale.nextUndelivered -= drop;
    }
  }

  async counters(saleId: string): Promise<SaleCounters> {
    const sale = this.#sales.get(saleId);
    if (!sale)
      return {
        remaining: 0,
        attempts: 0,
        accepted: 0,
        unitsAccepted: 0,
        unitsReleased: 0,
        queued: 0,
        lobby: 0,
        pendingHandOff: 0,
        rejected: {},
      };
    return {
      remaining: sale.remaining,
      ...sale.counters,
      rejected: { ...sale.counters.rejected },
      lobby: sale.lobby.length,
      pendingHandOff: sale.pending.size + (sale.log.length - sale.nextUndelivered),
    };
  }

  async snapshot(
    saleId: string,
  ): Promise<{ remaining: number; inFlight: Array<{ attemptId: string; quantity: number }> }> {
    const sale = this.#sales.get(saleId);
    if (!sale) return { remaining: 0, inFlight: [] };
    const entries = [
      ...[...sale.pending.values()].map((p) => p.entry),
      ...sale.log.slice(sale.nextUndelivered),
    ];
    return {
      remaining: sale.remaining,
      inFlight: entries.map((e) => ({ attemptId: e.attemptId, quantity: e.quantity })),
    };
  }

  async close(): Promise<void> {}
}

function publicEntry(entry: LogEntry): AcceptedAttempt {
  return {
    entryId: entry.entryId,
    saleId: entry.saleId,
    userId: entry.userId,
    attemptId: entry.attemptId,
    quantity: entry.quantity,
    acceptedAt: entry.acceptedAt,
  };
}
