/** What one HTTP attempt came to. */
export interface PostResult {
  ok: boolean;
  statusCode: number | null;
  durationMs: number;
  error: string | null;
  /** The first {@link RESPONSE_BODY_LIMIT} bytes of the response body. */
  responseBody: string | null;
}

export const RESPONSE_BODY_LIMIT = 4096;

export type FetchFunction = typeof fetch;

/**
 * POSTs one webhook with Node's fetch. 2xx is success; anything else, a redirect (not followed),
 * a network error or no answer within `timeoutMs` (body included) is a failure. Never throws.
 */
export async function postWebhook(
  fetchFn: FetchFunction,
  url: string,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
): Promise<PostResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const response = await fetchFn(url, { method: 'POST', headers, body, redirect: 'manual', signal });
    const responseBody = await readLimited(response);
    const ok = response.status >= 200 && response.status < 300;
    return {
      ok,
      statusCode: response.status,
      durationMs: elapsed(),
      error: ok ? null : `HTTP ${response.status}`,
      responseBody,
    };
  } catch (error) {
    const timedOut = signal.aborted;
    return {
      ok: false,
      statusCode: null,
      durationMs: elapsed(),
      error: timedOut ? `no response within ${timeoutMs} ms` : describe(error),
      responseBody: null,
    };
  }
}

async function readLimited(response: Response): Promise<string | null> {
  if (!response.body) return null;
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < RESPONSE_BODY_LIMIT) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  // PostgreSQL text cannot hold NUL.
  const text = Buffer.concat(chunks)
    .subarray(0, RESPONSE_BODY_LIMIT)
    .toString('utf8')
    .replaceAll('\u0000', '');
  return text.length > 0 ? text : null;
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as { cause?: unknown }).cause;
    const detail = cause instanceof Error ? `: ${cause.message}` : '';
    return `${error.message}${detail}`.slice(0, 500);
  }
  return String(error).slice(0, 500);
}
