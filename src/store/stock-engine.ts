/**
 * The stock engine: the only thing a flash-sale attempt touches. It holds, per sale, the stock left,
 * the buyer set (one winning attempt per user), the admission lobby (attempts of the first seconds,
 * shuffled before allocation), the sale's blacklist, counters, and a log of accepted attempts the
 * order writer turns into orders (the durable hand-off: entries stay pending until acknowledged).
 *
 * Two implementations with identical semantics, both run through one conformance suite
 * (`stock-engine.conformance.ts`): {@link InProcessStockEngine} (the embedded default) and
 * `RedisStockEngine` (REDIS_URL; one Lua script per attempt, all keys of a sale under the hash tag
 * `{sale:<id>}` so it runs on Redis Cluster).
 */

/** What the engine needs to know of a sale. Times are epoch milliseconds. */
export interface SaleRules {
  saleId: string;
  /** Units on sale (the allotment) at configuration. */
  allotment: number;
  /** Most units one user may reserve (in one reservation: a user wins at most once per sale). */
  perUserLimit: number;
  startsAt: number;
  endsAt: number;
  /** F-code holders may attempt from here (before the public start); null: no early access. */
  earlyAccessFrom: number | null;
  /** Attempts in [startsAt, startsAt + admissionWindowMs) are queued and shuffled. */
  admissionWindowMs: number;
}

export const rejectReasons = [
  'unknown_sale',
  'not_started',
  'ended',
  'blacklisted',
  'over_limit',
  'limit_reached',
  'already_queued',
  'sold_out',
] as const;
export type RejectReason = (typeof rejectReasons)[number];

export interface AttemptInput {
  saleId: string;
  userId: string;
  /** The attempt's id: the same id again is the same attempt (idempotent replay). */
  attemptId: string;
  quantity: number;
  /** Epoch ms of the attempt (the caller's Clock). */
  now: number;
  /** The caller checked an F-code for this attempt: it may come before the public start. */
  early?: boolean;
  /** A random number in [0, 2^31): the attempt's place if it lands in the admission lobby. */
  ticket: number;
}

export type AttemptResult =
  | { status: 'accepted'; attemptId: string; quantity: number; acceptedAt: number }
  | { status: 'queued'; attemptId: string; quantity: number }
  | { status: 'rejected'; reason: RejectReason };

/** One drain of an admission lobby. */
export interface AdmitResult {
  /** Lobby entries handled (allocated or refused); 0 when the lobby is empty or still shuffling. */
  handled: number;
  /**
   * The refused entries that were F-code attempts (`early`): the store gives their codes back, as
   * it does for an F-code attempt refused at once — a code spent on a losing attempt buys nothing.
   */
  refusedEarly: Array<{ userId: string; attemptId: string }>;
}

/** What a user's attempt became, as far as the engine knows. */
export type AttemptOutcome = AttemptResult | { status: 'unknown' };

/** An accepted attempt in the hand-off log. `entryId` acknowledges it. */
export interface AcceptedAttempt {
  entryId: string;
  saleId: string;
  userId: string;
  attemptId: string;
  quantity: number;
  acceptedAt: number;
}

export interface SaleCounters {
  /** Units left to allocate. */
  remaining: number;
  attempts: number;
  accepted: number;
  /** Units allocated (accepted attempts' quantities). */
  unitsAccepted: number;
  /** Units given back (expired or cancelled reservations). */
  unitsReleased: number;
  queued: number;
  /** Attempts waiting in the admission lobby now. */
  lobby: number;
  /** Accepted attempts not yet acknowledged by the order writer. */
  pendingHandOff: number;
  rejected: Partial<Record<RejectReason, number>>;
}

/**
 * A user who won in a sale, as the database remembers it (an order): what an engine that lost the
 * sale's state is rebuilt with, so the winner's retry is the same reservation, a new attempt is
 * refused, and the reservation's units go back when it expires or is cancelled.
 */
export interface SaleWinner {
  userId: string;
  attemptId: string;
  quantity: number;
  acceptedAt: number;
  /** The order was closed (expired, cancelled) and its units given back already. */
  released: boolean;
}

export interface SaleSetup {
  /** Units no longer in stock: the database's orders and refusals (the stock is allotment minus this). */
  alreadyTaken?: number;
  winners?: readonly SaleWinner[];
  /**
   * Only update the rules of a sale the engine holds; one it does not hold is left alone. The
   * store says so when it found the sale held: if the sale is lost just after (Redis restarted
   * between the check and the update), it must not come back with the whole allotment in stock —
   * the next attempt or check rebuilds it from the database instead.
   */
  rulesOnly?: boolean;
}

export interface StockEngine {
  readonly kind: 'in-process' | 'redis';
  /**
   * Sets up a sale, or updates its rules. The stock (`allotment` minus `alreadyTaken`) and the
   * winners are set only when the engine does not hold the sale — the first time, or after it lost
   * the sale's state (a restarted process, a Redis restarted empty) — and then all at once: no
   * attempt sees the sale half set up.
   */
  configureSale(rules: SaleRules, setup?: SaleSetup): Promise<void>;
  /** Whether the engine holds the sale's state (false: never configured here, or lost). */
  holdsSale(saleId: string): Promise<boolean>;
  /** One atomic step: window, blacklist, per-user limit, idempotency, stock. */
  attempt(input: AttemptInput): Promise<AttemptResult>;
  /**
   * Allocates up to `max` lobby entries in ticket order (lowest first) once the admission window
   * is over. Attempts arriving while the lobby is not empty join its end, so nobody overtakes the
   * shuffled crowd.
   */
  admit(saleId: string, now: number, max: number): Promise<AdmitResult>;
  /** What became of a user's attempt (after the lobby, accepted or rejected). */
  outcome(saleId: string, userId: string, attemptId: string): Promise<AttemptOutcome>;
  /** Gives a reservation's units back to stock, once per attempt id; false if already released. */
  release(saleId: string, userId: string, attemptId: string): Promise<boolean>;
  setBlacklisted(saleId: string, userId: string, blacklisted: boolean): Promise<void>;
  /**
   * Accepted attempts for `consumer`: first entries pending longer than `minIdleMs` with any
   * consumer (a writer that died), then new ones. Entries stay pending until {@link ack}.
   */
  readAccepted(
    saleId: string,
    consumer: string,
    options: { count: number; minIdleMs: number },
  ): Promise<AcceptedAttempt[]>;
  ack(saleId: string, entryIds: readonly string[]): Promise<void>;
  counters(saleId: string): Promise<SaleCounters>;
  /**
   * One moment's view for reconciliation: the stock left and every accepted attempt not yet
   * acknowledged by the order writer (read together, atomically).
   */
  snapshot(
    saleId: string,
  ): Promise<{ remaining: number; inFlight: Array<{ attemptId: string; quantity: number }> }>;
  close(): Promise<void>;
}

/** Lobby tickets above this are arrival-ordered latecomers (after the shuffled window). */
export const LATE_TICKET_BASE = 2 ** 31;
