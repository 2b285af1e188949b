import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { addRouteHook, isPost } from './route-hooks.ts';

describe('route hooks', () => {
  it("runs a hook on the routes it applies to only, after the route's own hooks", async () => {
    const app = Fastify();
    const seen: string[] = [];
    addRouteHook(
      app,
      'onRequest',
      (route) => route.url.startsWith('/guarded'),
      async (request) => {
        seen.push(`guard ${request.url}`);
      },
    );
    addRouteHook(app, 'preValidation', isPost, async (request) => {
      seen.push(`post ${request.url}`);
    });
    app.get(
      '/guarded',
      {
        onRequest: async (request) => {
          seen.push(`own ${request.url}`);
        },
      },
      async () => 'g',
    );
    app.post('/guarded/form', async () => 'f');
    app.route({ method: ['GET', 'POST'], url: '/open', handler: async () => 'o' });
    for (const [method, url] of [
      ['GET', '/guarded'],
      ['POST', '/guarded/form'],
      ['GET', '/open'],
      ['POST', '/open'],
      ['GET', '/nowhere'],
    ] as const)
      await app.inject({ method, url });
    expect(seen).toEqual([
      'own /guarded',
      'guard /guarded',
      'guard /guarded/form',
      'post /guarded/form',
      // A route answering GET and POST gets the POST hook; its handler decides per method.
      'post /open',
      'post /open',
    ]);
    await app.close();
  });
});
