import type { FastifyInstance, RouteOptions } from 'fastify';

type HookName = 'onRequest' | 'preValidation' | 'preHandler' | 'onSend' | 'onError';
type HookOf<K extends HookName> =
  NonNullable<RouteOptions[K]> extends infer H ? (H extends ReadonlyArray<infer E> ? E : H) : never;

/**
 * Adds a hook to the routes it concerns (`applies`, judged once per route from its options) rather
 * than to every route, where it would only return at once. Fastify runs each of a route's hooks on
 * every request, an async hook being a promise and a turn of the microtask queue, and the flash-sale
 * attempt route is called thousands of times a second. Routes added after the call get it, so
 * install before registering routes; hooks run after the app's own and in the order installed.
 */
export function addRouteHook<K extends HookName>(
  app: FastifyInstance,
  name: K,
  applies: (route: RouteOptions) => boolean,
  hook: HookOf<K>,
): void {
  app.addHook('onRoute', (route) => {
    if (!applies(route)) return;
    const existing = route[name] as HookOf<K> | HookOf<K>[] | undefined;
    const hooks = existing === undefined ? [] : Array.isArray(existing) ? existing : [existing];
    (route as Record<HookName, unknown>)[name] = [...hooks, hook];
  });
}

/** Whether a route answers POST (its method may be one or several). */
export const isPost = (route: RouteOptions): boolean =>
  Array.isArray(route.method) ? route.method.includes('POST') : route.method === 'POST';
