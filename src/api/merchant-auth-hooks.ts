import type { FastifyInstance } from 'fastify';
import { MilletError } from '../core/index.ts';
import type { Merchants } from '../merchants/index.ts';
import { bearerToken } from './bearer-token.ts';
import './request-context.ts';
import { addRouteHook } from './route-hooks.ts';

/**
 * Routes with `config.merchantAuth` need `Authorization: Bearer mlt_mk_…`: an active merchant API
 * key carrying that scope. The key is bound to one merchant, which becomes `request.merchant`.
 */
export function installMerchantAuth(
  app: FastifyInstance,
  merchants: Pick<Merchants, 'authenticateKey'>,
): void {
  app.decorateRequest('merchant', null);
  addRouteHook(
    app,
    'onRequest',
    (route) => Boolean(route.config?.merchantAuth),
    async (request) => {
      const scope = request.routeOptions.config.merchantAuth!;
      const token = bearerToken(request.headers.authorization);
      if (!token)
        throw new MilletError(
          'UNAUTHENTICATED',
          'Send a merchant API key as "Authorization: Bearer mlt_mk_…"',
        );
      const merchant = await merchants.authenticateKey(token);
      if (!merchant)
        throw new MilletError('UNAUTHENTICATED', 'The merchant API key is not valid, or it has been revoked');
      if (!merchant.scopes.includes(scope))
        throw new MilletError(
          'FORBIDDEN_SCOPE',
          `This route needs a merchant API key with the "${scope}" scope`,
          {
            requiredScope: scope,
          },
        );
      request.merchant = merchant;
    },
  );
}
