/**
 * The partner protocol (docs/partner-protocol.md): JSON over HTTP, every request signed in both
 * directions with the Standard Webhooks scheme the webhooks module already implements —
 * `webhook-id`, `webhook-timestamp` (unix seconds, wall time) and `webhook-signature: v1,<base64
 * HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>` — and refused outside a 5-minute replay window.
 * Callbacks are also deduplicated on their `webhook-id`.
 */
import { randomUUID, type KeyObject } from 'node:crypto';
import { fetch, type Dispatcher, type Response } from 'undici';
import { z } from 'zod';
import { isMilletError } from '../core/index.ts';
import { MAX_AMOUNT } from '../ledger/index.ts';
import { addressRefusal, signWebhook, verifyWebhook, type WebhookHeaders } from '../webhooks/index.ts';
import { applicantFields, scoreBands } from './types.ts';

export const REPLAY_WINDOW_SECONDS = 300;

const amount = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,18})$/, { abort: true })
  .refine((text) => BigInt(text) <= MAX_AMOUNT, `must be at most ${MAX_AMOUNT}`);

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

/** The applicant's fields as posted: text, but the monthly income is integer fen like every amount. */
export const postedApplicantSchema = z
  .partialRecord(z.enum(applicantFields), z.string())
  .and(z.object({ monthly_income: amount.optional() }));

export const postRequestSchema = z.object({
  application_id: z.string(),
  offer_ref: z.string(),
  score_band: z.enum(scoreBands),
  amount,
  term_months: z.number().int().positive(),
  callback_url: z.string(),
  applicant: postedApplicantSchema,
});
export type PostRequest = z.infer<typeof postRequestSchema>;

export const postResponseSchema = z.object({
  status: z.enum(['received', 'approved', 'declined']),
  partner_ref: z.string().min(1).max(128),
});
export type PostResponse = z.infer<typeof postResponseSchema>;

export const callbackTypes = ['approved', 'declined', 'disbursed', 'repaid'] as const;
export type CallbackType = (typeof callbackTypes)[number];
/** Free text from a partner, stored as PostgreSQL text, which cannot hold U+0000. */
const partnerText = (max: number) =>
  z
    .string()
    .max(max)
    .refine((s) => !s.includes('\u0000'), 'may not contain U+0000');

export const callbackSchema = z.object({
  type: z.enum(callbackTypes),
  application_id: z.uuid(),
  partner_ref: partnerText(128).optional(),
  amount: amount.optional().meta({ description: 'approved: the line granted; disbursed, repaid: fen paid' }),
  interest: amount.optional().meta({ description: 'repaid: the part of amount that is interest' }),
  occurred_at: partnerText(64).optional(),
});
export type PartnerCallback = z.infer<typeof callbackSchema>;

export const reportRequestSchema = z.object({ month: z.string().regex(/^\d{4}-\d{2}$/) });
export const reportRowSchema = z.object({
  // Kept in the settlement's discrepancies (jsonb, which cannot hold U+0000).
  application_id: partnerText(128),
  approved: z.boolean(),
  disbursed_amount: amount,
  repaid_interest: amount,
});
export const reportResponseSchema = z.object({ month: z.string(), rows: z.array(reportRowSchema) });
export type PartnerReport = z.infer<typeof reportResponseSchema>;
export type PartnerReportRow = z.infer<typeof reportRowSchema>;

/** A new message id (`webhook-id`): one per message, kept by every retry of it. */
export const newMessageId = (): string => `msg_${randomUUID()}`;

/** The three signature headers for one body; pass `id` to sign a retry of an earlier message. */
export function signatureHeaders(
  secret: string | KeyObject,
  body: string,
  now: Date = new Date(),
  id: string = newMessageId(),
): Record<string, string> {
  const timestamp = Math.floor(now.getTime() / 1000);
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signWebhook(secret, id, timestamp, body),
  };
}

/** Throws WebhookVerificationError (with a reason) when the signature or the timestamp is wrong. */
export function verifySignature(
  secret: string | KeyObject,
  headers: WebhookHeaders,
  body: string,
  now: Date = new Date(),
): { id: string } {
  return verifyWebhook(secret, headers, body, { toleranceSeconds: REPLAY_WINDOW_SECONDS, now });
}

export class PartnerHttpError extends Error {
  constructor(
    /** `refused`: the policy on where requests may go refused the URL or the address it resolved to. */
    readonly reason: 'timeout' | 'http_status' | 'invalid_response' | 'network' | 'refused',
    message: string,
  ) {
    super(message);
    this.name = 'PartnerHttpError';
  }
}

/** How requests to partners go out (the marketplace builds it from the webhooks instance's policy). */
export interface PartnerHttp {
  /** The URL if the policy lets a request go to it; WEBHOOK_URL_INVALID otherwise. */
  checkUrl(url: string): string;
  /** Connections only to addresses the policy allows, checked at connect time (policyLookup). */
  dispatcher: Dispatcher;
}

/**
 * POSTs a signed JSON body with undici's fetch through `http.dispatcher` and parses the answer with
 * `schema`. `signal` bounds the whole exchange, body included (AbortSignal.timeout at the caller).
 * A URL or an address the policy refuses is a `refused` PartnerHttpError, and nothing is sent.
 */
export async function signedPost<T>(
  http: PartnerHttp,
  url: string,
  secret: string,
  payload: unknown,
  schema: z.ZodType<T>,
  signal: AbortSignal,
): Promise<T> {
  try {
    // The URL was checked when the partner was saved, perhaps under another policy; and Node asks
    // no lookup (so the dispatcher checks nothing) for an IP literal.
    http.checkUrl(url);
  } catch (error) {
    if (isMilletError(error)) throw new PartnerHttpError('refused', `refused: ${error.message}`);
    throw error;
  }
  const body = JSON.stringify(payload);
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      body,
      signal,
      redirect: 'manual',
      headers: { 'content-type': 'application/json', ...signatureHeaders(secret, body) },
      dispatcher: http.dispatcher,
    });
  } catch (error) {
    const refused = addressRefusal(error);
    if (refused) throw new PartnerHttpError('refused', refused.message);
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

export function parseAnswer<T>(text: string, schema: z.ZodType<T>): T {
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
