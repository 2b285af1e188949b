import { createHash } from 'node:crypto';
import { MilletError, canonicalJson, isUuid } from '../core/index.ts';
import type { BatchEffect } from './batch-effects.ts';
import type {
  Leg,
  Metadata,
  PlaceHoldCommand,
  PostEntryCommand,
  PostHoldCommand,
  ReverseEntryCommand,
  VoidHoldCommand,
} from './types.ts';

/** Every write the ledger accepts, as the group-commit writer sees it. */
export type LedgerCommand =
  | ({ type: 'entry' } & PostEntryCommand)
  | ({ type: 'hold' } & PlaceHoldCommand)
  | ({ type: 'hold_post' } & PostHoldCommand)
  | ({ type: 'hold_void' } & VoidHoldCommand)
  | { type: 'hold_expire'; id: string; holdId: string }
  | ({ type: 'reversal' } & ReverseEntryCommand);

/**
 * Largest amount a leg may carry: an entry's legs stay far inside int8. Running totals still grow
 * past it with enough entries; the batch refuses those (ACCOUNT_TOTALS_OVERFLOW).
 */
export const MAX_AMOUNT = 10n ** 15n;
const MAX_LEGS = 64;
const MAX_METADATA_BYTES = 4096;

function fail(message: string, details?: Record<string, unknown>): never {
  throw new MilletError('VALIDATION_FAILED', message, details);
}

function checkId(value: unknown, field: string): void {
  if (typeof value !== 'string' || !isUuid(value)) fail(`${field} must be a UUID`, { field });
}

function checkAmount(amount: unknown, field: string): void {
  if (typeof amount !== 'bigint' || amount <= 0n || amount > MAX_AMOUNT) {
    throw new MilletError(
      'AMOUNT_INVALID',
      `${field} must be a whole number of minor units between 1 and ${MAX_AMOUNT}`,
      {
        field,
      },
    );
  }
}

/** Entries' and accounts' metadata alike: an object of at most MAX_METADATA_BYTES of canonical JSON. */
export function checkMetadata(metadata: Metadata | undefined): void {
  if (metadata === undefined) return;
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata))
    fail('metadata must be an object');
  // UTF-8 bytes, as stored: a limit in UTF-16 units would let CJK text take three times the room.
  if (Buffer.byteLength(canonicalJson(metadata), 'utf8') > MAX_METADATA_BYTES)
    fail(`metadata may hold at most ${MAX_METADATA_BYTES} bytes (UTF-8)`);
}

function checkLegs(legs: readonly Leg[]): void {
  if (!Array.isArray(legs) || legs.length < 2) {
    throw new MilletError('ENTRY_TOO_FEW_LEGS', 'An entry needs at least two legs');
  }
  if (legs.length > MAX_LEGS) fail(`An entry may have at most ${MAX_LEGS} legs`);
  let debits = 0n;
  let credits = 0n;
  legs.forEach((leg, i) => {
    checkId(leg.accountId, `legs[${i}].accountId`);
    checkAmount(leg.amount, `legs[${i}].amount`);
    if (leg.side === 'debit') debits += leg.amount;
    else if (leg.side === 'credit') credits += leg.amount;
    else fail(`legs[${i}].side must be "debit" or "credit"`);
  });
  if (debits !== credits) {
    throw new MilletError('ENTRY_UNBALANCED', `Debits (${debits}) and credits (${credits}) differ`, {
      debits: debits.toString(),
      credits: credits.toString(),
    });
  }
  // An entry that nets to zero on every account moves nothing, yet would take a journal entry and
  // statement lines; refused as a hold between the same accounts is. An account on both sides of an
  // entry that moves money elsewhere stays allowed (a gross presentation).
  if (movesNothing(legs))
    fail(
      legs.length === 2
        ? 'The debit and credit accounts must differ: a transfer to the same account moves nothing'
        : 'An entry must move money between accounts: this one nets to zero on every account',
      { field: 'legs' },
    );
}

const sameAccount = (a: string, b: string): boolean => a === b || a.toLowerCase() === b.toLowerCase();

function movesNothing(legs: readonly Leg[]): boolean {
  // Balanced two-leg entries are nearly all traffic: a no-op exactly when both legs name one account.
  if (legs.length === 2) return sameAccount(legs[0]!.accountId, legs[1]!.accountId);
  const net = new Map<string, bigint>();
  for (const leg of legs) {
    const id = leg.accountId.toLowerCase();
    net.set(id, (net.get(id) ?? 0n) + (leg.side === 'debit' ? leg.amount : -leg.amount));
  }
  for (const amount of net.values()) if (amount !== 0n) return false;
  return true;
}

/**
 * Checks what can be checked without the ledger's state. A command refused here never reaches the
 * journal and does not burn its id (as in TigerBeetle, only state-dependent failures do).
 */
export function validateCommand(command: LedgerCommand): void {
  checkId(command.id, 'id');
  switch (command.type) {
    case 'entry':
      checkLegs(command.legs);
      checkMetadata(command.metadata);
      return;
    case 'hold':
      checkId(command.debitAccountId, 'debitAccountId');
      checkId(command.creditAccountId, 'creditAccountId');
      if (sameAccount(command.debitAccountId, command.creditAccountId))
        fail('A hold needs two different accounts');
      checkAmount(command.amount, 'amount');
      if (
        command.timeoutSeconds !== undefined &&
        (!Number.isInteger(command.timeoutSeconds) ||
          command.timeoutSeconds <= 0 ||
          command.timeoutSeconds > 366 * 86400)
      ) {
        fail('timeoutSeconds must be a whole number of seconds between 1 and one year');
      }
      checkMetadata(command.metadata);
      return;
    case 'hold_post':
      checkId(command.holdId, 'holdId');
      if (command.amount !== undefined) checkAmount(command.amount, 'amount');
      checkMetadata(command.metadata);
      return;
    case 'hold_void':
    case 'hold_expire':
      checkId(command.holdId, 'holdId');
      return;
    case 'reversal':
      checkId(command.entryId, 'entryId');
      checkMetadata(command.metadata);
      return;
  }
}

/** A validated command with what can be worked out before it reaches the writer's batch. */
export interface PreparedCommand {
  command: LedgerCommand;
  /** Decides whether a retry carries the same payload as the original. */
  fingerprint: string;
  /** Canonical JSON of the metadata, as stored and hashed. */
  metadataJson: string;
  /** Other modules' work that commits in the same transaction (batch-effects.ts). */
  effects?: readonly BatchEffect[];
}

/**
 * Validates and fingerprints a command when it is submitted, so this work overlaps the commit of
 * the batch in flight instead of lengthening the next one.
 */
export function prepareCommand(input: LedgerCommand, effects?: readonly BatchEffect[]): PreparedCommand {
  validateCommand(input);
  const command = lowerCaseIds(input);
  const metadata = 'metadata' in command ? command.metadata : undefined;
  const metadataJson = metadata ? canonicalJson(metadata) : '{}';
  // Plain entries are nearly all traffic: fingerprint them without the generic serialiser.
  const payload =
    command.type === 'entry'
      ? `entry\n${command.id}\n${command.legs.map((l) => `${l.accountId}:${l.side}:${l.amount}`).join(';')}\n${metadataJson}`
      : canonicalJson(command);
  const fingerprint = createHash('sha256').update(payload).digest('hex');
  return effects?.length
    ? { command, fingerprint, metadataJson, effects }
    : { command, fingerprint, metadataJson };
}

const UPPER_HEX = /[A-F]/;
const lower = (id: string): string => (UPPER_HEX.test(id) ? id.toLowerCase() : id);

/**
 * PostgreSQL compares UUIDs whatever their case, the batch's maps do not: an upper-case id would
 * miss its account, hold or earlier entry there (ACCOUNT_NOT_FOUND for an account that exists, a
 * duplicate key for a retry). The batch sees every id in lower case, as the database returns them.
 */
function lowerCaseIds(c: LedgerCommand): LedgerCommand {
  switch (c.type) {
    case 'entry': {
      // Nearly all traffic, and already lower case: no copy unless something changes.
      const legs = c.legs.some((leg) => UPPER_HEX.test(leg.accountId))
        ? c.legs.map((leg) => ({ ...leg, accountId: leg.accountId.toLowerCase() }))
        : c.legs;
      return legs === c.legs && !UPPER_HEX.test(c.id) ? c : { ...c, id: lower(c.id), legs };
    }
    case 'hold':
      return {
        ...c,
        id: lower(c.id),
        debitAccountId: lower(c.debitAccountId),
        creditAccountId: lower(c.creditAccountId),
      };
    case 'hold_post':
    case 'hold_void':
    case 'hold_expire':
      return { ...c, id: lower(c.id), holdId: lower(c.holdId) };
    case 'reversal':
      return { ...c, id: lower(c.id), entryId: lower(c.entryId) };
  }
}
