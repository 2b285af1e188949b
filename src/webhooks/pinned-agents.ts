import type { LookupAddress } from 'node:dns';
import { Agent } from 'undici';
import { pinnedLookup } from './delivery-target.ts';

/** Hosts (with their checked addresses) whose connections are kept between attempts. */
export const DEFAULT_MAX_PINNED_AGENTS = 64;

interface Entry {
  agent: Agent;
  /** Attempts using the agent now: an evicted agent is closed once the last one is done. */
  users: number;
  evicted: boolean;
}

/**
 * undici agents whose connections go only to the addresses an attempt checked, kept so that
 * attempts to the same host reuse a keep-alive connection instead of a new TCP (and TLS) handshake
 * each. An agent is keyed by the host and the set of addresses it was checked to resolve to: a
 * different DNS answer gets a different agent, so a connection never reaches an address that was
 * not checked for that name. At most `maxAgents` are kept; the least recently used goes first,
 * closed gracefully once no attempt is using it.
 */
export class PinnedAgents {
  readonly #entries = new Map<string, Entry>();
  readonly #maxAgents: number;

  constructor(maxAgents = DEFAULT_MAX_PINNED_AGENTS) {
    if (!Number.isInteger(maxAgents) || maxAgents < 1) throw new RangeError('maxAgents must be 1 or more');
    this.#maxAgents = maxAgents;
  }

  /** Runs `work` with the agent for `host` pinned to `addresses`. */
  async using<T>(
    host: string,
    addresses: readonly LookupAddress[],
    work: (agent: Agent) => Promise<T>,
  ): Promise<T> {
    const entry = this.#acquire(host, addresses);
    try {
      return await work(entry.agent);
    } finally {
      entry.users -= 1;
      if (entry.evicted && entry.users === 0) void entry.agent.close().catch(() => {});
    }
  }

  /** How many agents are kept (for tests). */
  get size(): number {
    return this.#entries.size;
  }

  /** Closes every agent (those in use once their attempts finish); new attempts get new ones. */
  async close(): Promise<void> {
    const entries = [...this.#entries.values()];
    this.#entries.clear();
    await Promise.all(entries.map((entry) => this.#evict(entry)));
  }

  #acquire(host: string, addresses: readonly LookupAddress[]): Entry {
    const key = `${host} ${addresses
      .map((a) => a.address)
      .sort()
      .join(' ')}`;
    let entry = this.#entries.get(key);
    if (entry)
      this.#entries.delete(key); // re-inserted below: the most recently used
    else
      entry = {
        agent: new Agent({ connect: { lookup: pinnedLookup(addresses) } }),
        users: 0,
        evicted: false,
      };
    this.#entries.set(key, entry);
    entry.users += 1;
    while (this.#entries.size > this.#maxAgents) {
      const [oldestKey, oldest] = this.#entries.entries().next().value!;
      this.#entries.delete(oldestKey);
      void this.#evict(oldest);
    }
    return entry;
  }

  async #evict(entry: Entry): Promise<void> {
    entry.evicted = true;
    if (entry.users === 0) await entry.agent.close().catch(() => {});
  }
}
