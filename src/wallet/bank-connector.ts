/**
 * How the wallet talks to a bank: pull money from a user's bank card into the platform's account
 * (top-up) and push money back to a card (withdrawal). A request that the bank accepts settles
 * later, asynchronously; the connector reports the outcome through the settlement handler, and
 * `status` answers when a callback was lost or a request timed out.
 */
export interface BankRequest {
  /** Our operation id; the bank keys its idempotency on it. */
  reference: string;
  cardToken: string;
  amount: bigint;
  currency: string;
}

export type BankOutcome = 'succeeded' | 'failed';

export interface BankSettlement {
  reference: string;
  outcome: BankOutcome;
  reason?: string;
}

/** The bank refused the request outright: nothing will settle. */
export class BankDeclinedError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'BankDeclinedError';
  }
}

/** No answer in time: the request may or may not have been taken; ask `status` later. */
export class BankTimeoutError extends Error {
  constructor() {
    super('The bank did not answer in time');
    this.name = 'BankTimeoutError';
  }
}

export interface BankConnector {
  /** Resolves when the bank accepted the request (not yet settled). */
  requestDebit(request: BankRequest): Promise<{ bankReference: string }>;
  requestCredit(request: BankRequest): Promise<{ bankReference: string }>;
  /** Where settlements go; one handler per connector. */
  onSettlement(handler: (settlement: BankSettlement) => Promise<void>): void;
  status(reference: string): Promise<BankOutcome | 'pending' | 'unknown'>;
}
