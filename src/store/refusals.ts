import { refusal, type MilletError } from '../core/index.ts';
import type { RiskDecision } from '../risk/index.ts';

const rejectionMessages: Record<string, string> = {
  unknown_sale: 'No such sale',
  not_started: 'The sale has not started',
  ended: 'The sale has ended',
  blacklisted: 'This account may not take part in the sale',
  over_limit: 'The quantity is over the per-user limit',
  limit_reached: 'You already have a reservation in this sale',
  already_queued: 'You already have an attempt waiting in the admission queue',
  sold_out: 'Sold out',
};

const riskRefusals = {
  slow_down: ['RATE_LIMITED', 'Too many attempts; wait before trying again'],
  challenge: ['STORE_CHALLENGE_REQUIRED', 'Complete the challenge before trying again'],
  block: ['STORE_ATTEMPT_BLOCKED', 'This attempt was refused by the anti-scalper rules'],
} as const;

/**
 * The store's refusals of flash-sale attempts. Most attempts in a sale are refused, and they differ
 * only by a small set of answers (an engine reason, a risk action with its reasons), so each
 * distinct answer is one error object, made once: the api serialises an error's problem body once
 * per object (`replyWithError`), which leaves per refusal only the request's own members to write.
 * The objects are shared between requests, so nothing may change them.
 */
export class AttemptRefusals {
  readonly #known = new Map<string, MilletError>();

  #once(key: string, make: () => MilletError): MilletError {
    let error = this.#known.get(key);
    if (!error) {
      error = make();
      // Reasons combine in few ways; the bound is a guard, not a limit ever reached in practice.
      if (this.#known.size < 10_000) this.#known.set(key, error);
    }
    return error;
  }

  notRegistered(): MilletError {
    return this.#once('not_registered', () =>
      refusal('STORE_NOT_REGISTERED', 'Register for this sale before it starts to take part'),
    );
  }

  /** A stock engine's refusal (`details.reason`: sold_out, limit_reached, …). */
  rejected(reason: string): MilletError {
    return this.#once(`engine:${reason}`, () =>
      refusal('STORE_ATTEMPT_REJECTED', rejectionMessages[reason] ?? reason, { reason }),
    );
  }

  /** The anti-scalper rules' answer to a decision other than allow, with its reasons. */
  risk(action: keyof typeof riskRefusals, decision: RiskDecision): MilletError {
    const retryAfterSeconds = action === 'slow_down' ? decision.retryAfterSeconds : undefined;
    return this.#once(`risk:${action}:${retryAfterSeconds}:${decision.reasons.join(',')}`, () => {
      const [code, message] = riskRefusals[action];
      return refusal(code, message, {
        ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
        reasons: [...decision.reasons],
      });
    });
  }
}
