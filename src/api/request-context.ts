import type { AuthenticatedUser } from '../identity/index.ts';
import type { AuthenticatedMerchant, MerchantScope } from '../merchants/index.ts';
import type { batchedIdempotencyKey } from './idempotency-store.ts';
import type { OperatorKey, OperatorScope } from './operator-keys.ts';

/** What the api module's hooks attach to requests and read from route config. */
export interface IdempotencyClaim {
  principal: string;
  key: string;
  claimToken: string;
}

/** A key left for the handler to claim: in its ledger batch, or by the ordinary path. */
export interface DeferredIdempotency {
  /** The key as an effect of the handler's ledger command. */
  batched: () => ReturnType<typeof batchedIdempotencyKey>;
  /** Claims it now; false when a replay was sent and the handler must stop. */
  claim: () => Promise<boolean>;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The scope an operator key needs for this route; routes without one are public. */
    scope?: OperatorScope;
    /** Top-level response fields blanked before an idempotent response is stored (secrets shown once). */
    idempotencyRedact?: readonly string[];
    /**
     * A success is not stored, so a retry under the same key runs again: the route hands out
     * credentials, which are never stored, and a replay without them would be a success the
     * client cannot use (log-in: the retry gets a new session).
     */
    idempotencyForgetsSuccess?: boolean;
    /**
     * What of the body the idempotency fingerprint covers, when not all of it: routes taking
     * passwords or personal data give keyed digests instead, so the stored hash reveals nothing.
     */
    idempotencyFingerprint?: (body: unknown) => unknown;
    /**
     * The handler claims the Idempotency-Key itself (`request.idempotencyDeferred`): in the ledger
     * batch that does its work, so one commit records both, or through the ordinary path.
     */
    idempotencyInBatch?: boolean;
    /**
     * The route needs a user's access token (`Authorization: Bearer <JWT>`). `'stateless'` checks
     * the signature and expiry only, with no session read (hot paths such as flash-sale attempts).
     */
    userAuth?: boolean | 'stateless';
    /**
     * With `userAuth`: reads the handler will need, started for the token's (verified) user while
     * the session is still being read, so the two wait together instead of one after the other.
     * Reads only; the handler uses them once the session is confirmed, and never otherwise.
     */
    prefetch?: (request: FastifyRequest, userId: string) => void;
    /**
     * The route keeps its own idempotency keyed by the Idempotency-Key (still required): the
     * api's stored-response claim (two SQL round trips) is skipped. The flash-sale attempt path.
     */
    ownIdempotency?: boolean;
    /**
     * The Idempotency-Key header may be left out (with `ownIdempotency`): partner callbacks, which
     * a signed webhook-id identifies instead.
     */
    idempotencyKeyOptional?: boolean;
    /** The route needs a merchant API key (`mlt_mk_…`) carrying this scope. */
    merchantAuth?: MerchantScope;
  }
  interface FastifyRequest {
    /** The authenticated operator key, on routes with a scope. */
    operator: OperatorKey | null;
    /** The authenticated user, on routes with `userAuth`. */
    user: AuthenticatedUser | null;
    /** The merchant whose API key authenticated, on routes with `merchantAuth`. */
    merchant: AuthenticatedMerchant | null;
    /** The Idempotency-Key header of a POST, checked for shape. */
    idempotencyKey: string | null;
    /** Set when this request owns its Idempotency-Key and must record its response. */
    idempotencyClaim: IdempotencyClaim | null;
    /** On routes with `idempotencyInBatch`: the key, not yet claimed. */
    idempotencyDeferred: DeferredIdempotency | null;
  }
}
