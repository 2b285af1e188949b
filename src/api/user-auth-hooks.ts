import type { FastifyInstance } from 'fastify';
import { MilletError } from '../core/index.ts';
import type { Identity } from '../identity/index.ts';
import { bearerToken } from './bearer-token.ts';
import './request-context.ts';
import { addRouteHook } from './route-hooks.ts';

/**
 * Routes with `config.userAuth` need `Authorization: Bearer <access token>` from a user's log-in.
 * Operator keys (`mlt_op_…`) keep working on operator routes and are refused here with a clear word.
 */
export function installUserAuth(app: FastifyInstance, identity: Identity): void {
  app.decorateRequest('user', null);
  addRouteHook(
    app,
    'onRequest',
    (route) => Boolean(route.config?.userAuth),
    async (request) => {
      const token = bearerToken(request.headers.authorization);
      if (!token)
        throw new MilletError(
          'UNAUTHENTICATED',
          'Send the access token from POST /v1/sessions as "Authorization: Bearer …"',
        );
      if (token.startsWith('mlt_op_'))
        throw new MilletError(
          'UNAUTHENTICATED',
          'This route is for users: send a user access token, not an operator key',
        );
      const { userAuth, prefetch } = request.routeOptions.config;
      if (userAuth === 'stateless') {
        request.user = await identity.verifyAccessToken(token);
        return;
      }
      const authenticated = identity.authenticate(token);
      if (prefetch) {
        authenticated.catch(() => {}); // awaited below
        // The signature check is cached from `authenticate`'s: this is its verified user.
        const claimed = await identity.verifyAccessToken(token).catch(() => null);
        if (claimed) prefetch(request, claimed.userId);
      }
      request.user = await authenticated;
    },
  );
}
