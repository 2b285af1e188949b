/**
 * The ping fan-out: one application's ping, signed for each partner, sent to all of them at once
 * over keep-alive connections, and answered at one deadline. This is the routing hot path (at 500
 * applications/s with 21 partners, 10,500 requests a second on a 2-core machine), so it is built
 * for CPU per ping rather than convenience:
 *
 * - undici's `dispatch` with a small handler object, not `request()` or the global fetch: no
 *   Readable stream, no AbortSignal, no parsed header object per response.
 * - One timer per application, not one per ping; an answer missing at the deadline is a `timeout`
 *   value, not an Error (an Error captures a stack: microseconds each, thousands a second).
 * - A late answer is not aborted at the deadline but left to arrive ("linger") and be dropped, so
 *   its socket goes back to the pool: aborting an HTTP/1.1 request destroys its connection, and the
 *   next ping would pay a TCP handshake on both sides. Only a request still unanswered `lingerMs`
 *   after its deadline is aborted, by one sweep for all of them.
 * - The body is serialized once per application; the per-partner signing key is decoded once.
 * - A partner that gives no HTTP answer at all, not even a late one, to `unresponsiveAfter` pings in
 *   a row (it is down, or it never answers) is not pinged again for `probeEveryMs`; then one ping
 *   probes it, and the first answer closes the breaker. Without it a dead partner costs, for every
 *   application routed to it, a socket held for the linger time, an abort (which destroys the
 *   socket and builds an Error with its stack) and a new TCP connection on both sides.
 * - Where a ping may go is the webhooks instance's policy: each partner's URL is checked once, when
 *   its pool is made, and its pool connects through the policy's `connectLookup`, which checks what
 *   the name resolves to at every new connection (a name pointed at 127.0.0.1 or 10.x after the
 *   partner was saved is refused, and nothing is sent). Kept connections were checked when made,
 *   so the steady state pays nothing for it.
 */
import type { KeyObject } from 'node:crypto';
import { randomUUID } from 'node:crypto';
import { Pool, type Dispatcher } from 'undici';
import { isMilletError } from '../core/index.ts';
import { addressRefusal, signWebhook } from '../webhooks/index.ts';
import type { PartnerEndpointPolicy } from './partners.ts';

export interface PingTarget {
  /** The partner's endpoint URL (origin and base path); the ping goes to `${url}/ping`. */
  url: string;
  key: KeyObject;
}

export type PingReply =
  | { outcome: 'answered'; latencyMs: number; text: string }
  | { outcome: 'timeout'; latencyMs: number; text?: undefined }
  /** `reason`: nothing was sent, the policy refused the partner's URL or the address it resolved to. */
  | { outcome: 'error'; latencyMs: number; text?: undefined; reason?: string }
  /** Not pinged: its breaker is open (see EndpointHealth). */
  | { outcome: 'unresponsive'; latencyMs?: undefined; text?: undefined; failures: number };

export interface PingerOptions {
  /** Keep-alive connections per partner; pings beyond wait in the pool's queue. */
  connectionsPerPartner: number;
  /** How long after its deadline an unanswered request may still arrive and keep its socket. */
  lingerMs: number;
  /** Pings in a row with no HTTP answer (aborted after the linger time, or refused) that open the breaker; 0: never. */
  unresponsiveAfter: number;
  /** While the breaker is open, one ping in this many ms goes out as a probe. */
  probeEveryMs: number;
}

export const defaultPingerOptions: PingerOptions = {
  connectionsPerPartner: 256,
  lingerMs: 1_000,
  unresponsiveAfter: 5,
  probeEveryMs: 1_000,
};

/**
 * Whether an endpoint answers at all. Any HTTP answer counts, late or not and whatever its status
 * (a slow partner is alive, and a 401 is an answer); only a request that never gets one counts
 * against it.
 */
class EndpointHealth {
  /** Pings in a row that got no HTTP answer. */
  failures = 0;
  /** While the breaker is open (failures ≥ the threshold), the performance.now() of the next probe. */
  nextProbeAt = 0;

  constructor(private readonly options: PingerOptions) {}

  get open(): boolean {
    return this.options.unresponsiveAfter > 0 && this.failures >= this.options.unresponsiveAfter;
  }

  /** Whether a ping may go out now: always while closed; once per probe interval while open. */
  admit(now: number): boolean {
    if (!this.open) return true;
    if (now < this.nextProbeAt) return false;
    this.nextProbeAt = now + this.options.probeEveryMs;
    return true;
  }

  answered(): void {
    this.failures = 0;
  }

  unanswered(): void {
    this.failures += 1;
    if (this.open)
      this.nextProbeAt = Math.max(this.nextProbeAt, performance.now() + this.options.probeEveryMs);
  }
}

/** The one reason every lingering request is aborted with (shared: no stack trace per ping). */
const LINGER_OVER = Object.freeze(new Error('The partner did not answer within the linger time'));

/**
 * undici's dispatch handler for one ping. The legacy callback names (onConnect … onError) are the
 * ones the pool calls itself; the newer `onRequestStart` family is adapted to them through a
 * wrapper object and a parsed header object per response, which this path does not need.
 */
class Exchange implements Dispatcher.DispatchHandler {
  status = 0;
  text = '';
  done = false;
  /** Set when the connection was refused by the policy on where requests may go. */
  refused: string | undefined;
  /** The body's bytes; decoded once it is whole, since a chunk may end inside a UTF-8 character. */
  private chunks: Buffer[] = [];
  /** Set after the deadline: the answer is no longer wanted and the request may be aborted. */
  lingerUntil = 0;
  private abortRequest: ((error: Error) => void) | null = null;

  constructor(
    /** The target's position in the fan-out. */
    readonly index: number,
    private readonly health: EndpointHealth,
    private readonly settle: (exchange: Exchange, outcome: 'answered' | 'error') => void,
  ) {}

  onConnect(abort: (error: Error) => void): void {
    this.abortRequest = abort;
  }

  onHeaders(statusCode: number): boolean {
    this.status = statusCode;
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.chunks.push(chunk);
    return true;
  }

  onComplete(): void {
    this.done = true;
    const { chunks } = this;
    this.text = (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)).toString('utf8');
    this.chunks = [];
    this.health.answered();
    this.settle(this, this.status >= 200 && this.status <= 299 ? 'answered' : 'error');
  }

  onError(error: Error): void {
    this.done = true;
    this.refused = addressRefusal(error)?.message;
    this.health.unanswered();
    this.settle(this, 'error');
  }

  abort(): void {
    if (!this.done) this.abortRequest?.(LINGER_OVER);
  }
}

interface PingEndpoint {
  /** Null when the policy refuses the URL (`refused` says why). */
  pool: Pool | null;
  path: string;
  health: EndpointHealth;
  refused: string | null;
}

export class PartnerPinger {
  private readonly pools = new Map<string, PingEndpoint>();
  /** Requests past their deadline, in deadline order (the linger time is the same for all). */
  private lingering: Exchange[] = [];
  private sweeper: NodeJS.Timeout | null = null;

  private readonly options: PingerOptions;

  constructor(
    /** Where pings may go: the webhooks instance's URL check and connect-time lookup. */
    private readonly policy: PartnerEndpointPolicy,
    options: Partial<PingerOptions> = {},
  ) {
    this.options = { ...defaultPingerOptions, ...options };
  }

  private target(url: string): PingEndpoint {
    let entry = this.pools.get(url);
    if (!entry) {
      const parsed = new URL(url);
      let refused: string | null = null;
      try {
        // Checked when the partner was saved, perhaps under another policy; and Node asks no
        // lookup (so connectLookup checks nothing) for an IP literal.
        this.policy.checkUrl(url);
      } catch (error) {
        if (!isMilletError(error)) throw error;
        refused = `refused: ${error.message}`;
      }
      entry = {
        pool: refused
          ? null
          : new Pool(parsed.origin, {
              connections: this.options.connectionsPerPartner,
              pipelining: 1,
              keepAliveTimeout: 30_000,
              // The deadline and the linger sweep bound every ping: no timer per request here.
              headersTimeout: 0,
              bodyTimeout: 0,
              connect: { lookup: this.policy.connectLookup() },
            }),
        path: `${parsed.pathname.replace(/\/$/, '')}/ping`,
        health: new EndpointHealth(this.options),
        refused,
      };
      this.pools.set(url, entry);
    }
    return entry;
  }

  /**
   * Sends `body` to every target, each signed with its key, and resolves with one reply per
   * target (same order) when all have answered or `timeoutMs` has passed, whichever is first. A
   * target whose breaker is open is not sent anything and has the reply `unresponsive` at once.
   * Never rejects.
   */
  pingAll(targets: readonly PingTarget[], body: string, timeoutMs: number): Promise<PingReply[]> {
    const started = performance.now();
    const replies: Array<PingReply | undefined> = new Array(targets.length);
    const exchanges: Array<Exchange | undefined> = new Array(targets.length);
    let pending = targets.length;
    return new Promise<PingReply[]>((resolve) => {
      if (pending === 0) return resolve([]);
      const finish = () => {
        clearTimeout(timer);
        const latencyMs = Math.round(performance.now() - started);
        const lingerUntil = performance.now() + this.options.lingerMs;
        for (let i = 0; i < exchanges.length; i++) {
          const exchange = exchanges[i];
          if (replies[i] || !exchange) continue;
          replies[i] = { outcome: 'timeout', latencyMs };
          exchange.lingerUntil = lingerUntil;
          this.lingering.push(exchange);
        }
        this.sweepLater();
        resolve(replies as PingReply[]);
      };
      const settle = (exchange: Exchange, outcome: 'answered' | 'error') => {
        if (exchange.lingerUntil > 0) return; // answered after the deadline: nobody waits for it
        const i = exchange.index;
        const latencyMs = Math.round(performance.now() - started);
        replies[i] =
          outcome === 'answered'
            ? { outcome, latencyMs, text: exchange.text }
            : exchange.refused
              ? { outcome, latencyMs, reason: exchange.refused }
              : { outcome, latencyMs };
        if (--pending === 0) {
          clearTimeout(timer);
          resolve(replies as PingReply[]);
        }
      };
      // Declared after `finish` and `settle` but before any request goes out, so both see it.
      const timer = setTimeout(finish, timeoutMs);
      const timestamp = Math.floor(Date.now() / 1000);
      const now = performance.now();
      const targetsNow = targets.map((t) => this.target(t.url));
      for (let i = 0; i < targets.length; i++) {
        const { health, refused } = targetsNow[i]!;
        if (refused) {
          replies[i] = { outcome: 'error', latencyMs: 0, reason: refused };
          pending -= 1;
        } else if (health.admit(now)) exchanges[i] = new Exchange(i, health, settle);
        else {
          replies[i] = { outcome: 'unresponsive', failures: health.failures };
          pending -= 1;
        }
      }
      if (pending === 0) {
        clearTimeout(timer);
        return resolve(replies as PingReply[]);
      }
      for (let i = 0; i < targets.length; i++) {
        const exchange = exchanges[i];
        if (!exchange) continue;
        const { pool, path } = targetsNow[i]!;
        const id = `msg_${randomUUID()}`;
        pool!.dispatch(
          {
            method: 'POST',
            path,
            body,
            headers: [
              'content-type',
              'application/json',
              'webhook-id',
              id,
              'webhook-timestamp',
              String(timestamp),
              'webhook-signature',
              signWebhook(targets[i]!.key, id, timestamp, body),
            ],
          },
          exchange,
        );
      }
    });
  }

  private sweepLater(): void {
    if (this.sweeper || this.lingering.length === 0) return;
    this.sweeper = setTimeout(() => {
      this.sweeper = null;
      this.sweep();
    }, 100);
    this.sweeper.unref();
  }

  /** Aborts lingering requests whose time is up; forgets the ones that have answered. */
  private sweep(): void {
    const now = performance.now();
    let i = 0;
    for (; i < this.lingering.length; i++) {
      const exchange = this.lingering[i]!;
      if (exchange.done) continue;
      if (exchange.lingerUntil > now) break;
      exchange.abort();
    }
    this.lingering = i === this.lingering.length ? [] : this.lingering.slice(i);
    this.sweepLater();
  }

  async close(): Promise<void> {
    if (this.sweeper) clearTimeout(this.sweeper);
    this.sweeper = null;
    this.lingering = [];
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.pool?.destroy()));
  }
}
