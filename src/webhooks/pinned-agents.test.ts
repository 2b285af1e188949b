import type { LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import type { Agent } from 'undici';
import { describe, expect, it } from 'vitest';
import { PinnedAgents } from './pinned-agents.ts';

const at = (...addresses: string[]): LookupAddress[] =>
  addresses.map((address) => ({ address, family: isIP(address) }));

const agentFor = (agents: PinnedAgents, host: string, addresses: LookupAddress[]) =>
  agents.using(host, addresses, async (agent) => agent);

/** Lets a pending close() settle. */
const settled = () => new Promise((resolve) => setImmediate(resolve));

describe('PinnedAgents', () => {
  it('shares an agent only between attempts to the same host checked to the same addresses', async () => {
    const agents = new PinnedAgents();
    const first = await agentFor(agents, 'hooks.example', at('93.184.216.34', '2606:4700::1'));
    expect(await agentFor(agents, 'hooks.example', at('2606:4700::1', '93.184.216.34'))).toBe(first);
    // A new DNS answer (a rebind, or simply a change) never reuses connections to the old one.
    expect(await agentFor(agents, 'hooks.example', at('93.184.216.34'))).not.toBe(first);
    expect(await agentFor(agents, 'other.example', at('93.184.216.34', '2606:4700::1'))).not.toBe(first);
    expect(agents.size).toBe(3);
    await agents.close();
    expect(first.closed).toBe(true);
    expect(agents.size).toBe(0);
    expect(await agentFor(agents, 'hooks.example', at('93.184.216.34', '2606:4700::1'))).not.toBe(first);
    await agents.close();
  });

  it('keeps at most maxAgents, closing the least recently used', async () => {
    const agents = new PinnedAgents(2);
    const a = await agentFor(agents, 'a.example', at('93.184.216.1'));
    const b = await agentFor(agents, 'b.example', at('93.184.216.2'));
    expect(await agentFor(agents, 'a.example', at('93.184.216.1'))).toBe(a); // a is now the most recent
    const c = await agentFor(agents, 'c.example', at('93.184.216.3'));
    await settled();
    expect(agents.size).toBe(2);
    expect(b.closed).toBe(true);
    expect([a.closed, c.closed]).toEqual([false, false]);
    expect(await agentFor(agents, 'b.example', at('93.184.216.2'))).not.toBe(b);
    await agents.close();
    expect(() => new PinnedAgents(0)).toThrow(RangeError);
  });

  it('closes an agent evicted while an attempt uses it only once that attempt is done', async () => {
    const agents = new PinnedAgents(1);
    let finish!: () => void;
    let busy!: Agent;
    const attempt = agents.using('slow.example', at('93.184.216.1'), (agent) => {
      busy = agent;
      return new Promise<void>((resolve) => (finish = resolve));
    });
    await agentFor(agents, 'fast.example', at('93.184.216.2'));
    await agents.close();
    expect(busy.closed).toBe(false);
    finish();
    await attempt;
    await settled();
    expect(busy.closed).toBe(true);
  });
});
