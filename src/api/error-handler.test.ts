import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { refusal } from '../core/index.ts';
import { installErrorHandling, replyWithError } from './error-handler.ts';
import { buildProblem } from './problem.ts';

describe('problem replies', () => {
  it('answers one error object again and again with its body built once, each with its own request id and path', async () => {
    const app = Fastify({ genReqId: (req) => String(req.headers['x-test-id']) });
    installErrorHandling(app);
    const slowDown = refusal('RATE_LIMITED', 'Too many attempts', {
      retryAfterSeconds: 10,
      reasons: ['user_velocity'],
    });
    app.post('/sales/:id/attempts', async (request, reply) => replyWithError(slowDown, request, reply));
    app.get('/thrown', async () => {
      throw slowDown;
    });
    const answers = await Promise.all(
      [
        ['POST', '/sales/a/attempts?x=1', 'r1'],
        ['POST', '/sales/b/attempts', 'r2'],
        ['GET', '/thrown', 'r3'],
      ].map(([method, url, id]) =>
        app.inject({ method: method as 'GET' | 'POST', url: url!, headers: { 'x-test-id': id! } }),
      ),
    );
    const expected = (instance: string, requestId: string) =>
      buildProblem({
        code: 'RATE_LIMITED',
        detail: 'Too many attempts',
        extensions: slowDown.details,
        instance,
        requestId,
      });
    expect(answers.map((a) => a.json())).toEqual([
      expected('/sales/a/attempts', 'r1'),
      expected('/sales/b/attempts', 'r2'),
      expected('/thrown', 'r3'),
    ]);
    for (const a of answers) {
      expect(a.statusCode).toBe(429);
      expect(a.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(a.headers['retry-after']).toBe('10');
    }
    await app.close();
  });

  it('escapes what the request brings into the body', async () => {
    const app = Fastify({ genReqId: () => 'id "quoted"' });
    installErrorHandling(app);
    const notFound = refusal('STORE_NOT_REGISTERED', 'Register first');
    app.get('/*', async (request, reply) => replyWithError(notFound, request, reply));
    const answer = await app.inject({ method: 'GET', url: '/a%22b/%5C' });
    expect(answer.json()).toMatchObject({
      code: 'STORE_NOT_REGISTERED',
      status: 403,
      instance: '/a%22b/%5C',
      request_id: 'id "quoted"',
    });
    await app.close();
  });
});
