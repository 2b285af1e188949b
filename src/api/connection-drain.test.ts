import net from 'node:net';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { installConnectionDrain } from './connection-drain.ts';

async function listening() {
  const app = Fastify({ return503OnClosing: true, logger: false });
  installConnectionDrain(app);
  app.post('/callback', async (request) => {
    const { wait } = request.query as { wait?: string };
    if (wait) await new Promise((resolve) => setTimeout(resolve, Number(wait)));
    return { ok: true };
  });
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  return { app, address, port: Number(new URL(address).port) };
}

/** Milliseconds `app.close()` takes, or Infinity past `limit` (Node would wait out 60-72 s). */
async function closeTime(app: { close(): Promise<unknown> }, limit = 2_000): Promise<number> {
  const started = Date.now();
  const closed = app.close().then(() => Date.now() - started);
  const late = new Promise<number>((resolve) => setTimeout(() => resolve(Infinity), limit).unref());
  return Promise.race([closed, late]);
}

const callback = (address: string, query = '') =>
  fetch(`${address}/callback${query}`, {
    method: 'POST',
    body: '{"type":"disbursed"}',
    headers: { 'content-type': 'application/json' },
  });

describe('connection drain on close', () => {
  it('closes promptly with a keep-alive connection opened but not yet used', async () => {
    const { app, address, port } = await listening();
    expect((await callback(address)).status).toBe(200);
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => {});
    await new Promise((resolve) => socket.once('connect', resolve));
    expect(await closeTime(app)).toBeLessThan(1_000);
    socket.destroy();
  });

  it('lets a request in flight finish, then closes its keep-alive connection promptly', async () => {
    const { app, address } = await listening();
    // Closed once the server has the request, not after a fixed wait: a process's first fetch can
    // take longer than any such wait to send it, and a connection with no request on it yet is one
    // the drain ends (the test above).
    const arrived = new Promise((resolve) => app.server.once('request', resolve));
    const inFlight = callback(address, '?wait=200');
    await arrived;
    const took = closeTime(app);
    const response = await inFlight;
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ ok: true });
    expect(await took).toBeLessThan(1_000);
  });
});
