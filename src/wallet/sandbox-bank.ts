import { setTimeout as sleep } from 'node:timers/promises';
import {
  BankDeclinedError,
  BankTimeoutError,
  type BankConnector,
  type BankOutcome,
  type BankRequest,
  type BankSettlement,
} from './bank-connector.ts';

/**
 * A bank for development, tests and the demo that behaves like one: every call takes time, some
 * cards are declined, some requests time out yet go through, and settlement arrives later through
 * the callback. The card token decides:
 *
 * | card token            | behaviour                                                  |
 * | --------------------- | ---------------------------------------------------------- |
 * | `sandbox_decline`     | declined at once ("insufficient funds at the bank")        |
 * | `sandbox_timeout`     | the request times out, but the bank settles it: succeeded  |
 * | `sandbox_fail`        | accepted, then settles failed ("account closed")           |
 * | anything else         | accepted, then settles succeeded                           |
 *
 * Amounts above the per-transaction card limit (50,000.00) are declined.
 */
export interface SandboxBankOptions {
  latencyMs?: number;
  settleAfterMs?: number;
  cardLimit?: bigint;
}

export class SandboxBank implements BankConnector {
  readonly #latencyMs: number;
  readonly #settleAfterMs: number;
  readonly #cardLimit: bigint;
  readonly #operations = new Map<string, BankOutcome | 'pending'>();
  #handler: ((settlement: BankSettlement) => Promise<void>) | undefined;
  readonly #timers = new Set<NodeJS.Timeout>();

  constructor(options: SandboxBankOptions = {}) {
    this.#latencyMs = options.latencyMs ?? 30;
    this.#settleAfterMs = options.settleAfterMs ?? 200;
    this.#cardLimit = options.cardLimit ?? 5_000_000n;
  }

  onSettlement(handler: (settlement: BankSettlement) => Promise<void>): void {
    this.#handler = handler;
  }

  requestDebit(request: BankRequest): Promise<{ bankReference: string }> {
    return this.#request('D', request);
  }

  requestCredit(request: BankRequest): Promise<{ bankReference: string }> {
    return this.#request('C', request);
  }

  async status(reference: string): Promise<BankOutcome | 'pending' | 'unknown'> {
    await sleep(this.#latencyMs);
    return this.#operations.get(reference) ?? 'unknown';
  }

  /** Stops pending settlement timers (tests, shutdown). */
  close(): void {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }

  async #request(direction: 'D' | 'C', request: BankRequest): Promise<{ bankReference: string }> {
    await sleep(this.#latencyMs);
    const known = this.#operations.get(request.reference);
    if (known === undefined) {
      if (request.cardToken === 'sandbox_decline')
        throw new BankDeclinedError('insufficient funds at the bank');
      if (request.amount > this.#cardLimit) throw new BankDeclinedError('over the card limit');
      const outcome: BankOutcome = request.cardToken === 'sandbox_fail' ? 'failed' : 'succeeded';
      this.#operations.set(request.reference, 'pending');
      this.#settleLater(request.reference, outcome);
    }
    if (request.cardToken === 'sandbox_timeout') throw new BankTimeoutError();
    return { bankReference: `SBX${direction}-${request.reference.slice(-12)}` };
  }

  #settleLater(reference: string, outcome: BankOutcome): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.#operations.set(reference, outcome);
      const settlement: BankSettlement =
        outcome === 'failed' ? { reference, outcome, reason: 'account closed' } : { reference, outcome };
      // A failing handler leaves the operation pending on our side; reconciliation picks it up.
      this.#handler?.(settlement).catch(() => {});
    }, this.#settleAfterMs);
    this.#timers.add(timer);
  }
}
