import { MilletError } from '../core/index.ts';
import type { PaymentMethodHandler } from '../merchants/index.ts';
import type { FeePayer } from './instalments.ts';
import type { Lines } from './lines.ts';

export const PAY_LATER = 'pay_later';
export const PAY_LATER_INSTALMENTS = 'pay_later_instalments';

function instalmentDetails(details: Readonly<Record<string, string>>): { terms: number; feePayer: FeePayer } {
  const terms = details.terms;
  if (!terms || !/^[1-9][0-9]?$/.test(terms))
    throw new MilletError(
      'VALIDATION_FAILED',
      'pay_later_instalments needs details.terms (months, e.g. "6")',
      {
        field: 'terms',
      },
    );
  const feePayer = details.fee_payer ?? 'user';
  if (feePayer !== 'user' && feePayer !== 'merchant')
    throw new MilletError('VALIDATION_FAILED', 'details.fee_payer is "user" or "merchant"', {
      field: 'fee_payer',
    });
  return { terms: Number(terms), feePayer };
}

/**
 * The checkout methods `pay_later` (billed on the next statement, or daily interest in daily mode)
 * and `pay_later_instalments` (details `terms`, optional `fee_payer`: "merchant" for interest-free
 * instalments the merchant pays for). The line's receivable pays the merchant's payable account;
 * a refund lowers what the user owes instead of crediting the wallet.
 */
export function paylaterMethods(lines: Lines): Record<string, PaymentMethodHandler> {
  const refund: PaymentMethodHandler['refund'] = async (r) => {
    await lines.refund(r);
  };
  const checkPayer: PaymentMethodHandler['checkPayer'] = async (userId) => {
    const line = await lines.lineRow(userId);
    if (line.status !== 'active')
      throw new MilletError('PAYLATER_LINE_SUSPENDED', 'The pay-later line is suspended (overdue)', {
        lineId: line.id,
      });
  };
  return {
    [PAY_LATER]: {
      async collect(payment) {
        await lines.purchase(payment);
        return { status: 'succeeded' };
      },
      refund,
      checkPayer,
    },
    [PAY_LATER_INSTALMENTS]: {
      validate: (details) => void instalmentDetails(details),
      async collect(payment) {
        await lines.purchase({ ...payment, instalments: instalmentDetails(payment.details) });
        return { status: 'succeeded' };
      },
      refund,
      checkPayer,
    },
  };
}
