import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedWebhook {
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface Receiver {
  url: string;
  received: ReceivedWebhook[];
  /** TCP connections accepted so far (a kept-alive one counts once). */
  readonly connections: number;
  close(): Promise<void>;
}

/**
 * A real HTTP server on 127.0.0.1 (port 0) standing in for a merchant: records every request and
 * answers with what `respond` returns (status, optional body, optional delay in ms).
 */
export async function startReceiver(
  respond: (request: ReceivedWebhook, index: number) => { status: number; body?: string; delayMs?: number },
): Promise<Receiver> {
  const received: ReceivedWebhook[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request = { headers: req.headers, body: Buffer.concat(chunks) };
      const index = received.push(request) - 1;
      const answer = respond(request, index);
      const send = () => {
        res.writeHead(answer.status, { 'content-type': 'text/plain' });
        res.end(answer.body ?? '');
      };
      if (answer.delayMs) setTimeout(send, answer.delayMs);
      else send();
    });
  });
  let connections = 0;
  server.on('connection', () => (connections += 1));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    received,
    get connections() {
      return connections;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
