import Fastify from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { installErrorHandling } from './error-handler.ts';
import { bodyValidatorCompiler, droppedFields } from './unknown-fields.ts';

describe('droppedFields', () => {
  it('names every key the parse dropped, at any depth, and nothing else', () => {
    expect(droppedFields({ a: 1, b: { c: 2, d: 3 } }, { a: 1, b: { c: 2 } })).toEqual(['/b/d']);
    expect(droppedFields({ legs: [{ x: 1 }, { x: 1, y: 2 }] }, { legs: [{ x: 1 }, { x: 1 }] })).toEqual([
      '/legs/1/y',
    ]);
    expect(droppedFields({ 'a/b': 1, 'c~': 2 }, {})).toEqual(['/a~1b', '/c~0']);
    // Transformed values (text to bigint, to Date) are not objects to compare.
    expect(droppedFields({ amount: '12', at: '2025-06-01' }, { amount: 12n, at: new Date(0) })).toEqual([]);
    expect(droppedFields({ metadata: { anything: 1 } }, { metadata: { anything: 1 } })).toEqual([]);
    expect(droppedFields('text', 'text')).toEqual([]);
  });
});

describe('bodyValidatorCompiler', () => {
  async function server() {
    const app = Fastify().withTypeProvider<ZodTypeProvider>();
    app.setValidatorCompiler(bodyValidatorCompiler);
    installErrorHandling(app);
    app.post(
      '/sales',
      {
        schema: {
          querystring: z.object({ dry_run: z.string().optional() }),
          body: z.object({
            name: z.string(),
            presale: z.object({ deposit: z.string() }).optional(),
            metadata: z.record(z.string(), z.unknown()).optional(),
          }),
        },
      },
      async (request) => ({ got: request.body }),
    );
    await app.ready();
    return app;
  }

  it('refuses fields the route does not take, naming each, and takes the rest as before', async () => {
    const app = await server();
    const typo = await app.inject({
      method: 'POST',
      url: '/sales',
      payload: { name: 'Launch', early_access_form: 'x', presale: { deposit: '1', depost: '2' } },
    });
    expect(typo.statusCode).toBe(400);
    expect(typo.json()).toMatchObject({
      code: 'VALIDATION_FAILED',
      detail: 'body.early_access_form: is not a field this request takes (and 1 more)',
      errors: [
        { location: 'body', path: 'early_access_form', pointer: '#/early_access_form' },
        { location: 'body', path: 'presale.depost', pointer: '#/presale/depost' },
      ],
    });
    const fine = await app.inject({
      method: 'POST',
      url: '/sales?dry_run=1&cache=2',
      payload: { name: 'Launch', metadata: { free: { form: true } } },
    });
    expect(fine.statusCode, fine.body).toBe(200);
    expect(fine.json()).toEqual({ got: { name: 'Launch', metadata: { free: { form: true } } } });
    // A body that fails its schema says why, as before.
    const wrong = await app.inject({ method: 'POST', url: '/sales', payload: { name: 1 } });
    expect(wrong.json().errors[0]).toMatchObject({ path: 'name' });
    await app.close();
  });
});
