import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { installErrorHandling } from './error-handler.ts';
import { installNulGuard } from './nul-guard.ts';

async function echoServer() {
  const app = Fastify();
  installErrorHandling(app);
  installNulGuard(app);
  app.post('/echo', async (request) => ({ got: request.body }));
  app.get('/echo/:id', async (request) => ({ got: (request.params as { id: string }).id }));
  await app.ready();
  return app;
}

const post = (app: Awaited<ReturnType<typeof echoServer>>, payload: string) =>
  app.inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'application/json' }, payload });

describe('NUL guard', () => {
  it('refuses a NUL anywhere in a JSON body, naming where it is', async () => {
    const app = await echoServer();
    const nested = await post(app, '{"legs":[{"memo":"ok"},{"memo":"a\\u0000b"}]}');
    expect(nested.statusCode).toBe(400);
    expect(nested.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(nested.json()).toMatchObject({
      code: 'VALIDATION_FAILED',
      detail: 'body.legs[1].memo: text may not contain the NUL character (U+0000)',
      errors: [{ location: 'body', path: 'legs[1].memo', pointer: '#/legs/1/memo' }],
    });
    const inKey = await post(app, '{"a\\u0000":1}');
    expect(inKey.statusCode).toBe(400);
    expect(inKey.json().errors[0].path).toBe('a\u0000');
    const topLevel = await post(app, '"\\u0000"');
    expect(topLevel.statusCode).toBe(400);
    expect(topLevel.json().detail).toBe('body: text may not contain the NUL character (U+0000)');
    await app.close();
  });

  it('lets through an escaped backslash followed by u0000, which is no NUL, and parses as before', async () => {
    const app = await echoServer();
    const res = await post(app, '{"memo":"C:\\\\u0000.txt","n":[1,2]}');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ got: { memo: 'C:\\u0000.txt', n: [1, 2] } });
    // The default parser's protections stay: a prototype key is still refused.
    const poisoned = await post(app, '{"__proto__":{"x":1}}');
    expect(poisoned.statusCode).toBe(400);
    const broken = await post(app, '{"memo":');
    expect(broken.statusCode).toBe(400);
    expect(broken.json().code).toBe('REQUEST_MALFORMED');
    await app.close();
  });

  it('refuses lone surrogates and bodies nested absurdly deep; a surrogate pair is fine', async () => {
    const app = await echoServer();
    for (const [payload, path] of [
      ['{"metadata":{"memo":"a\\ud800"}}', 'metadata.memo'],
      ['{"m":["ok","\\udc00x"]}', 'm[1]'],
      ['{"\\udfff":1}', '\udfff'],
    ] as const) {
      const res = await post(app, payload);
      expect(res.statusCode, payload).toBe(400);
      expect(res.json(), payload).toMatchObject({ code: 'VALIDATION_FAILED', errors: [{ path }] });
    }
    const pair = await post(app, '{"memo":"\\ud83d\\ude00","literal":"\\\\ud800"}');
    expect(pair.statusCode, pair.body).toBe(200);
    expect(pair.json()).toEqual({ got: { memo: '😀', literal: '\\ud800' } });

    const deep = (n: number) => `{"a":${'['.repeat(n)}${']'.repeat(n)}}`;
    expect((await post(app, deep(63))).statusCode).toBe(200);
    const tooDeep = await post(app, deep(100_000));
    expect(tooDeep.statusCode).toBe(400);
    expect(tooDeep.json()).toMatchObject({ code: 'VALIDATION_FAILED' });
    // Brackets inside strings are text, not nesting.
    expect((await post(app, JSON.stringify({ memo: '['.repeat(500) }))).statusCode).toBe(200);
    await app.close();
  });

  it('refuses %00 in the URL, in the path or the query', async () => {
    const app = await echoServer();
    for (const url of ['/echo/a%00b', '/echo/x?cursor=%00']) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(400);
      expect(res.json(), url).toMatchObject({ code: 'VALIDATION_FAILED' });
    }
    expect((await app.inject({ method: 'GET', url: '/echo/a%2500b' })).json()).toEqual({ got: 'a%00b' });
    await app.close();
  });
});
