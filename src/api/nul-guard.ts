import type { FastifyInstance } from 'fastify';
import { MilletError } from '../core/index.ts';
import { pathOf } from './error-handler.ts';

/**
 * PostgreSQL text cannot hold U+0000: a NUL that reached a query would fail there, as a 500 after
 * part of the work was done. It is refused at the door instead, in JSON bodies (where it can only
 * arrive escaped, as \u0000) and in the URL (as %00), with the field's location named.
 */
export function installNulGuard(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, raw, done) => {
    const body = raw as string; // parseAs: 'string'
    parseJson(request, body, (error: Error | null, value?: unknown) => {
      if (error) return done(error, undefined);
      // The scan is for the rare body that spells the escape at all; "\\u0000" is a backslash, not a NUL.
      if (body.includes('\\u0000')) {
        const at = nulAt(value, []);
        if (at) return done(nulRefused('body', at), undefined);
      }
      done(null, value);
    });
  });
  app.addHook('onRequest', (request, _reply, done) => {
    if (request.url.includes('%00')) return done(nulRefused('url', []));
    done();
  });
}

/** The refusal, in the shape of a schema validation error (error-handler.ts's FieldError). */
function nulRefused(location: string, at: ReadonlyArray<string | number>): MilletError {
  const pointer = at.map((part) => `/${String(part).replaceAll('~', '~0').replaceAll('/', '~1')}`).join('');
  const path = pathOf(pointer);
  const where = path ? `${location}.${path}` : location;
  return new MilletError('VALIDATION_FAILED', `${where}: text may not contain the NUL character (U+0000)`, {
    errors: [{ location, path, pointer: `#${pointer}`, detail: 'contains U+0000' }],
  });
}

/** Where the first string (or key) holding U+0000 is, as keys and indexes; undefined if none does. */
function nulAt(value: unknown, at: Array<string | number>): Array<string | number> | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? at : undefined;
  if (value === null || typeof value !== 'object') return undefined;
  const entries: Array<[string | number, unknown]> = Array.isArray(value)
    ? value.map((item, i) => [i, item])
    : Object.entries(value);
  for (const [key, item] of entries) {
    if (typeof key === 'string' && key.includes('\u0000')) return [...at, key];
    const found = nulAt(item, [...at, key]);
    if (found) return found;
  }
  return undefined;
}
