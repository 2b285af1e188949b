import { z } from 'zod';
import { MAX_AMOUNT } from '../ledger/index.ts';

/**
 * Shared request/response pieces. Money crosses the API as a string of integer minor units
 * ("12345" = 123.45 CNY): JSON numbers lose precision past 2^53 and invite floats.
 */
export const amountInput = z
  .string()
  // abort: a malformed figure is reported once, and never reaches BigInt below.
  .regex(/^(0|[1-9][0-9]{0,18})$/, {
    error: 'must be a string of integer minor units, such as "12345"',
    abort: true,
  })
  // The ledger's own limit, so a larger figure is refused here and not by an int8 column mid-request.
  .refine((text) => BigInt(text) <= MAX_AMOUNT, `must be at most ${MAX_AMOUNT}`)
  .transform((text) => BigInt(text))
  .meta({
    description: `Integer minor units as a string ("12345" = 123.45 CNY), at most ${MAX_AMOUNT}`,
    example: '12345',
  });

export const amountOutput = z
  .string()
  .regex(/^-?[0-9]+$/)
  .meta({ description: 'Integer minor units as a string; may be negative for balances', example: '12345' });

export const metadataSchema = z.record(z.string(), z.unknown()).meta({
  description: 'Free-form JSON object kept with the record (at most 4 KiB); never put personal data here',
});

export const uuidSchema = z.uuid();

export const optionalCommandId = z
  .uuid()
  .optional()
  .meta({ description: 'Client-chosen id of the ledger record; default: derived from the Idempotency-Key' });

/** 10000-01-01T00:00 in Beijing (UTC+8), the first instant after the business calendar. */
const lastBusinessInstantMs = Date.UTC(9999, 11, 31, 16);

export const timestampInput = z.iso
  .datetime({ offset: true })
  // PostgreSQL has no year 0 ("0000-…", or "0001-01-01T00:00+01:00"): refused here, not by the query.
  .refine((text) => !(new Date(text).getUTCFullYear() < 1), 'must be in the year 0001 or later')
  // A zone west of UTC carries 9999-12-31 past the business calendar's last day (Beijing's
  // 10000-01-01), where business dates throw: refused here rather than a 500 further in.
  .refine(
    (text) => new Date(text).getTime() < lastBusinessInstantMs,
    'must be before 10000-01-01 in Beijing time',
  )
  .transform((text) => new Date(text))
  .meta({ description: 'ISO 8601 instant with a zone, e.g. 2025-06-01T00:00:00+08:00' });

export const timestampOutput = z.string().meta({ format: 'date-time' });

export const idParams = z.object({ id: z.string().meta({ description: 'The record id (a UUID)' }) });

export const pageQuery = {
  cursor: z.string().max(512).optional().meta({ description: 'next_cursor from the previous page' }),
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(500)
    .optional()
    .meta({ description: 'Page size, 1–500 (default 50)' }),
};

export function pageOf<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), next_cursor: z.string().nullable() });
}
