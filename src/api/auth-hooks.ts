import type { FastifyInstance } from 'fastify';
import { MilletError } from '../core/index.ts';
import type { OperatorKeyStore } from './operator-keys.ts';
import { bearerToken } from './bearer-token.ts';
import './request-context.ts';
import { addRouteHook } from './route-hooks.ts';

/** Routes with `config.scope` need `Authorization: Bearer <operator key>` carrying that scope. */
export function installOperatorAuth(app: FastifyInstance, operatorKeys: OperatorKeyStore): void {
  app.decorateRequest('operator', null);
  addRouteHook(
    app,
    'onRequest',
    (route) => Boolean(route.config?.scope),
    async (request) => {
      const scope = request.routeOptions.config.scope!;
      const token = bearerToken(request.headers.authorization);
      if (!token)
        throw new MilletError(
          'UNAUTHENTICATED',
          'Send an operator API key as "Authorization: Bearer mlt_op_…"',
        );
      const operator = await operatorKeys.authenticate(token);
      if (!operator)
        throw new MilletError('UNAUTHENTICATED', 'The API key is not valid, or it has been revoked');
      if (!operator.scopes.includes(scope)) {
        throw new MilletError('FORBIDDEN_SCOPE', `This route needs an API key with the "${scope}" scope`, {
          requiredScope: scope,
        });
      }
      request.operator = operator;
    },
  );
}
