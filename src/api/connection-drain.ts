import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';

/**
 * Ends every open connection once a close has begun and no request is in flight.
 *
 * Node's `server.close()` closes only the connections idle at that moment, and Node counts as busy
 * both a connection with a request in flight and one opened with no request on it yet (it is timed
 * against headersTimeout). Either would then hold the close open until the peer hangs up or a
 * server timeout fires (72 s keep-alive, 60 s headers), far past `millet start`'s close timeout, so
 * a SIGTERM during partner callbacks ended in "close timed out". Requests in flight still finish:
 * the connections are ended only after the last response is written, and `end` flushes it first.
 */
export function installConnectionDrain(app: FastifyInstance): void {
  const sockets = new Set<Socket>();
  let inFlight = 0;
  let closing = false;
  const drain = () => {
    if (!closing || inFlight > 0) return;
    for (const socket of sockets) {
      sockets.delete(socket);
      socket.end(() => socket.destroy());
    }
  };
  app.server.on('connection', (socket: Socket) => {
    if (closing && inFlight === 0) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  // The server's own request event rather than a Fastify hook: it also counts the answers Fastify
  // gives before routing (a 503 while closing, a malformed URL).
  app.server.on('request', (_request, response) => {
    inFlight += 1;
    response.once('close', () => {
      inFlight -= 1;
      drain();
    });
  });
  app.addHook('preClose', (done) => {
    closing = true;
    drain();
    done();
  });
}
