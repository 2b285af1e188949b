import http from 'node:http';
import { isIP, type AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import {
  checkWebhookUrl,
  generateWebhookSecret,
  policyLookup,
  webhookSigningKey,
  type ResolveHost,
} from '../webhooks/index.ts';
import { startPartnerSim, type PartnerSim } from './partner-sim.ts';
import type { PartnerEndpointPolicy } from './partners.ts';
import { PartnerPinger } from './pinger.ts';

/** The webhooks instance's policy as the marketplace gets it, with a stand-in for DNS. */
function policy(allowLoopback: boolean, resolveHost?: ResolveHost): PartnerEndpointPolicy {
  const lookup = policyLookup({ allowLoopback }, resolveHost);
  return {
    checkUrl: (url, field = 'url') => checkWebhookUrl(url, field, { allowLoopback }),
    connectLookup: () => lookup,
  };
}

/** The partners below listen on 127.0.0.1, as in development (MILLET_WEBHOOKS_ALLOW_LOOPBACK). */
const loopbackAllowed = policy(true);

/** A resolver standing in for DNS: each name to the addresses it currently gives; records lookups. */
function fakeDns(answers: Record<string, string[]>) {
  const lookups: string[] = [];
  const resolveHost: ResolveHost = async (host) => {
    lookups.push(host);
    const addresses = answers[host];
    if (!addresses) throw Object.assign(new Error(`no such name ${host}`), { code: 'ENOTFOUND' });
    return addresses.map((address) => ({ address, family: isIP(address) }));
  };
  return { answers, lookups, resolveHost };
}

const sims: PartnerSim[] = [];
const pingers: PartnerPinger[] = [];
afterAll(async () => {
  await Promise.all(pingers.map((p) => p.close()));
  await Promise.all(sims.map((s) => s.close()));
});

const body = JSON.stringify({
  ping_id: 'app-1',
  product: 'loan',
  score_band: 'B',
  amount: '500000',
  term_months: 12,
  region_code: '110105',
});

async function sim(options: Parameters<typeof startPartnerSim>[0]): Promise<PartnerSim> {
  const started = await startPartnerSim(options);
  sims.push(started);
  return started;
}

describe('PartnerPinger', () => {
  it('answers at the deadline with what arrived, a timeout for the rest, and signatures the partners accept', async () => {
    const secret = generateWebhookSecret();
    const key = webhookSigningKey(secret);
    const fast = await sim({ secret, latencyMs: 5 });
    const slow = await sim({ secret, latencyMs: 1_000 });
    const silent = await sim({ secret, neverAnswer: true });
    const stranger = await sim({ secret: generateWebhookSecret(), latencyMs: 5 });
    const pinger = new PartnerPinger(loopbackAllowed, { connectionsPerPartner: 4, lingerMs: 100 });
    pingers.push(pinger);

    const started = performance.now();
    const replies = await pinger.pingAll(
      [fast, slow, silent, stranger].map((s) => ({ url: s.url, key })),
      body,
      300,
    );
    const elapsed = performance.now() - started;

    expect(elapsed).toBeGreaterThanOrEqual(295);
    expect(elapsed).toBeLessThan(900); // the slow partner's 1 s is not waited for
    expect(replies.map((r) => r.outcome)).toEqual(['answered', 'timeout', 'timeout', 'error']);
    const offers = JSON.parse(replies[0]!.text!) as { offers: Array<{ amount: string }> };
    expect(offers.offers[0]!.amount).toBe('500000');
    // The partners verified the signature and saw exactly the ping; the one with another secret
    // refused it (401) and recorded nothing.
    expect(fast.received.pings).toEqual([JSON.parse(body)]);
    expect(silent.received.pings).toHaveLength(1);
    expect(stranger.received.pings).toHaveLength(0);
  });

  it('resolves as soon as every partner has answered', async () => {
    const secret = generateWebhookSecret();
    const key = webhookSigningKey(secret);
    const a = await sim({ secret, latencyMs: 5 });
    const b = await sim({ secret, latencyMs: 20 });
    const pinger = new PartnerPinger(loopbackAllowed);
    pingers.push(pinger);
    const started = performance.now();
    const replies = await pinger.pingAll(
      [a, b].map((s) => ({ url: s.url, key })),
      body,
      5_000,
    );
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(replies.map((r) => r.outcome)).toEqual(['answered', 'answered']);
    expect(replies[1]!.latencyMs).toBeGreaterThanOrEqual(replies[0]!.latencyMs!);
    expect(await pinger.pingAll([], body, 5_000)).toEqual([]);
  });

  it('reuses its connections: a late answer is read after the deadline instead of costing the socket', async () => {
    const secret = generateWebhookSecret();
    const key = webhookSigningKey(secret);
    const late = await sim({ secret, latencyMs: 150 });
    const pinger = new PartnerPinger(loopbackAllowed, { connectionsPerPartner: 1, lingerMs: 1_000 });
    pingers.push(pinger);
    // With one connection, a request aborted at the deadline would destroy it; lingering, the
    // late answer arrives and the next ping goes out on the same socket and is answered in time.
    const first = await pinger.pingAll([{ url: late.url, key }], body, 50);
    expect(first[0]!.outcome).toBe('timeout');
    const second = await pinger.pingAll([{ url: late.url, key }], body, 2_000);
    expect(second[0]!.outcome).toBe('answered');
    expect(late.connections()).toBe(1);
  });

  it('reads an answer whose chunks split a UTF-8 character', async () => {
    const answer = Buffer.from(JSON.stringify({ offers: [{ promotion: '首期免息 30 天' }] }));
    const split = answer.indexOf(Buffer.from('免')) + 1; // inside the character's three bytes
    const server = http.createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.write(answer.subarray(0, split));
      setTimeout(() => response.end(answer.subarray(split)), 20);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const pinger = new PartnerPinger(loopbackAllowed);
    try {
      const { port } = server.address() as AddressInfo;
      const key = webhookSigningKey(generateWebhookSecret());
      const [reply] = await pinger.pingAll([{ url: `http://127.0.0.1:${port}`, key }], body, 2_000);
      expect(reply!.outcome).toBe('answered');
      expect(reply!.text).toBe(answer.toString('utf8'));
    } finally {
      await pinger.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('stops pinging a partner that never answers, probes it, and pings it again once it answers', async () => {
    // A partner whose answers can be switched off: while off it takes requests and never replies.
    let answering = false;
    let received = 0;
    const server = http.createServer((request, response) => {
      received += 1;
      request.resume();
      if (answering) response.writeHead(200, { 'content-type': 'application/json' }).end('{"offers":[]}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const pinger = new PartnerPinger(loopbackAllowed, {
      lingerMs: 50,
      unresponsiveAfter: 3,
      probeEveryMs: 400,
    });
    try {
      const { port } = server.address() as AddressInfo;
      const target = [{ url: `http://127.0.0.1:${port}`, key: webhookSigningKey(generateWebhookSecret()) }];
      const ping = async (timeoutMs = 30) => (await pinger.pingAll(target, body, timeoutMs))[0]!;
      const lingerOver = () => new Promise((r) => setTimeout(r, 50 + 250)); // linger + the sweep's 100 ms tick, with room

      // Unanswered pings: timeouts, each aborted after the linger time.
      for (let i = 0; i < 3; i++) expect((await ping()).outcome).toBe('timeout');
      await lingerOver();
      expect(received).toBe(3);
      // The breaker is open: no request, an immediate reply that says why.
      const started = performance.now();
      const skipped = await ping(5_000);
      expect(performance.now() - started).toBeLessThan(100);
      expect(skipped).toEqual({ outcome: 'unresponsive', failures: 3 });
      expect(received).toBe(3);

      // After the probe interval one ping goes out as a probe; it is not answered, so the breaker stays open.
      await new Promise((r) => setTimeout(r, 600));
      expect((await ping()).outcome).toBe('timeout');
      expect((await ping()).outcome).toBe('unresponsive');
      await lingerOver();
      expect(received).toBe(4);

      // The partner is back: the next probe is answered and every ping goes out again.
      answering = true;
      await new Promise((r) => setTimeout(r, 600));
      expect((await ping(2_000)).outcome).toBe('answered');
      expect((await ping(2_000)).outcome).toBe('answered');
      expect(received).toBe(6);
    } finally {
      await pinger.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('keeps pinging a slow partner whose answers arrive after the deadline', async () => {
    const secret = generateWebhookSecret();
    const late = await sim({ secret, latencyMs: 80 });
    const pinger = new PartnerPinger(loopbackAllowed, {
      lingerMs: 1_000,
      unresponsiveAfter: 1,
      probeEveryMs: 60_000,
    });
    pingers.push(pinger);
    const target = [{ url: late.url, key: webhookSigningKey(secret) }];
    for (let i = 0; i < 3; i++) {
      expect((await pinger.pingAll(target, body, 20))[0]!.outcome).toBe('timeout');
      await new Promise((r) => setTimeout(r, 150)); // the late answer arrives: the partner is alive
    }
    expect(late.received.pings).toHaveLength(3);
  });

  it('counts a refused connection against the partner', async () => {
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise((resolve) => server.close(resolve)); // nothing listens on the port now
    const pinger = new PartnerPinger(loopbackAllowed, { unresponsiveAfter: 2, probeEveryMs: 60_000 });
    pingers.push(pinger);
    const target = [{ url: `http://127.0.0.1:${port}`, key: webhookSigningKey(generateWebhookSecret()) }];
    expect((await pinger.pingAll(target, body, 2_000))[0]!.outcome).toBe('error');
    expect((await pinger.pingAll(target, body, 2_000))[0]!.outcome).toBe('error');
    expect((await pinger.pingAll(target, body, 2_000))[0]).toEqual({ outcome: 'unresponsive', failures: 2 });
  });
});

describe('PartnerPinger and the policy on where requests may go', () => {
  const key = webhookSigningKey(generateWebhookSecret());

  it('connects only to addresses the policy allows, as the name resolves at ping time', async () => {
    const secret = generateWebhookSecret();
    const [named, rebound, mixed] = [await sim({ secret }), await sim({ secret }), await sim({ secret })];
    // Each name was allowed when the partner was saved (a name is only a name then); what it
    // resolves to when the ping connects decides. lender.localhost is not in the system's resolver
    // here: only the lookup's answer can reach the sim.
    const dns = fakeDns({
      'lender.localhost': ['127.0.0.1'],
      'rebound.localhost': ['10.0.0.5'],
      'mixed.localhost': ['127.0.0.1', '169.254.169.254'],
    });
    const pinger = new PartnerPinger(policy(true, dns.resolveHost));
    pingers.push(pinger);
    const replies = await pinger.pingAll(
      [
        { url: `http://lender.localhost:${named.port}`, key: webhookSigningKey(secret) },
        { url: `http://rebound.localhost:${rebound.port}`, key },
        { url: `http://mixed.localhost:${mixed.port}`, key },
      ],
      body,
      2_000,
    );
    expect(replies[0]!.outcome).toBe('answered');
    expect(replies.slice(1)).toEqual([
      {
        outcome: 'error',
        latencyMs: expect.any(Number),
        reason: 'refused: rebound.localhost resolves to 10.0.0.5, a private address',
      },
      {
        outcome: 'error',
        latencyMs: expect.any(Number),
        reason: 'refused: mixed.localhost resolves to 169.254.169.254, a link-local address',
      },
    ]);
    expect([named.connections(), rebound.connections(), mixed.connections()]).toEqual([1, 0, 0]);
    expect(dns.lookups.sort()).toEqual(['lender.localhost', 'mixed.localhost', 'rebound.localhost']);
  });

  it('checks every new connection: a name pointed at a private address after a ping is not followed', async () => {
    // Answers, then closes the connection, so every ping needs a new one.
    let requests = 0;
    const server = http.createServer((request, response) => {
      requests += 1;
      request.resume();
      response
        .writeHead(200, { 'content-type': 'application/json', connection: 'close' })
        .end('{"offers":[]}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const dns = fakeDns({ 'lender.localhost': ['127.0.0.1'] });
    const pinger = new PartnerPinger(policy(true, dns.resolveHost), { unresponsiveAfter: 0 });
    try {
      const target = [{ url: `http://lender.localhost:${(server.address() as AddressInfo).port}`, key }];
      expect((await pinger.pingAll(target, body, 2_000))[0]!.outcome).toBe('answered');
      dns.answers['lender.localhost'] = ['192.168.1.10'];
      expect((await pinger.pingAll(target, body, 2_000))[0]).toMatchObject({
        outcome: 'error',
        reason: 'refused: lender.localhost resolves to 192.168.1.10, a private address',
      });
      dns.answers['lender.localhost'] = ['127.0.0.1'];
      expect((await pinger.pingAll(target, body, 2_000))[0]!.outcome).toBe('answered');
      expect(requests).toBe(2);
    } finally {
      await pinger.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("refuses this machine's loopback unless the policy allows it, sending nothing", async () => {
    const secret = generateWebhookSecret();
    const partner = await sim({ secret });
    // Saved as a public https name; at ping time it resolves to this machine.
    const dns = fakeDns({ 'lender.example': ['127.0.0.1'] });
    const url = `https://lender.example:${partner.port}`;
    const strict = new PartnerPinger(policy(false, dns.resolveHost));
    pingers.push(strict);
    expect((await strict.pingAll([{ url, key }], body, 2_000))[0]).toMatchObject({
      outcome: 'error',
      reason: 'refused: lender.example resolves to 127.0.0.1, a loopback address',
    });
    expect(partner.connections()).toBe(0);
    // A URL naming the loopback itself (saved while loopback was allowed): Node asks no lookup for
    // an IP literal, so the URL is checked again, and nothing is asked or sent.
    expect((await strict.pingAll([{ url: partner.url, key }], body, 2_000))[0]).toEqual({
      outcome: 'error',
      latencyMs: 0,
      reason: 'refused: The webhook URL must name a public host, not a loopback address (127.0.0.1)',
    });
    expect(partner.connections()).toBe(0);
    expect(dns.lookups).toEqual(['lender.example']);

    // Where loopback is allowed, the same name is connected to (the TLS handshake with the plain
    // http sim fails, but the connection was made).
    const lenient = new PartnerPinger(policy(true, dns.resolveHost));
    pingers.push(lenient);
    expect((await lenient.pingAll([{ url, key }], body, 2_000))[0]).toEqual({
      outcome: 'error',
      latencyMs: expect.any(Number),
    });
    expect(partner.connections()).toBe(1);
    expect(
      (await lenient.pingAll([{ url: partner.url, key: webhookSigningKey(secret) }], body, 2_000))[0]!
        .outcome,
    ).toBe('answered');
  });
});
