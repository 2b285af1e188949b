import { describe, expect, it } from 'vitest';
import { maxAprNote } from '../web/src/console/max-apr.ts';
import { messages, type Language, type MessageKey } from '../web/src/shared/messages.ts';

/** The console's translate, without React. */
const translate =
  (language: Language) =>
  (key: MessageKey, vars?: Record<string, string | number>): string => {
    let text: string = messages[language][key];
    for (const [name, v] of Object.entries(vars ?? {})) text = text.replaceAll(`{${name}}`, String(v));
    return text;
  };

describe('the console’s words beside a loan product’s highest APR', () => {
  const en = translate('en');
  const zh = translate('zh-CN');

  it('names the loan that reaches a max APR found over every amount', () => {
    const p = { max_apr_basis: 'every_amount' as const, max_apr_at: { amount: '10373', terms: 12 } };
    expect(maxAprNote(en, p)).toBe('at ¥103.73 over 12 months');
    expect(maxAprNote(zh, p)).toBe('借 ¥103.73、分 12 期时');
  });

  it('calls a max APR over every amount that no loan reaches an upper bound', () => {
    const p = { max_apr_basis: 'every_amount' as const, max_apr_at: null };
    expect(maxAprNote(en, p)).toBe('an upper bound: no loan found at it');
    expect(maxAprNote(zh, p)).toBe(messages['zh-CN']['cconfig.maxAprAtNone']);
  });

  it('does not call a max APR found at the ends of the amount range an upper bound: it may be below the truth', () => {
    const p = { max_apr_basis: 'ends' as const, max_apr_at: null };
    expect(maxAprNote(en, p)).toBe(
      'found at the ends of the amount range only: may be higher until it is searched again',
    );
    expect(maxAprNote(en, p)).not.toMatch(/upper bound/);
    expect(maxAprNote(zh, p)).toBe(messages['zh-CN']['cconfig.maxAprEnds']);
    expect(maxAprNote(zh, p)).not.toBe(messages['zh-CN']['cconfig.maxAprAtNone']);
  });

  it('says a max APR at the cap is the 24% cap, above which loans are refused', () => {
    const p = { max_apr_basis: 'cap' as const, max_apr_at: null };
    expect(maxAprNote(en, p)).toBe('the 24% cap: loans above it are refused');
    expect(maxAprNote(zh, p)).toBe(messages['zh-CN']['cconfig.maxAprCap']);
  });
});
