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

/**
 * Who, besides the wallet, asks the bank to move money on a card. The bank keys its idempotency on
 * the reference and has one reference space for all of them, so each module's requests go under its
 * own namespace: a card payment a client names by some id can't be taken by the bank for a loan's
 * disbursement or a payout with that id, nor receive their settlements. (The wallet's own top-ups
 * and withdrawals are `wallet-<id>`; no other module may use that namespace.)
 */
export const CARD_NAMESPACES = ['payment', 'payout', 'loan'] as const;
export type CardNamespace = (typeof CARD_NAMESPACES)[number];

/** A module's card request, named within its namespace by one of its record ids (a UUID). */
export interface CardRequest {
  namespace: CardNamespace;
  id: string;
  cardToken: string;
  amount: bigint;
  currency: string;
}

/** The bank's settlement of a module's card request, delivered only to that request's namespace. */
export interface CardSettlement {
  id: string;
  outcome: BankOutcome;
  reason?: string;
}

/** The reference the bank knows a card request by. */
export const cardReferenceOf = (namespace: CardNamespace | 'wallet', id: string): string =>
  `${namespace}-${id}`;
