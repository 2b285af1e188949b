import { MilletError } from '../core/errors.ts';

/** The parts of what a borrower owes, in the order a repayment may pay them. */
export type Component = 'penalty' | 'fee' | 'interest' | 'principal';
export const components: readonly Component[] = ['penalty', 'fee', 'interest', 'principal'];

/** DESIGN §2.5's default: penalties, fees, interest, principal; past due before due. */
export const DEFAULT_ALLOCATION_ORDER: readonly Component[] = ['penalty', 'fee', 'interest', 'principal'];

export interface AllocationPolicy {
  readonly order: readonly Component[];
  /** Pay every instalment already past due (oldest first) before any that is not. */
  readonly pastDueFirst: boolean;
}

export const defaultAllocationPolicy: AllocationPolicy = {
  order: DEFAULT_ALLOCATION_ORDER,
  pastDueFirst: true,
};

/** What is still owed on one instalment (amounts ≥ 0). */
export interface Owed {
  readonly number: number;
  readonly dueDate: string;
  readonly penalty: bigint;
  readonly fee: bigint;
  readonly interest: bigint;
  readonly principal: bigint;
}

export interface Allocation {
  readonly number: number;
  readonly component: Component;
  readonly amount: bigint;
}

export function assertAllocationOrder(order: readonly Component[]): void {
  if (
    order.length !== components.length ||
    new Set(order).size !== order.length ||
    order.some((c) => !components.includes(c))
  ) {
    throw new MilletError(
      'LOAN_PRODUCT_INVALID',
      'the allocation order lists penalty, fee, interest and principal once each',
    );
  }
}

/**
 * Split `amount` over what is owed: instalments past due on `asOf` first (if the policy says so),
 * oldest first, each instalment's components in the policy's order; an instalment is due, not past
 * due, on its due date. Returns the allocations and what was left over (an overpayment, which the
 * caller turns into a prepayment or refuses).
 */
export function allocateRepayment(
  owed: readonly Owed[],
  amount: bigint,
  asOf: string,
  policy: AllocationPolicy = defaultAllocationPolicy,
): { allocations: Allocation[]; unapplied: bigint } {
  if (amount < 0n) throw new MilletError('AMOUNT_INVALID', 'a repayment is not negative');
  assertAllocationOrder(policy.order);
  const byDue = [...owed].sort((a, b) =>
    a.dueDate < b.dueDate ? -1 : a.dueDate > b.dueDate ? 1 : a.number - b.number,
  );
  const queue = policy.pastDueFirst
    ? [...byDue.filter((o) => o.dueDate < asOf), ...byDue.filter((o) => o.dueDate >= asOf)]
    : byDue;
  const allocations: Allocation[] = [];
  let left = amount;
  for (const item of queue) {
    for (const component of policy.order) {
      if (left === 0n) break;
      const want = item[component];
      if (want <= 0n) continue;
      const pay = want < left ? want : left;
      allocations.push({ number: item.number, component, amount: pay });
      left -= pay;
    }
  }
  return { allocations, unapplied: left };
}
