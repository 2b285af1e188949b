import {
  MilletError,
  decodeIdCursor,
  derivedId,
  encodeIdCursor,
  isMilletError,
  isUuid,
  type Clock,
} from '../core/index.ts';
import type { Logger } from 'pino';
import type { Database } from '../db/index.ts';
import type { Ledger } from '../ledger/index.ts';
import {
  BankDeclinedError,
  BankTimeoutError,
  type BankConnector,
  type BankOutcome,
  type BankSettlement,
  type CardNamespace,
  type CardSettlement,
  CARD_NAMESPACES,
  cardReferenceOf,
} from './bank-connector.ts';
import { accountClassLimits, type AccountClass } from './account-classes.ts';
import {
  chargePaymentAllowance,
  recountPaymentAllowance,
  releasePaymentAllowance,
} from './payment-allowance.ts';
import type { WalletUserDirectory } from './users.ts';
import { WALLET_CURRENCY, findWalletAccount, platformAccountIds, requireIds } from './wallet-accounts.ts';

export type BankOperationKind = 'top_up' | 'withdrawal';
export type OperationStatus = 'pending' | 'succeeded' | 'failed';

export interface BankOperation {
  id: string;
  kind: BankOperationKind;
  userId: string;
  amount: bigint;
  currency: string;
  status: OperationStatus;
  bankReference: string | null;
  failureCode: string | null;
  failureMessage: string | null;
  /** When reconciliation flagged it, still undecided at the bank, for an operator; else null. */
  attentionAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface BankOperationListQuery {
  /** Only operations reconciliation flagged that the bank has still not decided. */
  attention?: boolean;
  /** From a previous page's `nextCursor`. */
  cursor?: string;
  /** Page size (default 50). */
  limit?: number;
}

export interface BankOperationCommand {
  /** The client's id for the operation: a retry with the same id is the same operation. */
  id: string;
  userId: string;
  amount: bigint;
  cardToken: string;
}

interface OperationRow {
  id: string;
  kind: BankOperationKind;
  user_id: string;
  amount: bigint;
  currency: string;
  card_token: string;
  status: OperationStatus;
  bank_reference: string | null;
  failure_code: string | null;
  failure_message: string | null;
  /** The period a Class I withdrawal charged against the lifetime limit; null when none. */
  usage_period: string | null;
  attention_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

function fromRow(r: OperationRow): BankOperation {
  return {
    id: r.id,
    kind: r.kind,
    userId: r.user_id,
    amount: r.amount,
    currency: r.currency,
    status: r.status,
    bankReference: r.bank_reference,
    failureCode: r.failure_code,
    failureMessage: r.failure_message,
    attentionAt: r.attention_at ?? null,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** Ledger ids of an operation's entries, derived so that every retry names the same entry. */
const ledgerIds = (operationId: string) => ({
  credit: derivedId('wallet.top-up', operationId),
  hold: derivedId('wallet.withdrawal.hold', operationId),
  post: derivedId('wallet.withdrawal.post', operationId),
  void: derivedId('wallet.withdrawal.void', operationId),
  /** A withdrawal the bank paid out after its hold had been given back (see settle). */
  latePost: derivedId('wallet.withdrawal.late-post', operationId),
  /** The same payout booked as owed by the user, when the wallet refused the late post. */
  shortfall: derivedId('wallet.withdrawal.shortfall', operationId),
});

/** The ledger refused to resolve a hold because it was already voided (or expired), not posted. */
const holdGoneBack = (error: unknown): boolean =>
  isMilletError(error) && error.code === 'HOLD_NOT_PENDING' && error.details?.status !== 'posted';

/**
 * What the bank knows an operation by. Not the operation id itself: the bank keys its idempotency
 * on the reference and shares one reference space between every module's requests, and the other
 * modules name theirs by UUIDs a client can choose (a card payment's id). A top-up sharing a card
 * payment's id would be taken by the bank for that payment, and its settlement credit the top-up's
 * amount for the payment's. Every module has its namespace, the wallet `wallet` (see CardNamespace).
 */
export const bankReferenceOf = (operationId: string) => cardReferenceOf('wallet', operationId);

/** The namespace and record id a reference names, when it is one of ours. */
function parseReference(reference: string): { namespace: CardNamespace | 'wallet'; id: string } | undefined {
  const dash = reference.indexOf('-');
  if (dash < 0) return undefined;
  const namespace = reference.slice(0, dash);
  const id = reference.slice(dash + 1);
  if (!isUuid(id)) return undefined;
  if (namespace === 'wallet') return { namespace, id };
  return (CARD_NAMESPACES as readonly string[]).includes(namespace)
    ? { namespace: namespace as CardNamespace, id }
    : undefined;
}

/** Pending operations read per page of a reconciliation walk. */
const RECONCILE_PAGE = 200;
/** How long an operation may stay undecided at the bank before an operator is asked to look. */
export const ATTENTION_AFTER_MS = 24 * 60 * 60 * 1000;

export type WalletLogger = Pick<Logger, 'error' | 'warn'>;

export interface ReconcileOptions {
  /** Only operations at least this old (default a minute): younger ones may still be settling. */
  olderThanMs?: number;
  /** Resume after the operation this cursor (from `onProgress`) names; null or absent: from the oldest. */
  cursor?: string | null;
  /** After each page: a cursor to resume after it, and how many operations this walk has checked. */
  onProgress?: (cursor: string, progress: { done: number }) => Promise<void> | void;
  /** Undecided this long (default a day): flagged for an operator. */
  attentionAfterMs?: number;
  pageSize?: number;
}

function parseReconcileCursor(cursor: string): { at: string; id: string } {
  const bar = cursor.lastIndexOf('|');
  const at = cursor.slice(0, bar);
  const id = cursor.slice(bar + 1);
  if (bar < 0 || !isUuid(id) || !/^\d{4}-\d\d-\d\d[ T][\d:.]+([+-][\d:]+|Z)?$/.test(at))
    throw new MilletError('VALIDATION_FAILED', 'Not a reconciliation cursor', { field: 'cursor' });
  return { at, id };
}

/**
 * Top-ups and withdrawals through a bank connector. A top-up credits the wallet only once the bank
 * settles it. A withdrawal first holds the amount in the wallet, so it can't be spent twice, then
 * posts the hold when the bank settles, or voids it — returning the money — when the bank declines
 * or fails.
 */
export class BankOperations {
  readonly #cardSettlements = new Map<CardNamespace, Array<(settlement: CardSettlement) => Promise<void>>>();

  constructor(
    private readonly db: Database,
    private readonly ledger: Ledger,
    private readonly clock: Clock,
    private readonly bank: BankConnector,
    private readonly users: WalletUserDirectory,
    private readonly logger?: WalletLogger,
  ) {
    bank.onSettlement((settlement) => this.settle(settlement));
  }

  topUp(command: BankOperationCommand): Promise<BankOperation> {
    return this.#start('top_up', command);
  }

  withdraw(command: BankOperationCommand): Promise<BankOperation> {
    return this.#start('withdrawal', command);
  }

  /**
   * One operation; with `userId`, only that user's, and with `kind`, only one of that kind. What is
   * not found is reported as the kind asked for, so the answer tells nothing of another's records.
   */
  async get(id: string, userId?: string, kind?: BankOperationKind): Promise<BankOperation> {
    const result = isUuid(id)
      ? await this.db.query<OperationRow>('SELECT * FROM wallet_bank_operations WHERE id = $1', [id])
      : { rows: [] };
    const row = result.rows[0];
    if (
      !row ||
      (userId !== undefined && row.user_id !== userId) ||
      (kind !== undefined && row.kind !== kind)
    ) {
      const notFound = (kind ?? (userId === undefined ? row?.kind : undefined)) === 'withdrawal';
      throw new MilletError(notFound ? 'WITHDRAWAL_NOT_FOUND' : 'TOP_UP_NOT_FOUND', `No operation ${id}`, {
        id,
      });
    }
    return fromRow(row);
  }

  /**
   * Every user's operations for operators, a page at a time in id order (the cursor is an id, as in
   * the other operator lists). With `attention`, only flagged ones still pending: once the bank
   * decides, the flag stays on the row as history but there is nothing left to take up.
   */
  async list(
    query: BankOperationListQuery = {},
  ): Promise<{ items: BankOperation[]; nextCursor: string | null }> {
    const limit = query.limit ?? 50;
    const after = query.cursor ? decodeIdCursor(query.cursor) : '00000000-0000-0000-0000-000000000000';
    const filter = query.attention ? "AND status = 'pending' AND attention_at IS NOT NULL" : '';
    const result = await this.db.query<OperationRow>(
      `SELECT * FROM wallet_bank_operations WHERE id > $1 ${filter} ORDER BY id LIMIT $2`,
      [after, limit + 1],
    );
    const items = result.rows.slice(0, limit).map(fromRow);
    return { items, nextCursor: result.rows.length > limit ? encodeIdCursor(items.at(-1)!.id) : null };
  }

  /**
   * Settlements of requests other modules made through this connector (a checkout by bank card):
   * the connector has one settlement handler, so the wallet passes on each to the handlers of the
   * request's namespace only, named by the module's own id.
   */
  onCardSettlement(namespace: CardNamespace, handler: (settlement: CardSettlement) => Promise<void>): void {
    const handlers = this.#cardSettlements.get(namespace) ?? [];
    handlers.push(handler);
    this.#cardSettlements.set(namespace, handlers);
  }

  /**
   * Applies a bank's settlement; safe to receive twice, late, or in any order. The bank's word that
   * money moved wins over a failure recorded here — a decline, a failed settlement, a request the
   * bank had no record of yet — since the money did move: a top-up is credited, a withdrawal taken
   * from the wallet. A failure arriving after a success changes nothing.
   */
  async settle(settlement: BankSettlement): Promise<void> {
    const named = parseReference(settlement.reference);
    // Not a reference any module made: nobody's to apply.
    if (named === undefined) return;
    if (named.namespace === 'wallet') {
      await this.#settleOperation(named.id, settlement.outcome, settlement.reason);
      return;
    }
    const { outcome, reason } = settlement;
    for (const handler of this.#cardSettlements.get(named.namespace) ?? [])
      await handler(reason === undefined ? { id: named.id, outcome } : { id: named.id, outcome, reason });
  }

  /** Returns whether this call ended the operation. */
  async #settleOperation(operationId: string, outcome: BankOutcome, reason?: string): Promise<boolean> {
    const operation = await this.get(operationId).catch(() => undefined);
    if (!operation || operation.status === 'succeeded') return false;
    if (outcome === 'succeeded') {
      await this.#applySuccess(operation);
      return true;
    }
    if (operation.status !== 'pending') return false;
    if (operation.kind === 'withdrawal' && !(await this.#releaseHold(operation.id))) {
      // A success posted the hold first: the money has left, as the ledger says, whatever came after.
      await this.#finish(operation.id, 'succeeded');
      return true;
    }
    await this.#finish(operation.id, 'failed', 'BANK_DECLINED', reason ?? 'the bank failed the operation');
    return true;
  }

  async #applySuccess(operation: BankOperation): Promise<void> {
    const wallet = await findWalletAccount(this.db, operation.userId);
    const { bankClearing } = platformAccountIds(operation.currency);
    const ids = ledgerIds(operation.id);
    if (operation.kind === 'top_up') {
      await this.ledger.transfer({
        id: ids.credit,
        debitAccountId: bankClearing,
        creditAccountId: wallet.ledgerAccountId,
        amount: operation.amount,
        metadata: { topUpId: operation.id },
      });
    } else {
      try {
        await this.ledger.postHold({
          id: ids.post,
          holdId: ids.hold,
          metadata: { withdrawalId: operation.id },
        });
      } catch (error) {
        if (!holdGoneBack(error)) throw error;
        await this.#takeLatePayout(operation, wallet.ledgerAccountId);
      }
    }
    await this.#finish(operation.id, 'succeeded', undefined, undefined, ['pending', 'failed']);
  }

  /**
   * The hold went back to the wallet (the operation was failed here) but the bank paid out: the
   * amount is taken again. When the wallet no longer holds it, the bank's money is still gone, so
   * the amount is booked as owed by the user (the `withdrawal_shortfall` account, with the user and
   * withdrawal in the entry's metadata) for operators to collect. The ledger keeps a refusal under
   * its entry id, so the wallet's answer is given once: a settlement delivered twice, at once, or
   * retried after a crash, takes the amount the same one way.
   */
  async #takeLatePayout(operation: BankOperation, walletAccountId: string): Promise<void> {
    const { bankClearing, withdrawalShortfall } = platformAccountIds(operation.currency);
    const ids = ledgerIds(operation.id);
    try {
      await this.ledger.transfer({
        id: ids.latePost,
        debitAccountId: walletAccountId,
        creditAccountId: bankClearing,
        amount: operation.amount,
        metadata: { withdrawalId: operation.id },
      });
      return;
    } catch (error) {
      if (!(isMilletError(error) && error.code === 'INSUFFICIENT_FUNDS')) throw error;
    }
    await this.ledger.transfer({
      id: ids.shortfall,
      debitAccountId: withdrawalShortfall,
      creditAccountId: bankClearing,
      amount: operation.amount,
      metadata: { withdrawalId: operation.id, userId: operation.userId },
    });
  }

  /**
   * Asks the bank about every operation still pending after `olderThanMs` (lost callbacks,
   * timeouts, a connector that failed), oldest first, a page at a time in (created_at, id) order:
   * each page is read on its own and the bank is asked outside any transaction, so the walk holds
   * no locks however long the bank takes. `cursor` resumes after the operation a previous walk's
   * `onProgress` named. An operation the bank cannot be asked about now is skipped (the next run
   * asks again); one still undecided after `attentionAfterMs` is flagged once for an operator.
   * Returns how many operations it ended.
   */
  async reconcile(options: ReconcileOptions = {}): Promise<number> {
    const now = this.clock.now().getTime();
    // Fixed for the whole walk, so operations made meanwhile don't keep it going.
    const before = new Date(now - (options.olderThanMs ?? 60_000));
    const attentionBefore = new Date(now - (options.attentionAfterMs ?? ATTENTION_AFTER_MS));
    const pageSize = options.pageSize ?? RECONCILE_PAGE;
    let after = options.cursor ? parseReconcileCursor(options.cursor) : undefined;
    let settled = 0;
    let checked = 0;
    let firstError: unknown;
    for (;;) {
      const page = await this.db.query<{
        id: string;
        at: string;
        attention_at: Date | null;
        created_at: Date;
      }>(
        `SELECT id, created_at::text AS at, created_at, attention_at FROM wallet_bank_operations
          WHERE status = 'pending' AND created_at <= $1
            AND ($2::text IS NULL OR (created_at, id) > ($2::text::timestamptz, $3::uuid))
          ORDER BY created_at, id LIMIT $4`,
        [before, after?.at ?? null, after?.id ?? null, pageSize],
      );
      for (const row of page.rows) {
        try {
          if (await this.#reconcileOne(row, attentionBefore)) settled += 1;
        } catch (error) {
          // One operation the ledger or database could not end must not keep the rest from being
          // asked about: it stays pending for the next run, and the run reports the failure.
          this.logger?.error({ err: error, operationId: row.id }, 'reconciling a bank operation failed');
          firstError ??= error;
        }
      }
      checked += page.rows.length;
      const last = page.rows.at(-1);
      if (last === undefined) break;
      after = { at: last.at, id: last.id };
      await options.onProgress?.(`${last.at}|${last.id}`, { done: checked });
      if (page.rows.length < pageSize) break;
    }
    if (firstError !== undefined) throw firstError;
    return settled;
  }

  /** Asks the bank about one pending operation; returns whether this ended it. */
  async #reconcileOne(
    row: { id: string; created_at: Date; attention_at: Date | null },
    attentionBefore: Date,
  ): Promise<boolean> {
    let status: BankOutcome | 'pending' | 'unknown';
    try {
      status = await this.bank.status(bankReferenceOf(row.id));
    } catch (error) {
      // The bank cannot say now: still pending, asked again next run.
      this.logger?.warn(
        { err: error, operationId: row.id },
        'the bank could not be asked about an operation',
      );
      status = 'pending';
    }
    if (status === 'succeeded' || status === 'failed') return this.#settleOperation(row.id, status);
    // The bank never took it: nothing can settle, so the operation failed.
    if (status === 'unknown')
      return this.#settleOperation(row.id, 'failed', 'the bank has no record of the request');
    if (row.attention_at === null && row.created_at <= attentionBefore) {
      const flagged = await this.db.query(
        `UPDATE wallet_bank_operations SET attention_at = $2
          WHERE id = $1 AND status = 'pending' AND attention_at IS NULL`,
        [row.id, this.clock.now()],
      );
      if ((flagged.rowCount ?? 0) > 0)
        this.logger?.warn(
          { operationId: row.id, createdAt: row.created_at },
          'a bank operation is still undecided at the bank; an operator should take it up with the bank',
        );
    }
    return false;
  }

  async #start(kind: BankOperationKind, command: BankOperationCommand): Promise<BankOperation> {
    requireIds({ id: command.id, userId: command.userId });
    if (command.amount <= 0n) throw new MilletError('AMOUNT_INVALID', 'amount must be positive');
    const wallet = await findWalletAccount(this.db, command.userId);
    const now = this.clock.now();
    const payer = kind === 'withdrawal' ? await this.#withdrawer(command.userId) : undefined;
    const chargedClass = payer?.chargedClass;
    // The row and the class-limit charge in one transaction: a retry finds the row and charges
    // nothing, and a refused charge rolls the row back with it. The charge locks the user's usage
    // rows, so two withdrawals (or a withdrawal and a payment) at once are judged one at a time.
    const inserted = await this.db.transaction(async (tx) => {
      const row = await tx.query<OperationRow>(
        `INSERT INTO wallet_bank_operations (id, kind, user_id, amount, currency, card_token, status, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $7)
         ON CONFLICT (id) DO NOTHING RETURNING *`,
        [command.id, kind, command.userId, command.amount, WALLET_CURRENCY, command.cardToken, now],
      );
      // Refused here, so the row rolls back and no hold is placed; a retry of a withdrawal already
      // recorded still finds it, as payments answer a replay before judging the payer. Nothing
      // happened, so the same request may run again once the user has verified.
      if (row.rows.length > 0 && payer?.verified === false)
        throw new MilletError(
          'IDENTITY_NOT_VERIFIED',
          'Verify your identity (real name and resident ID) before withdrawing to a bank card',
          undefined,
          { beforeAnyEffect: true },
        );
      if (row.rows.length === 0 || chargedClass === undefined) return row;
      const period = await chargePaymentAllowance(tx, command.userId, chargedClass, command.amount, now);
      await tx.query('UPDATE wallet_bank_operations SET usage_period = $2 WHERE id = $1', [
        command.id,
        period,
      ]);
      return row;
    });
    if (inserted.rows.length === 0) {
      const existing = await this.db.query<OperationRow>(
        'SELECT * FROM wallet_bank_operations WHERE id = $1',
        [command.id],
      );
      const row = existing.rows[0]!;
      if (
        row.kind !== kind ||
        row.user_id !== command.userId ||
        row.amount !== command.amount ||
        row.card_token !== command.cardToken
      ) {
        throw new MilletError(
          'IDEMPOTENCY_KEY_REUSED',
          `Operation ${command.id} was already requested with other details`,
        );
      }
      return fromRow(row);
    }
    const request = {
      reference: bankReferenceOf(command.id),
      cardToken: command.cardToken,
      amount: command.amount,
      currency: WALLET_CURRENCY,
    };
    const { bankClearing } = platformAccountIds(WALLET_CURRENCY);
    if (kind === 'withdrawal') {
      try {
        await this.ledger.placeHold({
          id: ledgerIds(command.id).hold,
          debitAccountId: wallet.ledgerAccountId,
          creditAccountId: bankClearing,
          amount: command.amount,
          metadata: { withdrawalId: command.id },
        });
      } catch (error) {
        if (isMilletError(error)) await this.#finish(command.id, 'failed', error.code, error.message);
        throw error;
      }
    }
    let bankReference: string | undefined;
    try {
      ({ bankReference } =
        kind === 'top_up' ? await this.bank.requestDebit(request) : await this.bank.requestCredit(request));
    } catch (error) {
      if (error instanceof BankDeclinedError) {
        if (kind === 'withdrawal') await this.#releaseHold(command.id);
        await this.#finish(command.id, 'failed', 'BANK_DECLINED', `The bank declined: ${error.reason}`);
        throw new MilletError('BANK_DECLINED', `The bank declined: ${error.reason}`, { id: command.id });
      }
      // A timeout, a reset connection, a connector's own bug: we do not know what the bank did, so
      // the operation stays pending (money held) and reconciliation asks the bank, as for a timeout.
      if (!(error instanceof BankTimeoutError))
        this.logger?.error(
          { err: error, operationId: command.id, kind },
          'bank connector failed; the operation stays pending for reconciliation',
        );
    }
    if (bankReference !== undefined)
      await this.db.query(
        'UPDATE wallet_bank_operations SET bank_reference = $2, updated_at = $3 WHERE id = $1',
        [command.id, bankReference, this.clock.now()],
      );
    return this.get(command.id);
  }

  /** Voids a withdrawal's hold; false when the hold was posted instead (the bank paid it out). */
  async #releaseHold(operationId: string): Promise<boolean> {
    const ids = ledgerIds(operationId);
    try {
      await this.ledger.voidHold({ id: ids.void, holdId: ids.hold, metadata: { withdrawalId: operationId } });
    } catch (error) {
      if (holdGoneBack(error)) return true;
      if (isMilletError(error) && error.code === 'HOLD_NOT_PENDING') return false;
      // Never placed (the wallet lacked funds): nothing to give back.
      if (!(isMilletError(error) && error.code === 'HOLD_NOT_FOUND')) throw error;
    }
    return true;
  }

  /**
   * A withdrawal's Class I charge is given back when it fails (declined, failed at settlement, the
   * bank had no record, the hold refused) and taken again when a payout arrives after that, in the
   * transaction that moves the status, which it does once: the allowance moves once each way.
   * The late charge is not judged against the limit: the money has left all the same.
   */
  async #finish(
    id: string,
    status: OperationStatus,
    code?: string,
    message?: string,
    from: readonly OperationStatus[] = ['pending'],
  ): Promise<void> {
    await this.db.transaction(async (tx) => {
      const before = await tx.query<Pick<OperationRow, 'status' | 'user_id' | 'amount' | 'usage_period'>>(
        'SELECT status, user_id, amount, usage_period FROM wallet_bank_operations WHERE id = $1 FOR UPDATE',
        [id],
      );
      const row = before.rows[0];
      if (!row || !from.includes(row.status)) return;
      await tx.query(
        `UPDATE wallet_bank_operations SET status = $2, failure_code = $3, failure_message = $4, updated_at = $5
          WHERE id = $1`,
        [id, status, code ?? null, message ?? null, this.clock.now()],
      );
      if (row.usage_period === null) return;
      if (status === 'failed' && row.status !== 'failed')
        await releasePaymentAllowance(tx, row.user_id, row.usage_period, row.amount);
      else if (status === 'succeeded' && row.status === 'failed')
        await recountPaymentAllowance(tx, row.user_id, row.usage_period, row.amount);
    });
  }

  /**
   * Whether the user may withdraw, and the class a withdrawal is charged under, when it is charged.
   * Money leaves a payment account only for a real-name verified customer (PBoC
   * 《非银行支付机构网络支付业务管理办法》 (2015) Arts. 7 and 11: every payment account has a class, and a
   * class comes only from identity verification); an unverified user is refused as payments and
   * transfers refuse one. Only Class I is charged: Art. 11(1) caps a Class I account's balance
   * payments at 1,000 CNY over its life "including transfers from the payment account to the
   * customer's own same-name bank account"; Art. 11(2) and (3) cap Classes II and III's yearly
   * balance payments "excluding" those transfers.
   */
  async #withdrawer(userId: string): Promise<{ verified: boolean; chargedClass?: AccountClass }> {
    const user = await this.users.getUser(userId);
    if (user.kycStatus !== 'verified' || user.accountClass === null) return { verified: false };
    return accountClassLimits[user.accountClass].per === 'life'
      ? { verified: true, chargedClass: user.accountClass }
      : { verified: true };
  }
}
