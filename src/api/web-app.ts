import fs from 'node:fs';
import path from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';

/** The built web app's folder (`npm run build:web` writes it), or undefined when it is not built. */
export function builtWebRoot(root: string): string | undefined {
  return fs.existsSync(path.join(root, 'index.html')) ? root : undefined;
}

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
      res.setHeader(
        'cache-control',
        filePath.includes(`${path.sep}assets${path.sep}`)
          ? 'public, max-age=31536000, immutable'
          : 'no-cache',
      );
    },
  });
  for (const url of ['/console', '/console/'])
    app.get(url, { schema: { hide: true } }, (_request, reply) => reply.sendFile('console.html'));
}
