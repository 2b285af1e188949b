/** A small fetch client for the Millet API: JSON in and out, problem+json errors as ApiError. */

/** An RFC 9457 problem from the API, with Millet's stable `code`. */
export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  code?: string;
  request_id?: string;
  [extension: string]: unknown;
}

export class ApiError extends Error {
  readonly status: number;
  readonly problem: Problem;
  constructor(status: number, problem: Problem) {
    super(problem.detail ?? problem.title ?? `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.problem = problem;
  }
  get code(): string | undefined {
    return this.problem.code;
  }
}

export interface ApiClientOptions {
  /** The bearer token to send, read before each request. */
  token(): string | undefined;
  /** The language for texts the API translates (score reasons). */
  language(): string;
  /** Called once on a 401 with an expired token; resolve true when a new token was obtained. */
  refresh?(): Promise<boolean>;
  /**
   * Called when a request sent with `sentToken` is finally answered 401 (after any refresh): the
   * token no longer works. The caller compares it with its current token, since a request still
   * in flight from before a new log-in must not end the new session.
   */
  unauthorized?(sentToken: string): void;
}

export interface ApiClient {
  get<T>(path: string): Promise<T>;
  /** A POST with a fresh Idempotency-Key (every POST to the API takes one); `headers` are added. */
  post<T>(
    path: string,
    body?: unknown,
    idempotencyKey?: string,
    headers?: Record<string, string>,
  ): Promise<T>;
}

export function newIdempotencyKey(): string {
  return crypto.randomUUID();
}

export function createApiClient(options: ApiClientOptions): ApiClient {
  async function send<T>(
    method: 'GET' | 'POST',
    path: string,
    body: unknown,
    key: string | undefined,
    extraHeaders: Record<string, string> = {},
  ) {
    // The same key on a retry after a refreshed token: the API sees one command.
    const idempotencyKey = key ?? newIdempotencyKey();
    let sentToken: string | undefined;
    const attempt = async () => {
      const headers: Record<string, string> = {
        ...extraHeaders,
        accept: 'application/json, application/problem+json',
        'accept-language': options.language(),
      };
      const token = options.token();
      sentToken = token;
      if (token) headers.authorization = `Bearer ${token}`;
      if (method === 'POST') {
        headers['content-type'] = 'application/json';
        headers['idempotency-key'] = idempotencyKey;
      }
      return fetch(path, { method, headers, body: method === 'POST' ? JSON.stringify(body ?? {}) : null });
    };
    let response: Response;
    try {
      response = await attempt();
      if (response.status === 401 && options.refresh && options.token()) {
        const problem = (await response
          .clone()
          .json()
          .catch(() => ({}))) as Problem;
        // Another request may have refreshed the token meanwhile: then only retry.
        if (
          problem.code === 'ACCESS_TOKEN_EXPIRED' &&
          (options.token() !== sentToken || (await options.refresh()))
        )
          response = await attempt();
      }
    } catch {
      throw new ApiError(0, { code: 'NETWORK', title: 'Network error' });
    }
    if (response.status === 401 && sentToken) options.unauthorized?.(sentToken);
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    const json: unknown = text ? JSON.parse(text) : undefined;
    if (!response.ok) throw new ApiError(response.status, (json ?? {}) as Problem);
    return json as T;
  }
  return {
    get: (path) => send('GET', path, undefined, undefined),
    post: (path, body, key, headers) => send('POST', path, body, key, headers),
  };
}

/** A page of a cursor-paged list, as every list route answers. */
export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/**
 * Every item of a cursor-paged list, reading pages of `limit` until `next_cursor` is null (at most
 * `maxPages`). One GET gives the first page only: lists read that way lost whatever came after
 * without a word — the 101st merchant onboarded never showed in the console. The answer is the
 * first page's, its other fields included, with all the items.
 */
export async function getAllPages<P extends Page<unknown>>(
  api: ApiClient,
  path: string,
  options: { limit?: number; maxPages?: number } = {},
): Promise<P> {
  const separator = path.includes('?') ? '&' : '?';
  const limit = options.limit ?? 500;
  let first: P | undefined;
  const items: P['items'] = [];
  let cursor: string | null = null;
  for (let page = 0; page < (options.maxPages ?? 100); page++) {
    const query: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
    const answer: P = await api.get<P>(`${path}${separator}limit=${limit}${query}`);
    first ??= answer;
    items.push(...answer.items);
    cursor = answer.next_cursor;
    if (!cursor) break;
  }
  return { ...first!, items, next_cursor: cursor };
}
