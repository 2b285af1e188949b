import { createHash } from 'node:crypto';
import { canonicalJson } from '../core/index.ts';

export const GENESIS_HASH = '0'.repeat(64);

/** The stored form of a leg, short because the journal keeps one per leg forever. */
export interface StoredLeg {
  a: string; // account id
  c: string; // currency
  s: 'D' | 'C';
  p: 'P' | 'H' | 'R'; // posted, pending (hold placed), released
  n: string; // amount, minor units
}

export interface HashedFields {
  seq: bigint;
  id: string;
  kind: string;
  postedAt: Date;
  holdId: string | null;
  reversesSeq: bigint | null;
  legs: StoredLeg[];
  metadata: Record<string, unknown>;
}

/**
 * hash(n) = SHA-256(hash(n−1) ‖ canonical(entry n)). Changing, dropping or reordering any entry
 * changes every hash after it, which `millet ledger verify` detects.
 */
export function entryHash(previousHash: string, entry: HashedFields): string {
  return createHash('sha256')
    .update(previousHash)
    .update(
      canonicalJson({
        seq: entry.seq,
        id: entry.id,
        kind: entry.kind,
        postedAt: entry.postedAt.toISOString(),
        holdId: entry.holdId,
        reversesSeq: entry.reversesSeq,
        legs: entry.legs,
        metadata: entry.metadata,
      }),
    )
    .digest('hex');
}
