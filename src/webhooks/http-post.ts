import { fetch } from 'undici';
import { checkDeliveryTarget, type ResolveHost } from './delivery-target.ts';
import type { PinnedAgents } from './pinned-agents.ts';
import type { WebhookUrlPolicy } from './url-policy.ts';

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

export interface PostOptions {
  /** The whole attempt, body included. */
  timeoutMs: number;
  policy: WebhookUrlPolicy;
  resolveHost: ResolveHost;
  /** Connections to checked addresses, kept between attempts. */
  agents: PinnedAgents;
}

/**
 * POSTs one webhook. The URL is checked and its host resolved first ({@link checkDeliveryTarget}):
 * a target the policy refuses is a failed attempt that sends nothing, and the connection goes to
 * the addresses checked. 2xx is success; anything else, a redirect (not followed), a network error
 * or no answer within `timeoutMs` (body included) is a failure. Never throws.
 */
export async function postWebhook(
  url: string,
  headers: Record<string, string>,
  body: string,
  options: PostOptions,
): Promise<PostResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const failed = (error: string): PostResult => ({
    ok: false,
    statusCode: null,
    durationMs: elapsed(),
    error,
    responseBody: null,
  });
  const signal = AbortSignal.timeout(options.timeoutMs);
  try {
    // A DNS lookup cannot be aborted, but the attempt stops waiting for it at the deadline.
    const deadline = new Promise<never>((_resolve, reject) =>
      signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true }),
    );
    deadline.catch(() => {});
    const target = await Promise.race([
      checkDeliveryTarget(url, options.policy, options.resolveHost),
      deadline,
    ]);
    if (!target.ok) return failed(target.reason);
    // An agent pinned to exactly these checked addresses: its connections go nowhere else.
    return await options.agents.using(target.host, target.addresses, async (agent) => {
      const response = await fetch(url, {
        method: 'POST',
        headers,
        body,
        redirect: 'manual',
        signal,
        dispatcher: agent,
      });
      const responseBody = await readLimited(response);
      const ok = response.status >= 200 && response.status < 300;
      return {
        ok,
        statusCode: response.status,
        durationMs: elapsed(),
        error: ok ? null : `HTTP ${response.status}`,
        responseBody,
      };
    });
  } catch (error) {
    return failed(signal.aborted ? `no response within ${options.timeoutMs} ms` : describe(error));
  }
}

async function readLimited(response: Awaited<ReturnType<typeof fetch>>): Promise<string | null> {
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
