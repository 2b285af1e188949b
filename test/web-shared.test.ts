import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { paymentCode as serverPaymentCode } from '../src/merchants/payment-code.ts';
import { errorStatuses } from '../src/api/index.ts';
import { formatBasisPoints, formatFen, formatPercent, parseYuan } from '../web/src/shared/money.ts';
import { errorCodes, formatBasisPoints as serverBasisPoints } from '../src/core/index.ts';
import { errorMessages, messages } from '../web/src/shared/messages.ts';
import { getAllPages, type ApiClient } from '../web/src/shared/api.ts';
import { msUntilNextStep, paymentCode } from '../web/src/shared/payment-code.ts';
import { parseWholeNumber } from '../web/src/shared/numbers.ts';

describe('the web app’s shared code', () => {
  it('rounds API percents to two decimals half-even without floats, as the server does', () => {
    expect(formatPercent('7.1996')).toBe('7.20');
    expect(formatPercent('7.2050')).toBe('7.20'); // a tie goes to the even hundredth
    expect(formatPercent('7.2150')).toBe('7.22');
    expect(formatPercent('7.20501')).toBe('7.21'); // past the tie
    expect(formatPercent('1.005')).toBe('1.00'); // where a float's toFixed(2) says 1.00 or 1.01 by luck
    expect(formatPercent('24')).toBe('24.00');
    expect(formatBasisPoints(60)).toBe('0.60');
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 100_000 }), (bp) => {
        expect(formatBasisPoints(bp)).toBe(serverBasisPoints(bp));
        expect(formatPercent(`${Math.floor(bp / 100)}.${String(bp % 100).padStart(2, '0')}`)).toBe(
          serverBasisPoints(bp),
        );
      }),
    );
  });

  it('formats fen with BigInt, never floats', () => {
    expect(formatFen('0')).toBe('0.00');
    expect(formatFen('5')).toBe('0.05');
    expect(formatFen('123456789')).toBe('1,234,567.89');
    expect(formatFen('-1050')).toBe('−10.50');
    expect(formatFen('6', { sign: true })).toBe('+0.06');
    expect(formatFen('900719925474099312')).toBe('9,007,199,254,740,993.12');
  });

  it('parses yuan typed by a person back to the same fen', () => {
    expect(parseYuan('1,000')).toBe('100000');
    expect(parseYuan(' 12.5 ')).toBe('1250');
    expect(parseYuan('0.07')).toBe('7');
    for (const bad of ['', '1.234', '-1', '1e3', 'abc', '1.2.3']) expect(parseYuan(bad)).toBeUndefined();
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 17n }), (fen) => {
        expect(parseYuan(formatFen(fen))).toBe(fen.toString());
      }),
    );
  });

  it('reads a whole number typed in a form, refusing an empty field, exponents and hex', () => {
    expect(parseWholeNumber(' 60 ', 0, 10_000)).toBe(60);
    expect(parseWholeNumber('0', 0, 10_000)).toBe(0);
    expect(parseWholeNumber('10000', 0, 10_000)).toBe(10_000);
    // Number('') is 0: a cleared fee field onboarded a merchant at no fee.
    for (const bad of ['', '  ', '1e3', '0x10', '-1', '1.5', '10001', '6 0', '９'])
      expect(parseWholeNumber(bad, 0, 10_000), JSON.stringify(bad)).toBeUndefined();
    expect(parseWholeNumber('0', 1, 100)).toBeUndefined();
  });

  it('computes the same payment code in the browser (Web Crypto) as the server', async () => {
    for (let i = 0; i < 50; i++) {
      const secret = randomBytes(32);
      const index = i * 7919;
      const at = Date.UTC(2026, 10, 10) + i * 17_000;
      expect(await paymentCode(secret.toString('base64'), index, at)).toBe(
        serverPaymentCode(secret, index, new Date(at)),
      );
    }
    expect(msUntilNextStep(30_000 * 5 + 1)).toBe(29_999);
  });

  it('has every text in both languages and a message per common error code that exists', () => {
    expect(Object.keys(messages['zh-CN']).sort()).toEqual(Object.keys(messages.en).sort());
    for (const language of ['en', 'zh-CN'] as const) {
      for (const code of Object.keys(errorMessages[language])) {
        if (code === 'NETWORK') continue;
        expect(Object.keys(errorStatuses), `${language}: ${code}`).toContain(code);
      }
    }
    expect(Object.keys(errorMessages.en).sort()).toEqual(
      Object.keys(errorMessages['zh-CN'])
        .filter((c) => c !== 'VALIDATION_FAILED')
        .sort(),
    );
  });

  it('has words in both languages for every error code the API can return', () => {
    // Any code can reach a page (a console form, a retried request, a busy ledger); one without
    // words showed the problem's English detail, in the Chinese app too. The English app alone
    // keeps a validation problem's own detail, which names the field.
    for (const language of ['en', 'zh-CN'] as const) {
      const missing = errorCodes.filter(
        (code) => !errorMessages[language][code] && !(language === 'en' && code === 'VALIDATION_FAILED'),
      );
      expect(missing, language).toEqual([]);
    }
  });

  it('says in both languages the errors a customer or an operator’s form can meet, not the English detail', () => {
    // Each is answered to a request the wallet's pages or the console's forms send; without words
    // of its own the app showed the problem's English detail (pay later's with a bare fen figure).
    const customerFacing = [
      'PAYLATER_LIMIT_EXCEEDED',
      'PAYLATER_LINE_EXISTS',
      'PAYLATER_STATEMENT_NOT_FOUND',
      'PAYLATER_PLAN_NOT_FOUND',
      'LOAN_AMOUNT_OUT_OF_RANGE',
      'LOAN_OFFER_NOT_FOUND',
      'LOAN_NOT_FOUND',
      'LOAN_DISBURSING',
      'STORE_BALANCE_NOT_DUE',
      'NOT_FOUND',
      'IDEMPOTENCY_KEY_REUSED',
      // The console's configuration forms.
      'STORE_SKU_CODE_TAKEN',
      'MARKETPLACE_PARTNER_CONFLICT',
      'MERCHANT_NAME_TAKEN',
    ];
    for (const language of ['en', 'zh-CN'] as const)
      for (const code of customerFacing)
        expect(errorMessages[language][code], `${language}: ${code}`).toBeTruthy();
  });

  it('reads every page of a list, keeping the path’s own query and the first page’s other fields', async () => {
    const pages: Record<string, { items: number[]; next_cursor: string | null; total?: number }> = {
      '/v1/things?status=active&limit=2': { items: [1, 2], next_cursor: 'a/b', total: 5 },
      '/v1/things?status=active&limit=2&cursor=a%2Fb': { items: [3, 4], next_cursor: 'c' },
      '/v1/things?status=active&limit=2&cursor=c': { items: [5], next_cursor: null },
    };
    const api: ApiClient = {
      get: <T>(path: string) => Promise.resolve(pages[path] as T),
      post: () => Promise.reject(new Error('not used')),
    };
    const all = await getAllPages<{ items: number[]; next_cursor: string | null; total?: number }>(
      api,
      '/v1/things?status=active',
      { limit: 2 },
    );
    expect(all).toEqual({ items: [1, 2, 3, 4, 5], next_cursor: null, total: 5 });
    // A list longer than maxPages stops there and says where it stopped.
    const capped = await getAllPages(api, '/v1/things?status=active', { limit: 2, maxPages: 2 });
    expect(capped).toMatchObject({ items: [1, 2, 3, 4], next_cursor: 'c' });
  });
});
