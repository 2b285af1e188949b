import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MilletError, isUuid, type Clock } from '../core/index.ts';
import { loadMigrations, type Database, type Migration } from '../db/index.ts';
import type { Ledger, Page, StatementLine, StatementQuery } from '../ledger/index.ts';
import {
  BankDeclinedError,
  BankTimeoutError,
  CARD_NAMESPACES,
  cardReferenceOf,
  type BankConnector,
  type BankOutcome,
  type BankRequest,
  type CardNamespace,
  type CardRequest,
  type CardSettlement,
} from './bank-connector.ts';
import {
  BankOperations,
  type BankOperation,
  type BankOperationCommand,
  type BankOperationListQuery,
  type BankOperationKind,
  type ReconcileOptions,
  type WalletLogger,
} from './bank-operations.ts';
import {
  getTransfer,
  recoverTransfers,
  transferBetweenWallets,
  type TransferCommand,
  type WalletTransfer,
} from './transfers.ts';
import type { WalletUserDirectory } from './users.ts';
import {
  ensurePlatformAccounts,
  findWalletAccount,
  findWalletAccounts,
  openWalletAccount,
  platformAccountIds,
} from './wallet-accounts.ts';

export const walletMigrations: Migration[] = loadMigrations(
  'wallet',
  path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations'),
);

export interface WalletBalance {
  userId: string;
  ledgerAccountId: string;
  currency: string;
  /** Posted balance, minor units. */
  balance: bigint;
  /** What can be spent now: the balance less amounts held (withdrawals in flight). */
  available: bigint;
}

export interface WalletOptions {
  db: Database;
  ledger: Ledger;
  clock: Clock;
  users: WalletUserDirectory;
  bank: BankConnector;
  /** Where connector failures and operations needing an operator are reported. */
  logger?: WalletLogger;
}

/** The wallet's public API. */
export interface Wallet {
  /** Creates the platform's ledger accounts; call once at start. */
  start(): Promise<void>;
  openWallet(userId: string): Promise<WalletBalance>;
  getWallet(userId: string): Promise<WalletBalance>;
  /**
   * The ledger account of the user's wallet (WALLET_NOT_FOUND without one), without its balance.
   * Remembered once found: a wallet, once opened, keeps its account for good.
   */
  walletAccountId(userId: string): Promise<string>;
  /**
   * Many users' balances in two queries (wallet accounts, then their ledger accounts), for batch
   * jobs such as the monthly score refresh; users without a wallet are absent from the map.
   */
  getWalletBalances(userIds: readonly string[]): Promise<Map<string, WalletBalance>>;
  /** The wallet's ledger lines, newest last, a page at a time. */
  statement(userId: string, query?: StatementQuery): Promise<Page<StatementLine>>;
  topUp(command: BankOperationCommand): Promise<BankOperation>;
  withdraw(command: BankOperationCommand): Promise<BankOperation>;
  /** A top-up or withdrawal; with `userId` only that user's, with `kind` only one of that kind. */
  getBankOperation(id: string, userId?: string, kind?: BankOperationKind): Promise<BankOperation>;
  /** Every user's top-ups and withdrawals for operators; `attention`: only flagged, still pending. */
  listBankOperations(
    query?: BankOperationListQuery,
  ): Promise<{ items: BankOperation[]; nextCursor: string | null }>;
  transfer(command: TransferCommand): Promise<WalletTransfer>;
  getTransfer(id: string, userId?: string): Promise<WalletTransfer>;
  /**
   * Settles bank operations whose callback never came, and completes transfers left pending (see
   * recoverTransfers), both older than `olderThanMs` (default a minute); run by the jobs module.
   * Returns how many it ended. Bank operations are walked a page at a time; `walk` resumes after a
   * cursor and reports each page's (the end-of-day close checkpoints them).
   */
  reconcileBankOperations(
    olderThanMs?: number,
    walk?: Pick<ReconcileOptions, 'cursor' | 'onProgress' | 'attentionAfterMs'>,
  ): Promise<number>;
  /**
   * For other modules' card payments: asks the bank to debit a card (the request is named by the
   * caller's record id within the caller's namespace). Throws BankDeclinedError or BankTimeoutError as the connector does;
   * the outcome arrives through `onCardSettlement`, or `cardStatus` when the callback is lost.
   */
  debitCard(request: CardRequest): Promise<{ bankReference: string }>;
  /**
   * For other modules' payouts (merchant settlement): asks the bank to credit a card or account,
   * the money leaving through the bank clearing account. Same errors and settlement path as
   * `debitCard`.
   */
  creditCard(request: CardRequest): Promise<{ bankReference: string }>;
  /** Settlements of the namespace's card requests, and of no other's. */
  onCardSettlement(namespace: CardNamespace, handler: (settlement: CardSettlement) => Promise<void>): void;
  cardStatus(namespace: CardNamespace, id: string): Promise<BankOutcome | 'pending' | 'unknown'>;
  /** The ledger account money from banks arrives in (the other side of a card debit). */
  bankClearingAccountId(currency?: string): string;
}

/**
 * The bank's reference of another module's card request: its namespace (never the wallet's, checked
 * here too since a caller's types may be loose) and its record id, a UUID, so no two modules' ids,
 * however chosen, name one request at the bank.
 */
function cardReference(namespace: CardNamespace, id: string): string {
  if (!(CARD_NAMESPACES as readonly string[]).includes(namespace))
    throw new MilletError('VALIDATION_FAILED', `No card namespace ${String(namespace)}`, {
      field: 'namespace',
    });
  if (!isUuid(id))
    throw new MilletError('VALIDATION_FAILED', 'A card request is named by a UUID', { field: 'id' });
  return cardReferenceOf(namespace, id);
}

function bankRequest(request: CardRequest): BankRequest {
  return {
    reference: cardReference(request.namespace, request.id),
    cardToken: request.cardToken,
    amount: request.amount,
    currency: request.currency,
  };
}

export function createWallet(options: WalletOptions): Wallet {
  const { db, ledger, clock, users } = options;
  /**
   * A module's card request. An error other than the connector's decline or timeout (a reset
   * connection, a connector's bug) leaves what the bank did unknown, as a timeout does: it is logged
   * here, with the request's reference, and passed on for the caller to treat as undecided.
   */
  const cardCall = async (
    request: CardRequest,
    call: (request: BankRequest) => Promise<{ bankReference: string }>,
  ): Promise<{ bankReference: string }> => {
    const bankRequestOf = bankRequest(request);
    try {
      return await call(bankRequestOf);
    } catch (error) {
      if (!(error instanceof BankDeclinedError) && !(error instanceof BankTimeoutError))
        options.logger?.error(
          { err: error, reference: bankRequestOf.reference },
          'bank connector failed; the card request is undecided until the bank is asked',
        );
      throw error;
    }
  };
  const bankOperations = new BankOperations(db, ledger, clock, options.bank, users, options.logger);
  const balanceOf = async (userId: string): Promise<WalletBalance> => {
    const wallet = await findWalletAccount(db, userId);
    const account = await ledger.getAccount(wallet.ledgerAccountId);
    return {
      userId,
      ledgerAccountId: wallet.ledgerAccountId,
      currency: wallet.currency,
      balance: account.balances.posted,
      available: account.balances.available,
    };
  };
  const knownWallets = new Map<string, string>();
  return {
    start: () => ensurePlatformAccounts(ledger),
    async walletAccountId(userId) {
      const known = knownWallets.get(userId);
      if (known) return known;
      const wallet = await findWalletAccount(db, userId);
      // Bounded memory: forgetting all is correct (the next call reads again), only slower.
      if (knownWallets.size >= 100_000) knownWallets.clear();
      knownWallets.set(userId, wallet.ledgerAccountId);
      return wallet.ledgerAccountId;
    },
    async openWallet(userId) {
      await openWalletAccount(db, ledger, clock, userId);
      return balanceOf(userId);
    },
    getWallet: balanceOf,
    async getWalletBalances(userIds) {
      const wallets = await findWalletAccounts(db, userIds);
      const accounts = await ledger.getAccounts([...wallets.values()].map((w) => w.ledgerAccountId));
      const balances = new Map<string, WalletBalance>();
      for (const w of wallets.values()) {
        const account = accounts.get(w.ledgerAccountId);
        if (!account) continue;
        balances.set(w.userId, {
          userId: w.userId,
          ledgerAccountId: w.ledgerAccountId,
          currency: w.currency,
          balance: account.balances.posted,
          available: account.balances.available,
        });
      }
      return balances;
    },
    async statement(userId, query) {
      const wallet = await findWalletAccount(db, userId);
      return ledger.statement(wallet.ledgerAccountId, query);
    },
    topUp: (command) => bankOperations.topUp(command),
    withdraw: (command) => bankOperations.withdraw(command),
    getBankOperation: (id, userId, kind) => bankOperations.get(id, userId, kind),
    listBankOperations: (query) => bankOperations.list(query),
    transfer: (command) => transferBetweenWallets(db, ledger, clock, users, command),
    getTransfer: (id, userId) => getTransfer(db, id, userId),
    async reconcileBankOperations(olderThanMs = 60_000, walk = {}) {
      const settled = await bankOperations.reconcile({ ...walk, olderThanMs });
      return settled + (await recoverTransfers(db, ledger, clock, olderThanMs));
    },
    debitCard: async (request) => cardCall(request, (r) => options.bank.requestDebit(r)),
    creditCard: async (request) => cardCall(request, (r) => options.bank.requestCredit(r)),
    onCardSettlement: (namespace, handler) => bankOperations.onCardSettlement(namespace, handler),
    cardStatus: async (namespace, id) => options.bank.status(cardReference(namespace, id)),
    bankClearingAccountId: (currency) => platformAccountIds(currency).bankClearing,
  };
}
