import type { FastifyInstance } from 'fastify';
import { MilletError } from '../core/index.ts';
import { pathOf } from './error-handler.ts';

/**
 * PostgreSQL text cannot hold U+0000: a NUL that reached a query would fail there, as a 500 after
 * part of the work was done. It is refused at the door instead, in JSON bodies (where it can only
 * arrive escaped, as \u0000) and in the URL (as %00), with the field's location named. So are a lone
 * UTF-16 surrogate (jsonb refuses it) and a body nested deeper than any request needs.
 */
export function installNulGuard(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, raw, done) => {
    const body = raw as string; // parseAs: 'string'
    parseJson(request, body, (error: Error | null, value?: unknown) => {
      if (error) return done(error, undefined);
      // The walks over a body (unknown fields, this guard, fingerprints) recurse: a body nested
      // thousands deep would overflow the stack, a 500. No request needs more than a few levels.
      if (body.length > 2 * MAX_BODY_DEPTH && nestingDepth(body) > MAX_BODY_DEPTH)
        return done(
          new MilletError('VALIDATION_FAILED', `body: nested more than ${MAX_BODY_DEPTH} levels deep`, {
            errors: [{ location: 'body', path: '', pointer: '#', detail: 'nested too deep' }],
          }),
          undefined,
        );
      // The scan is for the rare body that spells the escape at all; "\\u0000" is a backslash, not a NUL.
      if (body.includes('\\u0000')) {
        const at = nulAt(value, []);
        if (at) return done(nulRefused('body', at), undefined);
      }
      // A lone surrogate (only ever escaped, \ud800) is no text PostgreSQL accepts: jsonb refuses it.
      if (ESCAPED_SURROGATE.test(body)) {
        const at = firstAt(value, [], (text) => LONE_SURROGATE.test(text));
        if (at) return done(refused('body', at, 'a lone UTF-16 surrogate', 'contains a lone surrogate'));
      }
      done(null, value);
    });
  });
  app.addHook('onRequest', (request, _reply, done) => {
    if (request.url.includes('%00')) return done(nulRefused('url', []));
    done();
  });
}

const MAX_BODY_DEPTH = 64;
const ESCAPED_SURROGATE = /\\u[dD][89a-fA-F]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** The refusal, in the shape of a schema validation error (error-handler.ts's FieldError). */
function nulRefused(location: string, at: ReadonlyArray<string | number>): MilletError {
  return refused(location, at, 'the NUL character (U+0000)', 'contains U+0000');
}

function refused(
  location: string,
  at: ReadonlyArray<string | number>,
  what: string,
  detail: string,
): MilletError {
  const pointer = at.map((part) => `/${String(part).replaceAll('~', '~0').replaceAll('/', '~1')}`).join('');
  const path = pathOf(pointer);
  const where = path ? `${location}.${path}` : location;
  return new MilletError('VALIDATION_FAILED', `${where}: text may not contain ${what}`, {
    errors: [{ location, path, pointer: `#${pointer}`, detail }],
  });
}

/** Where the first string (or key) holding U+0000 is, as keys and indexes; undefined if none does. */
function nulAt(value: unknown, at: Array<string | number>): Array<string | number> | undefined {
  return firstAt(value, at, (text) => text.includes('\u0000'));
}

/** Where the first string (or key) that `bad` finds is, as keys and indexes; undefined if none. */
function firstAt(
  value: unknown,
  at: Array<string | number>,
  bad: (text: string) => boolean,
): Array<string | number> | undefined {
  if (typeof value === 'string') return bad(value) ? at : undefined;
  if (value === null || typeof value !== 'object') return undefined;
  const entries: Array<[string | number, unknown]> = Array.isArray(value)
    ? value.map((item, i) => [i, item])
    : Object.entries(value);
  for (const [key, item] of entries) {
    if (typeof key === 'string' && bad(key)) return [...at, key];
    const found = firstAt(item, [...at, key], bad);
    if (found) return found;
  }
  return undefined;
}

/** How deep arrays and objects nest in a JSON text already known to be valid (no recursion). */
function nestingDepth(json: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // a backslash escapes the next character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) deepest = Math.max(deepest, ++depth);
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return deepest;
}
