import { MilletError, divRound } from '../core/index.ts';
import type { Apr } from '../lending/index.ts';
import type { OwnOfferSource } from './types.ts';

/** What the marketplace needs of the lending module to rank the platform's own cash loan. */
export interface OwnLoanProvider {
  quote(command: {
    amount: bigint;
    terms: number;
  }): Promise<{ productCode: string; apr: Apr; totalInterest: bigint } | null>;
  apply(
    userId: string,
    command: { productCode: string; amount: bigint; terms: number },
  ): Promise<{ status: 'approved' | 'declined'; offer: { id: string } | null; id: string }>;
}

/**
 * The platform's own cash loan as a marketplace offer, under the same rules as a partner's: the
 * quote answers the ping (no personal data: amount and term only; the lending module's own rules
 * decide on the post), the payout the ranking weighs is the loan's scheduled interest, and the
 * post is a lending application whose offer the user then accepts under /v1/loans/offers.
 */
export function ownLoanOffers(lending: OwnLoanProvider): OwnOfferSource {
  return {
    async quote({ amount, termMonths }) {
      const quote = await lending.quote({ amount, terms: termMonths });
      if (!quote) return null;
      return {
        amount,
        // percentE4 is 1/10,000 of a percentage point; a basis point is 1/100: rounded half-even.
        aprBp: Number(divRound(quote.apr.percentE4, 100n, 'half_even')),
        termMonths,
        promotions: [],
        valueFen: quote.totalInterest,
      };
    },
    async apply({ userId, amount, termMonths }) {
      const quote = await lending.quote({ amount, terms: termMonths });
      if (!quote)
        throw new MilletError('MARKETPLACE_OWN_OFFER_UNAVAILABLE', 'No cash-loan product fits any more');
      const application = await lending.apply(userId, {
        productCode: quote.productCode,
        amount,
        terms: termMonths,
      });
      return {
        decision: application.status,
        reference: application.offer?.id ?? application.id,
      };
    },
  };
}
