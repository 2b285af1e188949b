import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { createJsonSchemaTransform } from 'fastify-type-provider-zod';
import { IDEMPOTENCY_KEY_HEADER } from './idempotency-hooks.ts';
import './request-context.ts';

const zodTransform = createJsonSchemaTransform({ skipList: ['/openapi.json', '/metrics'] });
const SECURITY_SCHEME = 'operatorKey';
const USER_SECURITY_SCHEME = 'userAccessToken';
const MERCHANT_SECURITY_SCHEME = 'merchantKey';

const idempotencyKeyHeader = {
  type: 'object',
  properties: {
    [IDEMPOTENCY_KEY_HEADER]: {
      type: 'string',
      minLength: 1,
      maxLength: 255,
      description:
        'Makes the POST safe to retry: the same key and request replay the stored response (with Idempotent-Replayed: true); the same key with another request is refused with 422. Remembered for 24 hours.',
    },
  },
  required: [IDEMPOTENCY_KEY_HEADER],
};

/**
 * OpenAPI 3.1 built from the routes' zod schemas, at /openapi.json, with Swagger UI at /docs. The
 * conventions every route shares (bearer auth with a scope, the Idempotency-Key header on POST)
 * are added here from route config rather than repeated in each schema.
 */
export function installOpenApi(app: FastifyInstance, info: { version: string }): void {
  void app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Millet API',
        version: info.version,
        description:
          'Millet consumer-finance platform. Amounts are strings of integer minor units ("12345" = 123.45 CNY). Errors are RFC 9457 application/problem+json with a stable `code`.',
      },
      components: {
        securitySchemes: {
          [SECURITY_SCHEME]: { type: 'http', scheme: 'bearer', description: 'An operator API key, mlt_op_…' },
          [USER_SECURITY_SCHEME]: {
            type: 'http',
            scheme: 'bearer',
            bearerFormat: 'JWT',
            description: 'A user access token from POST /v1/sessions',
          },
          [MERCHANT_SECURITY_SCHEME]: {
            type: 'http',
            scheme: 'bearer',
            description: 'A merchant API key, mlt_mk_…',
          },
        },
      },
      tags: [
        { name: 'ledger', description: 'Accounts, entries, holds, balances and statements' },
        { name: 'operators', description: 'Operator API keys' },
        { name: 'users', description: 'Sign-up, sessions and identity verification' },
        { name: 'health', description: 'Liveness and readiness' },
        { name: 'credit', description: 'Credit score: consent, scores with reasons, history' },
        { name: 'paypoints', description: 'Pay Points service orders: deposits waived by the score' },
      ],
    },
    transform: (input) => {
      const { schema, url } = zodTransform(input);
      if (schema.hide) return { schema, url };
      const scope = input.route.config?.scope;
      const methods = [input.route.method].flat();
      const extra: Record<string, unknown> = {};
      if (scope) {
        extra.security = [{ [SECURITY_SCHEME]: [] }];
        const description = (schema as { description?: string }).description;
        extra.description = `${description ? `${description}\n\n` : ''}Requires the \`${scope}\` scope.`;
      }
      if (input.route.config?.userAuth) extra.security = [{ [USER_SECURITY_SCHEME]: [] }];
      const merchantScope = input.route.config?.merchantAuth;
      if (merchantScope) {
        extra.security = [{ [MERCHANT_SECURITY_SCHEME]: [] }];
        const description = (schema as { description?: string }).description;
        extra.description = `${description ? `${description}\n\n` : ''}Requires a merchant key with the \`${merchantScope}\` scope.`;
      }
      if (methods.includes('POST')) {
        // A route's own headers (POST /v1/sessions' X-Device-Token) are kept beside the key.
        const own = (schema as { headers?: { properties?: object; required?: string[] } }).headers;
        const optional = input.route.config?.idempotencyKeyOptional;
        extra.headers = {
          ...idempotencyKeyHeader,
          properties: { ...own?.properties, ...idempotencyKeyHeader.properties },
          required: [...(own?.required ?? []), ...(optional ? [] : idempotencyKeyHeader.required)],
        };
      }
      return { schema: { ...schema, ...extra }, url };
    },
  });
  void app.register(fastifySwaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
