import { createHash } from 'node:crypto';

export const GENESIS_HASH = '0'.repeat(64);

/** The stored form of a leg, short because the journal keeps one per leg forever. */
export interface StoredLeg {
  a: string; // account id
  c: string; // currency
  s: 'D' | 'C';
  p: 'P' | 'H' | 'R'; // posted, pending (hold placed), released
  n: string; // amount, minor units
}

/**
 * The legs as stored and hashed: `<side><phase> <account> <currency> <amount>` joined by `;`, e.g.
 * `DP 0193…e1 CNY 1000;CP 0193…7a CNY 1000`. Every field is a UUID, an ISO code, a letter or digits,
 * so the text needs no escaping anywhere, and it is a third the size of the same legs as JSON — it is
 * written once per entry on the hot path.
 */
export function encodeLegs(legs: readonly StoredLeg[]): string {
  return legs.map((l) => `${l.s}${l.p} ${l.a} ${l.c} ${l.n}`).join(';');
}

export function decodeLegs(text: string): StoredLeg[] {
  return text.split(';').map((part) => {
    const [sidePhase, a, c, n] = part.split(' ');
    return { s: sidePhase![0] as StoredLeg['s'], p: sidePhase![1] as StoredLeg['p'], a: a!, c: c!, n: n! };
  });
}

export interface HashedFields {
  seq: bigint;
  id: string;
  kind: string;
  postedAtIso: string;
  holdId: string | null;
  reversesSeq: bigint | null;
  /** Exactly the stored legs text (encodeLegs). */
  legsText: string;
  /** Canonical JSON of the metadata. */
  metadataJson: string;
}

/**
 * hash(n) = SHA-256(hash(n−1) ‖ entry n's fields, one per line). Changing, dropping or reordering
 * any entry changes every hash after it, which `millet ledger verify` detects.
 */
export function entryHash(previousHash: string, e: HashedFields): string {
  return createHash('sha256')
    .update(
      `${previousHash}\n${e.seq}\n${e.id}\n${e.kind}\n${e.postedAtIso}\n${e.holdId ?? ''}\n${e.reversesSeq ?? ''}\n${e.legsText}\n${e.metadataJson}`,
    )
    .digest('hex');
}
