import { Redis, Cluster } from 'ioredis';
import { reportingUnavailable, rethrowUnavailable } from './redis-unavailable.ts';
import {
  LATE_TICKET_BASE,
  rejectReasons,
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

/**
 * One Lua script per attempt: the same steps, in the same order, as InProcessStockEngine.attemptNow.
 * KEYS: rules, stock, buyers, lobby, lobby attempts, blacklist, accepted stream, counters, late seq.
 * ARGV: user, attempt id, quantity, now (ms), early (0/1), ticket.
 */
const ATTEMPT_LUA = `
local r = redis.call('HMGET', KEYS[1], 'limit', 'starts', 'ends', 'early', 'window')
if not r[1] then return {'rejected', 'unknown_sale'} end
local user, aid, qty, now = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('HINCRBY', KEYS[8], 'attempts', 1)
local function reject(reason)
  redis.call('HINCRBY', KEYS[8], 'rejected:' .. reason, 1)
  return {'rejected', reason}
end
local won = redis.call('HGET', KEYS[3], user)
if won then
  local wa, wq, wt = string.match(won, '^([^|]+)|(%d+)|(%d+)$')
  if wa == aid then return {'accepted', wa, wq, wt} end
  return reject('limit_reached')
end
local q = redis.call('HGET', KEYS[5], user)
if q then
  local qa, qq = string.match(q, '^([^|]+)|(%d+)')
  if qa == aid then return {'queued', qa, qq} end
  return reject('already_queued')
end
if redis.call('SISMEMBER', KEYS[6], user) == 1 then return reject('blacklisted') end
local starts, ends = tonumber(r[2]), tonumber(r[3])
if now >= ends then return reject('ended') end
if now < starts then
  local early = tonumber(r[4])
  if not (ARGV[5] == '1' and early and early >= 0 and now >= early) then return reject('not_started') end
end
if qty == nil or qty < 1 or qty ~= math.floor(qty) or qty > tonumber(r[1]) then return reject('over_limit') end
local remaining = tonumber(redis.call('GET', KEYS[2]) or '0')
if remaining < qty then return reject('sold_out') end
local inWindow = now >= starts and now < starts + tonumber(r[5])
if inWindow or redis.call('ZCARD', KEYS[4]) > 0 then
  local ticket = ARGV[6]
  if not inWindow then ticket = tostring(${LATE_TICKET_BASE} + redis.call('INCR', KEYS[9])) end
  redis.call('HSET', KEYS[5], user, aid .. '|' .. qty .. '|' .. ARGV[5])
  redis.call('ZADD', KEYS[4], ticket, user)
  redis.call('HINCRBY', KEYS[8], 'queued', 1)
  return {'queued', aid, tostring(qty)}
end
redis.call('DECRBY', KEYS[2], qty)
redis.call('HSET', KEYS[3], user, aid .. '|' .. qty .. '|' .. ARGV[4])
redis.call('XADD', KEYS[7], '*', 'u', user, 'a', aid, 'q', qty, 't', ARGV[4])
redis.call('HINCRBY', KEYS[8], 'accepted', 1)
redis.call('HINCRBY', KEYS[8], 'units_accepted', qty)
return {'accepted', aid, tostring(qty), ARGV[4]}
`;

/**
 * Allocates lobby entries in ticket order once the window is over.
 * KEYS: rules, stock, buyers, lobby, lobby attempts, blacklist, accepted stream, counters, outcomes.
 * ARGV: now (ms), max.
 * Returns the entries handled, then user and attempt id of each refused F-code attempt.
 */
const ADMIT_LUA = `
local r = redis.call('HMGET', KEYS[1], 'starts', 'window')
if not r[1] then return {0} end
if tonumber(ARGV[1]) < tonumber(r[1]) + tonumber(r[2]) then return {0} end
local popped = redis.call('ZPOPMIN', KEYS[4], tonumber(ARGV[2]))
local out = {0}
for i = 1, #popped, 2 do
  local user = popped[i]
  out[1] = out[1] + 1
  local q = redis.call('HGET', KEYS[5], user)
  if q then
    redis.call('HDEL', KEYS[5], user)
    -- 'attempt|qty|early'; entries queued before the flag was kept have no third field.
    local aid, qty, early = string.match(q, '^([^|]+)|(%d+)|?(%d?)$')
    qty = tonumber(qty)
    local reason = nil
    if redis.call('SISMEMBER', KEYS[6], user) == 1 then reason = 'blacklisted'
    elseif tonumber(redis.call('GET', KEYS[2]) or '0') < qty then reason = 'sold_out' end
    if reason then
      redis.call('HSET', KEYS[9], user, aid .. '|' .. reason)
      redis.call('HINCRBY', KEYS[8], 'rejected:' .. reason, 1)
      if early == '1' then
        out[#out + 1] = user
        out[#out + 1] = aid
      end
    else
      redis.call('DECRBY', KEYS[2], qty)
      redis.call('HSET', KEYS[3], user, aid .. '|' .. qty .. '|' .. ARGV[1])
      redis.call('XADD', KEYS[7], '*', 'u', user, 'a', aid, 'q', qty, 't', ARGV[1])
      redis.call('HINCRBY', KEYS[8], 'accepted', 1)
      redis.call('HINCRBY', KEYS[8], 'units_accepted', qty)
    end
  end
end
return out
`;

/** KEYS: stock, buyers, released, counters. ARGV: user, attempt id. */
const RELEASE_LUA = `
local won = redis.call('HGET', KEYS[2], ARGV[1])
if not won then return 0 end
local wa, wq = string.match(won, '^([^|]+)|(%d+)|')
if wa ~= ARGV[2] then return 0 end
if redis.call('SADD', KEYS[3], ARGV[2]) == 0 then return 0 end
redis.call('INCRBY', KEYS[1], tonumber(wq))
redis.call('HINCRBY', KEYS[4], 'units_released', tonumber(wq))
return 1
`;

const GROUP = 'order-writers';

/**
 * Sets up a sale, or updates its rules. A sale whose rules are not here (never configured, or
 * Redis restarted empty) gets its stock and its winners first, in the same step, so no attempt sees
 * rules without the stock and the winners behind them.
 * KEYS: rules, stock, buyers, released, accepted stream.
 * ARGV: allotment, limit, starts, ends, early, window, stock, rules only (0/1: a sale not here is
 * left alone, answering -1), then per winner: user, 'attempt|qty|ms', released (0/1).
 */
const CONFIGURE_LUA = `
local fresh = redis.call('EXISTS', KEYS[1]) == 0
if fresh and ARGV[8] == '1' then return -1 end
if fresh then
  for i = 9, #ARGV, 3 do
    redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
    if ARGV[i + 2] == '1' then redis.call('SADD', KEYS[4], string.match(ARGV[i + 1], '^([^|]+)')) end
  end
  redis.call('SET', KEYS[2], ARGV[7])
end
redis.call('HSET', KEYS[1], 'allotment', ARGV[1], 'limit', ARGV[2], 'starts', ARGV[3], 'ends', ARGV[4],
  'early', ARGV[5], 'window', ARGV[6])
local group = redis.pcall('XGROUP', 'CREATE', KEYS[5], '${GROUP}', '0', 'MKSTREAM')
if type(group) == 'table' and group.err and not string.find(group.err, 'BUSYGROUP') then return group end
if fresh then return 1 end
return 0
`;

type RedisClient = Redis | Cluster;

interface ScriptCommands {
  flashAttempt(...args: Array<string | number>): Promise<string[]>;
  flashAdmit(...args: Array<string | number>): Promise<Array<number | string>>;
  flashRelease(...args: Array<string | number>): Promise<number>;
  flashConfigure(...args: Array<string | number>): Promise<number>;
}

/**
 * The Redis stock engine (standalone or Cluster: every key of a sale carries the hash tag
 * `{sale:<id>}`, so each script touches one slot). Accepted attempts go to a Redis Stream per sale
 * read by the consumer group `order-writers`; an entry stays in the group's pending list until the
 * order writer acknowledges it after its database commit, and a writer that died leaves its
 * entries for the next one to claim (XAUTOCLAIM).
 */
export class RedisStockEngine implements StockEngine {
  readonly kind = 'redis' as const;
  readonly #redis: RedisClient & ScriptCommands;
  readonly #prefix: string;
  readonly #owned: boolean;

  /**
   * `url` is a redis:// URL (a Cluster when `cluster` is set, with the URL as a seed node).
   * `prefix` goes before every key (tests give each suite its own); it must not contain braces.
   */
  constructor(options: { url?: string; client?: RedisClient; prefix?: string; cluster?: boolean }) {
    const prefix = options.prefix ?? 'millet:';
    if (/[{}]/.test(prefix)) throw new Error('The Redis key prefix must not contain braces');
    this.#prefix = prefix;
    let client = options.client;
    this.#owned = !client;
    if (!client) {
      if (!options.url) throw new Error('RedisStockEngine needs a url or a client');
      if (options.cluster) {
        const u = new URL(options.url);
        client = new Cluster([{ host: u.hostname, port: Number(u.port || 6379) }]);
      } else
        // One retry, and reconnects at least every half second (ioredis backs off to 2 s): with
        // Redis gone a launch-day crowd hears "try again" within about a second, instead of
        // hanging for seven; and a Redis that is back is found as soon.
        client = new Redis(options.url, {
          maxRetriesPerRequest: 1,
          retryStrategy: (times) => Math.min(times * 50, 500),
          enableAutoPipelining: true,
        });
      // Connection failures surface as each command's STORE_ENGINE_UNAVAILABLE; without a listener
      // ioredis also prints every failed reconnect to stderr.
      client.on('error', () => {});
    }
    client.defineCommand('flashAttempt', { numberOfKeys: 9, lua: ATTEMPT_LUA });
    client.defineCommand('flashAdmit', { numberOfKeys: 9, lua: ADMIT_LUA });
    client.defineCommand('flashRelease', { numberOfKeys: 4, lua: RELEASE_LUA });
    client.defineCommand('flashConfigure', { numberOfKeys: 5, lua: CONFIGURE_LUA });
    this.#redis = reportingUnavailable(client as RedisClient & ScriptCommands);
  }

  #key(saleId: string, name: string): string {
    return `${this.#prefix}{sale:${saleId}}:${name}`;
  }

  #keys(saleId: string, last: 'seq' | 'outcomes'): string[] {
    return [
      this.#key(saleId, 'rules'),
      this.#key(saleId, 'stock'),
      this.#key(saleId, 'buyers'),
      this.#key(saleId, 'lobby'),
      this.#key(saleId, 'lobbyq'),
      this.#key(saleId, 'blacklist'),
      this.#key(saleId, 'accepted'),
      this.#key(saleId, 'counters'),
      this.#key(saleId, last),
    ];
  }

  async configureSale(rules: SaleRules, setup: SaleSetup = {}): Promise<void> {
    const id = rules.saleId;
    const winners = (setup.winners ?? []).flatMap((w) => [
      w.userId,
      `${w.attemptId}|${w.quantity}|${w.acceptedAt}`,
      w.released ? '1' : '0',
    ]);
    await this.#redis.flashConfigure(
      this.#key(id, 'rules'),
      this.#key(id, 'stock'),
      this.#key(id, 'buyers'),
      this.#key(id, 'released'),
      this.#key(id, 'accepted'),
      rules.allotment,
      rules.perUserLimit,
      rules.startsAt,
      rules.endsAt,
      rules.earlyAccessFrom ?? -1,
      rules.admissionWindowMs,
      Math.max(0, rules.allotment - (setup.alreadyTaken ?? 0)),
      setup.rulesOnly ? '1' : '0',
      ...winners,
    );
  }

  async holdsSale(saleId: string): Promise<boolean> {
    return (await this.#redis.exists(this.#key(saleId, 'rules'))) === 1;
  }

  async attempt(input: AttemptInput): Promise<AttemptResult> {
    const reply = await this.#redis.flashAttempt(
      ...this.#keys(input.saleId, 'seq'),
      input.userId,
      input.attemptId,
      input.quantity,
      input.now,
      input.early ? '1' : '0',
      input.ticket,
    );
    return parseAttemptReply(reply);
  }

  async admit(saleId: string, now: number, max: number): Promise<AdmitResult> {
    const [handled, ...refused] = await this.#redis.flashAdmit(...this.#keys(saleId, 'outcomes'), now, max);
    const refusedEarly: AdmitResult['refusedEarly'] = [];
    for (let i = 0; i + 1 < refused.length; i += 2)
      refusedEarly.push({ userId: String(refused[i]), attemptId: String(refused[i + 1]) });
    return { handled: Number(handled), refusedEarly };
  }

  async outcome(saleId: string, userId: string, attemptId: string): Promise<AttemptOutcome> {
    const [won, queued, out] = await Promise.all([
      this.#redis.hget(this.#key(saleId, 'buyers'), userId),
      this.#redis.hget(this.#key(saleId, 'lobbyq'), userId),
      this.#redis.hget(this.#key(saleId, 'outcomes'), userId),
    ]);
    if (won) {
      const [a, q, t] = won.split('|');
      if (a === attemptId)
        return { status: 'accepted', attemptId, quantity: Number(q), acceptedAt: Number(t) };
    }
    if (queued) {
      const [a, q] = queued.split('|');
      if (a === attemptId) return { status: 'queued', attemptId, quantity: Number(q) };
    }
    if (out) {
      const [a, reason] = out.split('|');
      if (a === attemptId) return { status: 'rejected', reason: reason as RejectReason };
    }
    return { status: 'unknown' };
  }

  async release(saleId: string, userId: string, attemptId: string): Promise<boolean> {
    const n = await this.#redis.flashRelease(
      this.#key(saleId, 'stock'),
      this.#key(saleId, 'buyers'),
      this.#key(saleId, 'released'),
      this.#key(saleId, 'counters'),
      userId,
      attemptId,
    );
    return Number(n) === 1;
  }

  async setBlacklisted(saleId: string, userId: string, blacklisted: boolean): Promise<void> {
    if (blacklisted) await this.#redis.sadd(this.#key(saleId, 'blacklist'), userId);
    else await this.#redis.srem(this.#key(saleId, 'blacklist'), userId);
  }

  async readAccepted(
    saleId: string,
    consumer: string,
    options: { count: number; minIdleMs: number },
  ): Promise<AcceptedAttempt[]> {
    const stream = this.#key(saleId, 'accepted');
    const out: AcceptedAttempt[] = [];
    const claimed = (await this.#redis.xautoclaim(
      stream,
      GROUP,
      consumer,
      options.minIdleMs,
      '0-0',
      'COUNT',
      options.count,
    )) as [string, Array<[string, string[]] | null>, string[]?];
    for (const item of claimed[1]) if (item) out.push(streamEntry(saleId, item));
    const left = options.count - out.length;
    if (left > 0) {
      const read = (await this.#redis.xreadgroup(
        'GROUP',
        GROUP,
        consumer,
        'COUNT',
        left,
        'STREAMS',
        stream,
        '>',
      )) as Array<[string, Array<[string, string[]]>]> | null;
      for (const item of read?.[0]?.[1] ?? []) out.push(streamEntry(saleId, item));
    }
    return out;
  }

  async ack(saleId: string, entryIds: readonly string[]): Promise<void> {
    if (entryIds.length === 0) return;
    const stream = this.#key(saleId, 'accepted');
    await this.#redis.xack(stream, GROUP, ...entryIds);
    // Acknowledged entries are done with: delete them so the stream holds only what is in flight.
    await this.#redis.xdel(stream, ...entryIds);
  }

  async counters(saleId: string): Promise<SaleCounters> {
    const [hash, stock, lobby, pending, length] = await Promise.all([
      this.#redis.hgetall(this.#key(saleId, 'counters')),
      this.#redis.get(this.#key(saleId, 'stock')),
      this.#redis.zcard(this.#key(saleId, 'lobby')),
      this.#redis.xpending(this.#key(saleId, 'accepted'), GROUP).catch(() => [0]) as Promise<unknown[]>,
      this.#redis.xlen(this.#key(saleId, 'accepted')).catch(() => 0),
    ]);
    const rejected: Partial<Record<RejectReason, number>> = {};
    for (const reason of rejectReasons) {
      const n = Number(hash[`rejected:${reason}`] ?? 0);
      if (n > 0) rejected[reason] = n;
    }
    const pendingCount = Number(pending[0] ?? 0);
    return {
      remaining: Number(stock ?? 0),
      attempts: Number(hash.attempts ?? 0),
      accepted: Number(hash.accepted ?? 0),
      unitsAccepted: Number(hash.units_accepted ?? 0),
      unitsReleased: Number(hash.units_released ?? 0),
      queued: Number(hash.queued ?? 0),
      lobby,
      // Entries in the stream are either pending with a writer or never delivered.
      pendingHandOff: Math.max(pendingCount, length),
      rejected,
    };
  }

  async snapshot(
    saleId: string,
  ): Promise<{ remaining: number; inFlight: Array<{ attemptId: string; quantity: number }> }> {
    // Acknowledged entries are deleted, so the stream is exactly what is in flight; MULTI reads
    // it and the stock at one moment.
    const replies = await this.#redis
      .multi()
      .get(this.#key(saleId, 'stock'))
      .xrange(this.#key(saleId, 'accepted'), '-', '+')
      .exec()
      .catch(rethrowUnavailable);
    const stock = replies?.[0]?.[1] as string | null;
    const entries = (replies?.[1]?.[1] ?? []) as Array<[string, string[]]>;
    return {
      remaining: Number(stock ?? 0),
      inFlight: entries.map((item) => {
        const e = streamEntry(saleId, item);
        return { attemptId: e.attemptId, quantity: e.quantity };
      }),
    };
  }

  /** Deletes every key under `prefix` on a standalone Redis (tests clean up their runs with it). */
  static async deleteKeys(url: string, prefix: string): Promise<number> {
    if (/[*?[\]{}]/.test(prefix) || prefix.length < 4)
      throw new Error('Refusing to delete under that prefix');
    const redis = new Redis(url);
    let deleted = 0;
    try {
      for await (const keys of redis.scanStream({ match: `${prefix}*`, count: 500 })) {
        const batch = keys as string[];
        if (batch.length > 0) deleted += await redis.del(...batch);
      }
    } finally {
      await redis.quit();
    }
    return deleted;
  }

  /** Deletes every key of a sale (tests). */
  async dropSale(saleId: string): Promise<void> {
    const names = [
      'rules',
      'stock',
      'buyers',
      'lobby',
      'lobbyq',
      'blacklist',
      'accepted',
      'counters',
      'seq',
      'outcomes',
      'released',
    ];
    await this.#redis.del(...names.map((n) => this.#key(saleId, n)));
  }

  async close(): Promise<void> {
    if (this.#owned) await this.#redis.quit();
  }
}

function parseAttemptReply(reply: string[]): AttemptResult {
  const [status, a, b, c] = reply;
  if (status === 'accepted') return { status, attemptId: a!, quantity: Number(b), acceptedAt: Number(c) };
  if (status === 'queued') return { status, attemptId: a!, quantity: Number(b) };
  return { status: 'rejected', reason: a as RejectReason };
}

function streamEntry(saleId: string, [id, fields]: [string, string[]]): AcceptedAttempt {
  const f: Record<string, string> = {};
  for (let i = 0; i < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
  return {
    entryId: id,
    saleId,
    userId: f.u!,
    attemptId: f.a!,
    quantity: Number(f.q),
    acceptedAt: Number(f.t),
  };
}
