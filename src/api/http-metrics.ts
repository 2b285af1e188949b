import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Histogram, type Registry } from 'prom-client';

const HTTP_DURATION = 'millet_http_request_duration_seconds';

/** Reuses metrics already in the registry so several servers (tests) can share one. */
function httpDurationHistogram(registry: Registry): Histogram<'method' | 'route' | 'status'> {
  const existing = registry.getSingleMetric(HTTP_DURATION);
  if (existing) return existing as Histogram<'method' | 'route' | 'status'>;
  return new Histogram({
    name: HTTP_DURATION,
    help: 'HTTP request duration by method, route pattern and status',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
}

/** Process metrics, the request histogram, and `GET /metrics` in Prometheus text format. */
export function installHttpMetrics(app: FastifyInstance, registry: Registry): void {
  if (!registry.getSingleMetric('process_cpu_user_seconds_total'))
    collectDefaultMetrics({ register: registry });
  const histogram = httpDurationHistogram(registry);
  // A callback hook, not an async one: every request passes here, and a promise per request is a
  // cost the attempt route of a flash sale pays thousands of times a second.
  app.addHook('onResponse', (request, reply, done) => {
    // The route pattern, never the raw URL: ids in paths would explode the label set.
    const route = request.is404 ? 'not_found' : (request.routeOptions.url ?? 'unknown');
    histogram.observe(
      { method: request.method, route, status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
    done();
  });
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    return reply.type(registry.contentType).send(await registry.metrics());
  });
}
