import fs from 'node:fs';
import path from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';

/** The built web app's folder (`npm run build:web` writes it), or undefined when it is not built. */
export function builtWebRoot(root: string): string | undefined {
  return fs.existsSync(path.join(root, 'index.html')) ? root : undefined;
}

/**
 * Sent with the HTML pages. The console keeps an operator key in the tab (sessionStorage) and the
 * wallet a user's tokens: scripts run only from this origin's files (no inline script, no eval),
 * and no other site may frame the pages to trick a click (a transfer, a merchant suspended). React
 * sets styles through the DOM, which style-src does not govern; inline styles stay allowed for what
 * a library might add.
 */
export const WEB_PAGE_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; '),
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/**
 * Serves the built web app (web/dist): the wallet at `/`, the operator console at `/console`, their
 * hashed assets under `/assets/` (cached for a year; the HTML pages are never cached). The pages
 * route with the URL hash, so no path needs an HTML fallback. Hidden from the OpenAPI document.
 */
export async function installWebApp(app: FastifyInstance, root: string): Promise<void> {
  await app.register(fastifyStatic, {
    root,
    prefix: '/',
    index: ['index.html'],
    wildcard: true,
    cacheControl: false,
    setHeaders(res, filePath) {
      const asset = filePath.includes(`${path.sep}assets${path.sep}`);
      res.setHeader('cache-control', asset ? 'public, max-age=31536000, immutable' : 'no-cache');
      if (asset) res.setHeader('x-content-type-options', 'nosniff');
      else for (const [name, value] of Object.entries(WEB_PAGE_HEADERS)) res.setHeader(name, value);
    },
  });
  for (const url of ['/console', '/console/'])
    app.get(url, { schema: { hide: true } }, (_request, reply) => reply.sendFile('console.html'));
}
