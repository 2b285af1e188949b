import type { MessageKey } from '../shared/messages.ts';
import { formatFen } from '../shared/money.ts';

/** i18n.tsx's `Translate`, named here so this module (and its test) need no JSX. */
type Translate = (key: MessageKey, vars?: Record<string, string | number>) => string;

/** How the API found a loan product's max APR (`max_apr_basis`). */
export type MaxAprBasis = 'ends' | 'every_amount' | 'cap';

/**
 * The words beside a product's highest APR: the loan that reaches it, or why none is named. A null
 * loan means three different things: a proven upper bound, a figure from before the search over
 * every amount (which may be below the truth), or the 24% cap.
 */
export function maxAprNote(
  t: Translate,
  product: { max_apr_basis: MaxAprBasis; max_apr_at: { amount: string; terms: number } | null },
): string {
  switch (product.max_apr_basis) {
    case 'ends':
      return t('cconfig.maxAprEnds');
    case 'cap':
      return t('cconfig.maxAprCap');
    case 'every_amount':
      return product.max_apr_at
        ? t('cconfig.maxAprAt', {
            amount: formatFen(product.max_apr_at.amount),
            terms: product.max_apr_at.terms,
          })
        : t('cconfig.maxAprAtNone');
  }
}
