/**
 * The partner protocol (docs/partner-protocol.md): JSON over HTTP, every request signed in both
 * directions with the Standard Webhooks scheme the webhooks module already implements —
 * `webhook-id`, `webhook-timestamp` (unix seconds, wall time) and `webhook-signature: v1,<base64
 * HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>` — and refused outside a 5-minute replay window.
 * Callbacks are also deduplicated on their `webhook-id`.
 */
import { randomUUID } from 'node:crypto';
import { Pool } from 'undici';
import { z } from 'zod';
import { signWebhook, verifyWebhook, type WebhookHeaders } from '../webhooks/index.ts';
import { applicantFields, scoreBands } from './types.ts';

export const REPLAY_WINDOW_SECONDS = 300;

const amount = z.string().regex(/^(0|[1-9][0-9]{0,18})$/);

export const pingRequestSchema = z.object({
  ping_id: z.string(),
  product: z.enum(['loan', 'card']),
  score_band: z.enum(scoreBands),
  amount,
  term_months: z.number().int().positive(),
  region_code: z.string(),
});
export type PingRequest = z.infer<typeof pingRequestSchema>;

export const promotionSchema = z.object({
  kind: z.literal('interest_free_days'),
  days: z.number().int().min(1).max(365),
});

export const indicativeOfferSchema = z.object({
  offer_ref: z.string().min(1).max(128),
  amount,
  apr_bp: z.number().int().min(0).max(10_000),
  term_months: z.number().int().positive(),
  promotions: z.array(promotionSchema).max(5).default([]),
});
export const pingResponseSchema = z.object({ offers: z.array(indicativeOfferSchema).max(5) });
export type PingResponse = z.infer<typeof pingResponseSchema>;

export const postRequestSchema = z.object({
  application_id: z.string(),
  offer_ref: z.string(),
  score_band: z.enum(scoreBands),
  amount,
  term_months: z.number().int().positive(),
  callback_url: z.string(),
  applicant: z.partialRecord(z.enum(applicantFields), z.string()),
});
export type PostRequest = z.infer<typeof postRequestSchema>;

export const postResponseSchema = z.object({
  status: z.enum(['received', 'approved', 'declined']),
  partner_ref: z.string().min(1).max(128),
});
export type PostResponse = z.infer<typeof postResponseSchema>;

export const callbackTypes = ['approved', 'declined', 'disbursed', 'repaid'] as const;
export type CallbackType = (typeof callbackTypes)[number];
export const callbackSchema = z.object({
  type: z.enum(callbackTypes),
  application_id: z.uuid(),
  partner_ref: z.string().max(128).optional(),
  amount: amount.optional().meta({ description: 'approved: the line granted; disbursed, repaid: fen paid' }),
  interest: amount.optional().meta({ description: 'repaid: the part of amount that is interest' }),
  occurred_at: z.string().optional(),
});
export type PartnerCallback = z.infer<typeof callbackSchema>;

export const reportRequestSchema = z.object({ month: z.string().regex(/^\d{4}-\d{2}$/) });
export const reportRowSchema = z.object({
  application_id: z.string(),
  approved: z.boolean(),
  disbursed_amount: amount,
  repaid_interest: amount,
});
export const reportResponseSchema = z.object({ month: z.string(), rows: z.array(reportRowSchema) });
export type PartnerReport = z.infer<typeof reportResponseSchema>;
export type PartnerReportRow = z.infer<typeof reportRowSchema>;

/** The three signature headers for one body. */
export function signatureHeaders(
  secret: string,
  body: string,
  now: Date = new Date(),
): Record<string, string> {
  const id = `msg_${randomUUID()}`;
  const timestamp = Math.floor(now.getTime() / 1000);
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signWebhook(secret, id, timestamp, body),
  };
}

/** Throws WebhookVerificationError (with a reason) when the signature or the timestamp is wrong. */
export function verifySignature(
  secret: string,
  headers: WebhookHeaders,
  body: string,
  now: Date = new Date(),
): { id: string } {
  return verifyWebhook(secret, headers, body, { toleranceSeconds: REPLAY_WINDOW_SECONDS, now });
}

export class PartnerHttpError extends Error {
  constructor(
    readonly reason: 'timeout' | 'http_status' | 'invalid_response' | 'network',
    message: string,
  ) {
    super(message);
    this.name = 'PartnerHttpError';
  }
}

/**
 * POSTs a signed JSON body with the global fetch (undici) and parses the answer with `schema`.
 * `signal` bounds the whole exchange, body included (AbortSignal.timeout at the caller).
 */
export async function signedPost<T>(
  url: string,
  secret: string,
  payload: unknown,
  schema: z.ZodType<T>,
  signal: AbortSignal,
): Promise<T> {
  const body = JSON.stringify(payload);
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      body,
      signal,
      redirect: 'manual',
      headers: { 'content-type': 'application/json', ...signatureHeaders(secret, body) },
    });
  } catch (error) {
    if (signal.aborted) throw new PartnerHttpError('timeout', 'The partner did not answer in time');
    throw new PartnerHttpError('network', (error as Error).message);
  }
  let text: string;
  try {
    text = await response.text();
  } catch {
    throw new PartnerHttpError(signal.aborted ? 'timeout' : 'network', 'The partner answer was cut off');
  }
  if (response.status < 200 || response.status > 299)
    throw new PartnerHttpError('http_status', `The partner answered ${response.status}`);
  return parseAnswer(text, schema);
}

/**
 * Keep-alive connection pools, one per partner origin, for the pings. Two things make the global
 * fetch expensive at hundreds of applications a second: every aborted request (a ping past its
 * deadline) destroys its socket, so the next ping to that partner opens a new TCP connection, and
 * the WHATWG fetch layer itself costs CPU. `ping` answers the router at the deadline but lets the
 * request run on, unaborted, until `lingerMs` later, so a late answer is read and discarded and its
 * socket goes back to the pool; only a partner silent for that long costs a connection.
 */
export class PartnerPools {
  private readonly pools = new Map<string, Pool>();

  constructor(
    private readonly options: { connectionsPerPartner: number; lingerMs: number } = {
      connectionsPerPartner: 256,
      lingerMs: 1_000,
    },
  ) {}

  private pool(origin: string): Pool {
    let pool = this.pools.get(origin);
    if (!pool) {
      pool = new Pool(origin, {
        connections: this.options.connectionsPerPartner,
        pipelining: 1,
        keepAliveTimeout: 30_000,
      });
      this.pools.set(origin, pool);
    }
    return pool;
  }

  /**
   * A signed POST whose answer the caller waits for at most `timeoutMs` (then PartnerHttpError
   * 'timeout'); the exchange itself is aborted only `lingerMs` after that.
   */
  async post<T>(
    url: string,
    secret: string,
    payload: unknown,
    schema: z.ZodType<T>,
    timeoutMs: number,
  ): Promise<T> {
    const target = new URL(url);
    const body = JSON.stringify(payload);
    const exchange = (async () => {
      let response;
      try {
        response = await this.pool(target.origin).request({
          method: 'POST',
          path: `${target.pathname}${target.search}`,
          body,
          headers: { 'content-type': 'application/json', ...signatureHeaders(secret, body) },
          signal: AbortSignal.timeout(timeoutMs + this.options.lingerMs),
        });
      } catch (error) {
        if ((error as Error).name === 'AbortError' || (error as { code?: string }).code === 'UND_ERR_ABORTED')
          throw new PartnerHttpError('timeout', 'The partner did not answer in time');
        throw new PartnerHttpError('network', (error as Error).message);
      }
      let text: string;
      try {
        text = await response.body.text();
      } catch {
        throw new PartnerHttpError('network', 'The partner answer was cut off');
      }
      if (response.statusCode < 200 || response.statusCode > 299)
        throw new PartnerHttpError('http_status', `The partner answered ${response.statusCode}`);
      return parseAnswer(text, schema);
    })();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(
        () => reject(new PartnerHttpError('timeout', 'The partner did not answer in time')),
        timeoutMs,
      );
    });
    // A late answer (or failure) after the deadline is nobody's business any more.
    exchange.catch(() => {});
    try {
      return await Promise.race([exchange, deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.destroy()));
  }
}

function parseAnswer<T>(text: string, schema: z.ZodType<T>): T {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new PartnerHttpError('invalid_response', 'The partner answer is not JSON');
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success)
    throw new PartnerHttpError('invalid_response', 'The partner answer has the wrong shape');
  return parsed.data;
}
